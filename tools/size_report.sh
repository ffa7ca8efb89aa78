#!/usr/bin/env bash
# Size of the device runtime: stripped libtern.so and the statically linked minimal app
# (examples/minimal.c) of a build, its shared-library dependencies (XNNPACK & co. are separate
# .so files, so libtern.so's figure excludes them), a check that the runtime pulls in no iostream,
# and what dominates the library (largest symbols, largest object files: bloaty is not packaged).
#
# Usage: tools/size_report.sh [BUILD_DIR ...]      (default: build/linux-aarch64)
#   TERN_SIZE_VULKAN=1 also configures and builds build/linux-aarch64-vulkan (CPU + Vulkan
#   backends, no tests) when the Vulkan backend exists, and reports it.
#   TERN_SIZE_LIMIT (bytes, default 1572864 = 1.5 MiB): exit 1 if a CPU-only libtern.so is larger.
set -euo pipefail
cd "$(dirname "$0")/.."

dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(build/linux-aarch64)
limit=${TERN_SIZE_LIMIT:-1572864}

if [ "${TERN_SIZE_VULKAN:-0}" = 1 ] && [ -f backends/vulkan/vulkan.cmake ]; then
  vk=build/linux-aarch64-vulkan
  cmake --preset linux-aarch64 -B "$vk" -DTERN_WITH_VULKAN=ON -DTERN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$vk" -j "$(nproc)" --target tern tern_minimal_static >/dev/null
  dirs+=("$vk")
fi

status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for dir in "${dirs[@]}"; do
  cache="$dir/CMakeCache.txt"
  [ -f "$cache" ] || { echo "size_report: $dir is not a configured build" >&2; exit 2; }
  get() { sed -n "s/^$1:[A-Z]*=//p" "$cache" | awk 'NR <= 1'; }
  # The build's own binutils (aarch64-linux-gnu-strip for a cross build).
  strip=$(get CMAKE_STRIP); nm=$(get CMAKE_NM); readelf=$(get CMAKE_READELF)
  size=${strip%strip}size
  [ -x "$size" ] || size=size
  cmake --build "$dir" --target tern tern_minimal_static >/dev/null 2>&1 || { echo "size_report: build of $dir failed" >&2; exit 2; }

  lib=$(find "$dir/runtime/lib" -maxdepth 1 -name 'libtern.so.*.*' -type f | awk 'NR <= 1')
  app="$dir/examples/minimal_static"
  vulkan=$(get TERN_WITH_VULKAN)
  xnn=$(get TERN_WITH_XNNPACK)
  "$strip" -o "$tmp/lib" "$lib"
  "$strip" -o "$tmp/app" "$app"
  libsz=$(stat -c %s "$tmp/lib"); appsz=$(stat -c %s "$tmp/app")
  echo "== $dir ($("$readelf" -h "$lib" | sed -n 's/^ *Machine: *//p'), $(get CMAKE_BUILD_TYPE), XNNPACK=$xnn, Vulkan=$vulkan)"
  mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
  printf '  libtern.so stripped        %9d bytes (%s MiB)\n' "$libsz" "$(mib "$libsz")"
  printf '  minimal_static stripped    %9d bytes (%s MiB)  [runtime + libstdc++ linked in]\n' "$appsz" "$(mib "$appsz")"
  echo "  libtern.so needs:          $("$readelf" -d "$lib" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
  echo "  minimal_static needs:      $("$readelf" -d "$app" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
  echo "  exported dynamic symbols:  $("$nm" -D --defined-only "$lib" | wc -l)"
  # iostream: a static-init std::ios_base::Init or any std::cout/cerr use shows as these symbols.
  ios=$("$nm" -C -D --undefined-only "$lib" | grep -E "ios_base::Init|std::cout|std::cerr|basic_ostream" || true)
  src=$(grep -rlE '#include <(iostream|fstream|sstream)>' runtime backends | grep -v '/test' || true)
  if [ -z "$ios" ]; then echo "  iostream:                  none in libtern.so"; else
    echo "  iostream:                  USED: $(echo "$ios" | awk 'NR <= 3' | tr '\n' ';')"; fi
  [ -z "$src" ] || echo "  stream headers in runtime/backends sources: $(echo "$src" | tr '\n' ' ')"
  echo "  largest symbols (bytes):"
  "$nm" -C --size-sort --radix=d "$lib" | tail -n 12 | awk '{ s=$1; $1=""; $2=""; printf "    %8d %s\n", s, substr($0, 3) }' |
    cut -c1-140 | sort -rn
  echo "  largest object files (text+data bytes):"
  find "$dir" -name '*.o' \( -path '*tern_core.dir*' -o -path '*tern_backends.dir*' -o -path '*tern_runtime_obj.dir*' \) \
    -exec "$size" {} + 2>/dev/null | awk 'NR>1 && $6 ~ /\.o$/ { printf "%d %s\n", $1+$2, $6 }' | sort -rn | awk 'NR <= 10' |
    sed "s|$dir/||" | awk '{ printf "    %8d %s\n", $1, $2 }'
  if [ "$vulkan" != ON ] && [ "$libsz" -gt "$limit" ]; then
    echo "  OVER LIMIT: CPU-only libtern.so is $libsz bytes > $limit"
    status=1
  fi
done
exit $status
