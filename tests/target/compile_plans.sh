#!/usr/bin/env bash
# Host side of the on-target model tests: compiles every model of an exported zoo
# (models/export.py --out ZOO) with the host's `tern` into OUT/<model>/model.tern. Plans are
# architecture-independent, so a device build (no compiler) runs exactly what the host compiled.
# OUT/<model>/ gets model.tern and links to the zoo's golden input_K.npy / output_K.npy.
# Usage: compile_plans.sh TERN ZOO OUT      (a plan newer than its model and than TERN is kept)
set -euo pipefail
tern=$1 zoo=$2 out=$3
mkdir -p "$out"
n=0
for dir in "$zoo"/*/; do
  m=$(basename "$dir")
  [ -f "$dir/model.onnx" ] && [ -f "$dir/compile_args.txt" ] || continue
  mkdir -p "$out/$m"
  plan="$out/$m/model.tern"
  for f in "$dir"/input_*.npy "$dir"/output_*.npy; do ln -sfn "$(realpath "$f")" "$out/$m/"; done
  if [ ! "$plan" -nt "$dir/model.onnx" ] || [ ! "$plan" -nt "$tern" ]; then
    mapfile -t args < "$dir/compile_args.txt"
    # A model that fails to compile is reported and left without a plan: its own test then
    # fails, the others still run.
    "$tern" compile "$dir/model.onnx" -o "$plan" "${args[@]}" >/dev/null ||
      { echo "compile_plans: $m failed to compile" >&2; rm -f "$plan"; }
  fi
  n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "compile_plans: no exported model in $zoo" >&2; exit 1; }
echo "compile_plans: $n plans in $out"
