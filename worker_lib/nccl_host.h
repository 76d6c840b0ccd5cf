// What this host offers the NCCL backend, in plain types: which NCCL library
// loads (file and version), the files tried, and whether a CUDA device is
// usable. The rest of worker_lib and the NCCL tests ask here; only nccl_library
// and nccl_group see NCCL's own types (nccl_abi.h, nccl_library.h).
#ifndef TPLAUNCH_WORKER_LIB_NCCL_HOST_H_
#define TPLAUNCH_WORKER_LIB_NCCL_HOST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tplaunch {

struct NcclLibraryInfo {
  std::string path;  // The file that was loaded.
  int version = 0;   // ncclGetVersion, e.g. 22809.
};

// File names tried, in order (the environment variable TPLAUNCH_NCCL_LIBRARY /
// TPLAUNCH_CUDART_LIBRARY, when set, is tried first).
std::vector<std::string> NcclLibraryCandidates();
std::vector<std::string> CudaRuntimeCandidates();

// The NCCL library this process uses (loaded once, from
// NcclLibraryCandidates()). FailedPrecondition naming every file tried and the
// last dlerror when none loads or a symbol is missing.
absl::StatusOr<NcclLibraryInfo> LoadedNcclLibrary();

// Loads NCCL from an explicit candidate list, uncached (tests use it to name a
// library that does not exist). Errors as LoadedNcclLibrary.
absl::StatusOr<NcclLibraryInfo> ProbeNcclLibrary(
    const std::vector<std::string>& candidates);

// The number of usable CUDA devices. FailedPrecondition "no CUDA driver or
// device found" (with the reason) when the runtime cannot be loaded, reports an
// error (no driver: error 35) or counts zero devices.
absl::StatusOr<int> CudaDeviceCount();

// Whether CudaDeviceCount() succeeds: the "auto" backend's question.
bool CudaDeviceUsable();

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_NCCL_HOST_H_
