#!/usr/bin/env bash
# README command (2), and what CI runs: install what is missing, then build and run the whole
# test suite twice: g++ Debug, and clang with AddressSanitizer + UBSan (which also builds the
# libFuzzer targets and replays their corpora). Warnings are errors in both.
#   scripts/test.sh            both builds
#   scripts/test.sh debug      only the g++ build (quick local loop)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
root=$(praetor_root)
install_deps test
presets=("${@:-debug asan-ubsan}")
read -r -a presets <<< "${presets[*]}"
status=0
for preset in "${presets[@]}"; do
  echo "==> building $preset"
  build_preset "$preset"
  echo "==> testing $preset"
  if ! ctest --test-dir "$root/build/$preset" --output-on-failure -j "$(nproc)" --timeout 900; then
    status=1
  fi
done
exit $status
