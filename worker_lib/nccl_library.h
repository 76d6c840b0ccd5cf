// NcclLibrary / CudaRuntime: NCCL and the CUDA runtime loaded with dlopen, so
// binaries built here start on hosts without CUDA; only asking for nccl there
// fails. Private to the nccl target (a private header of its srcs): everything
// else asks nccl_host.h.
#ifndef TPLAUNCH_WORKER_LIB_NCCL_LIBRARY_H_
#define TPLAUNCH_WORKER_LIB_NCCL_LIBRARY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker_lib/nccl_abi.h"
#include "worker_lib/nccl_host.h"

namespace tplaunch {

// path and version (NcclLibraryInfo) plus the resolved entry points.
struct NcclLibrary : NcclLibraryInfo {
  nccl_abi::ncclGetVersion_fn GetVersion = nullptr;
  nccl_abi::ncclGetUniqueId_fn GetUniqueId = nullptr;
  nccl_abi::ncclCommInitRankConfig_fn CommInitRankConfig = nullptr;
  // Null on NCCL older than 2.23.
  nccl_abi::ncclCommInitRankScalable_fn CommInitRankScalable = nullptr;
  nccl_abi::ncclCommGetAsyncError_fn CommGetAsyncError = nullptr;
  nccl_abi::ncclCommAbort_fn CommAbort = nullptr;
  nccl_abi::ncclCommDestroy_fn CommDestroy = nullptr;
  nccl_abi::ncclAllReduce_fn AllReduce = nullptr;
  nccl_abi::ncclBroadcast_fn Broadcast = nullptr;
  nccl_abi::ncclAllGather_fn AllGather = nullptr;
  nccl_abi::ncclGetErrorString_fn GetErrorString = nullptr;
  nccl_abi::ncclGetLastError_fn GetLastError = nullptr;

  // "ncclSystemError: <last error>" for messages.
  std::string Describe(nccl_abi::ncclResult_t result,
                       nccl_abi::ncclComm_t comm = nullptr) const;
};

struct CudaRuntime {
  std::string path;
  nccl_abi::cudaGetDeviceCount_fn GetDeviceCount = nullptr;
  nccl_abi::cudaSetDevice_fn SetDevice = nullptr;
  nccl_abi::cudaGetErrorString_fn GetErrorString = nullptr;
  nccl_abi::cudaStreamCreate_fn StreamCreate = nullptr;
  nccl_abi::cudaStreamDestroy_fn StreamDestroy = nullptr;
  nccl_abi::cudaStreamQuery_fn StreamQuery = nullptr;
  nccl_abi::cudaMalloc_fn Malloc = nullptr;
  nccl_abi::cudaFree_fn Free = nullptr;
  nccl_abi::cudaMemcpyAsync_fn MemcpyAsync = nullptr;
  nccl_abi::cudaPointerGetAttributes_fn PointerGetAttributes = nullptr;

  std::string Describe(nccl_abi::cudaError_t error) const;
};

// Loads once per process; later calls return the same result.
// FailedPrecondition naming every file tried and the last dlerror when none
// loads or a symbol is missing.
absl::StatusOr<const NcclLibrary*> LoadNccl();
absl::StatusOr<const CudaRuntime*> LoadCudaRuntime();

// Loads from an explicit candidate list, uncached.
absl::StatusOr<NcclLibrary> LoadNcclFrom(
    const std::vector<std::string>& candidates);

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_NCCL_LIBRARY_H_
