#!/usr/bin/env bash
# Fails when a C++ file differs from .clang-format (Google style). Fix with:
#   git ls-files '*.cc' '*.h' | xargs clang-format -i
set -uo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cc' '*.h')
[ -n "$files" ] || exit 0
bad=0
for f in $files; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || { echo "not formatted: $f"; bad=$((bad + 1)); }
done
echo "format: $(wc -w <<<"$files") files checked, $bad not formatted"
[ "$bad" -eq 0 ]
