#!/bin/sh
# Builds the TCPStore decoder's libFuzzer target with clang (Bazel's toolchain is
# gcc) and runs it for a bounded time over tests/rendezvous/torch_store/corpus.
#
# usage: tests/rendezvous/torch_store/run_fuzz.sh [SECONDS] [extra libFuzzer flags...]
#   SECONDS   total fuzzing time, default 60
# Env: FUZZ_OUT (build dir, default $TMPDIR/tplaunch_torch_store_fuzz),
#      CXX (default clang++). Exit status: 0 when no crash was found, else
#      libFuzzer's; a crash input is written under FUZZ_OUT.
# Needs: apt-get install clang libclang-rt-14-dev libabsl-dev
set -eu

seconds=${1:-60}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${FUZZ_OUT:-${TMPDIR:-/tmp}/tplaunch_torch_store_fuzz}
cxx=${CXX:-clang++}
mkdir -p "$out/new_corpus"

if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "run_fuzz.sh: $cxx not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi

absl_libs=$(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format)
"$cxx" -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -I"$root" \
  "$root/tests/rendezvous/torch_store/decoder_fuzz.cc" \
  "$root/rendezvous/torch_store/decoder.cc" \
  "$root/rendezvous/torch_store/encoder.cc" \
  "$root/rendezvous/torch_store/protocol.cc" \
  $absl_libs -o "$out/decoder_fuzz"

# New inputs go to a scratch dir so the checked-in corpus only changes on purpose.
cd "$out"
exec ./decoder_fuzz -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=1024 \
  -artifact_prefix="$out/" -print_final_stats=1 "$@" \
  "$out/new_corpus" "$root/tests/rendezvous/torch_store/corpus"
