#!/usr/bin/env bash
# The main job, end to end on a fresh Debian 12 machine: install what is missing, build, then take a
# shipped model trained on Fashion-MNIST, compile it (fp32), quantize it (int8, calibrated on 512
# training images), run both plans over the 10,000 test images and print top-1 accuracy and latency.
#
# Usage: tools/demo.sh [MODEL]          MODEL in models/fmnist: mobilevit_fm (default),
#                                       efficientformer_fm, lmu_fm, spiking_lmu_fm, mamba_fm
#        tools/demo.sh --zoo [NAME]     a model of models/zoo (random weights) instead: compile,
#                                       run on its golden input, compare with PyTorch, bench
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup/install_deps.sh
cmake --preset host-release >/dev/null
cmake --build --preset host-release -j "$(nproc)"
tern=build/host-release/tools/tern
out=build/host-release/demo
mkdir -p "$out"
py=/usr/bin/python3

if [ "${1:-}" = "--zoo" ]; then
  model=${2:-mobilevit_v1_xxs}
  zoo=models/zoo
  if [ ! -f "$zoo/$model/meta.json" ]; then
    echo "== exporting $model from its PyTorch definition"
    $py models/export.py --only "$model" --out "$zoo"
  fi
  dir=$zoo/$model
  args=()
  while read -r a; do [ -n "$a" ] && args+=("$a"); done < "$dir/compile_args.txt"
  echo "== tern compile $dir/model.onnx"
  "$tern" compile "$dir/model.onnx" -o "$out/$model.tern" "${args[@]}"
  inputs=()
  for f in "$dir"/input_*.npy; do
    k=${f##*input_}; k=${k%.npy}
    name=$($py -c "import json; print(json.load(open('$dir/meta.json'))['inputs'][$k]['name'])")
    inputs+=(--input "$name=$f")
  done
  outname=$($py -c "import json; print(json.load(open('$dir/meta.json'))['outputs'][0]['name'])")
  echo "== tern run (CPU backend)"
  "$tern" run "$out/$model.tern" "${inputs[@]}" --output "$outname=$out/${model}_output.npy"
  $py - "$out/${model}_output.npy" "$dir/output_0.npy" <<'PY'
import sys, numpy as np
got, want = np.load(sys.argv[1]), np.load(sys.argv[2])
err = float(np.abs(got - want).max()); scale = float(np.abs(want).max())
print(f"== accuracy vs PyTorch: max |diff| = {err:.3g} = {err / scale:.2e} x max|golden| (limit 1e-4)")
sys.exit(0 if err <= 1e-4 * scale else 1)
PY
  echo "== tern bench (1 thread, then 2 threads)"
  "$tern" bench "$out/$model.tern" --threads 1 --iters 20
  "$tern" bench "$out/$model.tern" --threads 2 --iters 20
  exit 0
fi

model=${1:-mobilevit_fm}
fm=models/fmnist
[ -f "$fm/$model.onnx" ] || { echo "demo: no model $fm/$model.onnx (choose one of: $(cd $fm && ls *_fm.onnx | sed 's/.onnx//' | tr '\n' ' '))" >&2; exit 2; }
[ -f "$fm/test_images.npy" ] || { echo "== writing the Fashion-MNIST test set (dataset-fashion-mnist)"; $py "$fm/data.py" --test; }

echo "== tern compile $fm/$model.onnx (fp32)"
"$tern" compile "$fm/$model.onnx" -o "$out/$model.tern" --input-shape image=1x1x28x28
echo "== tern quantize $fm/$model.onnx (int8, calibration: $fm/calib.npy)"
"$tern" quantize "$fm/$model.onnx" --calib "$fm/calib.npy" -o "$out/$model.int8.tern" --input-shape image=1x1x28x28 \
  --report "$out/$model.int8.report.json"
ls -l "$fm/$model.onnx" "$out/$model.tern" "$out/$model.int8.tern" | awk '{printf "   %10d bytes  %s\n", $5, $9}'

for p in "$model" "$model.int8"; do
  echo "== tern run $p.tern over the 10,000 test images (one image per run)"
  "$tern" run "$out/$p.tern" -i "$fm/test_images.npy" -o "$out/$p.logits.npy" --threads 1
done
$py - "$out/$model.logits.npy" "$out/$model.int8.logits.npy" "$fm/test_labels.npy" <<'PY'
import sys, numpy as np
fp32, int8, labels = (np.load(f) for f in sys.argv[1:4])
a32 = (fp32.argmax(1) == labels).mean() * 100
a8 = (int8.argmax(1) == labels).mean() * 100
agree = (fp32.argmax(1) == int8.argmax(1)).mean() * 100
print(f"== top-1 on the Fashion-MNIST test set: fp32 {a32:.2f} %   int8 {a8:.2f} %   (drop {a32 - a8:+.2f} points; "
      f"int8 and fp32 agree on {agree:.2f} % of images)")
PY
for p in "$model" "$model.int8"; do
  for t in 1 2; do
    echo "== tern bench $p.tern --threads $t"
    "$tern" bench "$out/$p.tern" --threads "$t" --iters 200
  done
done
