#!/bin/bash
# Checks worker_lib/nccl_abi.h against the real NCCL and CUDA headers by compiling
# nccl_abi_check.cc with the system compiler. Skipped (exit 0, with a message) where
# nccl.h is absent: CPU-only machines have no CUDA toolkit and need none to build.
set -euo pipefail
CUDA_INCLUDE="${CUDA_INCLUDE:-/usr/local/cuda/include}"
if [[ ! -f "${CUDA_INCLUDE}/nccl.h" ]]; then
  echo "SKIPPED: ${CUDA_INCLUDE}/nccl.h not found; nothing to check the NCCL declarations against"
  exit 0
fi
cd "${TEST_SRCDIR}/${TEST_WORKSPACE}"
CXX="${CXX:-g++}"
out="${TEST_TMPDIR:-/tmp}/nccl_abi_check.o"
"${CXX}" -std=c++17 -Wall -Werror -I. -I"${CUDA_INCLUDE}" -c \
  tests/worker_lib/nccl_abi_check.cc -o "${out}"
echo "worker_lib/nccl_abi.h matches ${CUDA_INCLUDE}/nccl.h ($(grep -m1 'define NCCL_VERSION_CODE' "${CUDA_INCLUDE}/nccl.h" | awk '{print $3}'))"
