#!/usr/bin/env bash
# Checks that every C and C++ source in git is formatted by clang-format-14
# (.clang-format: Google style). Prints the offending files and exits
# non-zero otherwise; `clang-format-14 -i FILE` fixes one.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format-14 >/dev/null || scripts/install-deps.sh
mapfile -t files < <(git ls-files '*.cc' '*.h' '*.c')
bad=()
for f in "${files[@]}"; do
  clang-format-14 --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  printf 'format: not clang-format-14 clean: %s\n' "${bad[@]}"
  exit 1
fi
echo "format: ${#files[@]} files clean"
