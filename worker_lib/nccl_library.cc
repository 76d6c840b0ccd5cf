#include "worker_lib/nccl_library.h"

#include <dlfcn.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tplaunch {
namespace {

// Where the CUDA toolkit installs when it is not on the loader path.
constexpr const char* kCudaLibDirs[] = {"/usr/local/cuda/lib64",
                                        "/usr/local/cuda/lib"};

std::vector<std::string> Candidates(const char* override_variable,
                                    const std::vector<std::string>& sonames) {
  std::vector<std::string> names;
  if (const char* path = std::getenv(override_variable);
      path != nullptr && *path != '\0') {
    names.push_back(path);
  }
  for (const std::string& soname : sonames) names.push_back(soname);
  for (const char* dir : kCudaLibDirs) {
    for (const std::string& soname : sonames) {
      names.push_back(absl::StrCat(dir, "/", soname));
    }
  }
  return names;
}

// dlopen's the first candidate that loads. Handles are never closed: NCCL and
// CUDA keep threads running for the life of the process.
absl::StatusOr<std::pair<void*, std::string>> OpenFirst(
    absl::string_view what, const std::vector<std::string>& candidates) {
  std::string last_error = "none";
  for (const std::string& name : candidates) {
    void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) return std::make_pair(handle, name);
    if (const char* e = dlerror()) last_error = e;
  }
  return absl::FailedPreconditionError(
      absl::StrFormat("%s is not available on this host: could not load any of "
                      "%s (last error: %s)",
                      what, absl::StrJoin(candidates, ", "), last_error));
}

template <typename Fn>
absl::Status Resolve(void* handle, const std::string& path, const char* symbol,
                     Fn* out, bool required = true) {
  dlerror();
  void* address = dlsym(handle, symbol);
  if (address == nullptr) {
    if (!required) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s has no symbol %s (too old a version?)", path, symbol));
  }
  *out = reinterpret_cast<Fn>(address);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NcclLibrary> LoadNcclFrom(
    const std::vector<std::string>& candidates) {
  auto opened = OpenFirst("NCCL", candidates);
  if (!opened.ok()) return opened.status();
  auto [handle, path] = *opened;
  NcclLibrary lib;
  lib.path = path;
  absl::Status s;
#define TPL_RESOLVE(field, symbol, ...)                         \
  s = Resolve(handle, path, symbol, &lib.field, ##__VA_ARGS__); \
  if (!s.ok()) return s
  TPL_RESOLVE(GetVersion, "ncclGetVersion");
  TPL_RESOLVE(GetUniqueId, "ncclGetUniqueId");
  TPL_RESOLVE(CommInitRankConfig, "ncclCommInitRankConfig");
  TPL_RESOLVE(CommInitRankScalable, "ncclCommInitRankScalable", false);
  TPL_RESOLVE(CommGetAsyncError, "ncclCommGetAsyncError");
  TPL_RESOLVE(CommAbort, "ncclCommAbort");
  TPL_RESOLVE(CommDestroy, "ncclCommDestroy");
  TPL_RESOLVE(AllReduce, "ncclAllReduce");
  TPL_RESOLVE(Broadcast, "ncclBroadcast");
  TPL_RESOLVE(AllGather, "ncclAllGather");
  TPL_RESOLVE(GetErrorString, "ncclGetErrorString");
  TPL_RESOLVE(GetLastError, "ncclGetLastError");
#undef TPL_RESOLVE
  if (nccl_abi::ncclResult_t r = lib.GetVersion(&lib.version);
      r != nccl_abi::ncclSuccess) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": ncclGetVersion failed: ", lib.Describe(r)));
  }
  return lib;
}

namespace {

absl::StatusOr<CudaRuntime> LoadCudaRuntimeOnce() {
  auto opened = OpenFirst("the CUDA runtime", CudaRuntimeCandidates());
  if (!opened.ok()) return opened.status();
  auto [handle, path] = *opened;
  CudaRuntime rt;
  rt.path = path;
  absl::Status s;
#define TPL_RESOLVE(field, symbol)              \
  s = Resolve(handle, path, symbol, &rt.field); \
  if (!s.ok()) return s
  TPL_RESOLVE(GetDeviceCount, "cudaGetDeviceCount");
  TPL_RESOLVE(SetDevice, "cudaSetDevice");
  TPL_RESOLVE(GetErrorString, "cudaGetErrorString");
  TPL_RESOLVE(StreamCreate, "cudaStreamCreate");
  TPL_RESOLVE(StreamDestroy, "cudaStreamDestroy");
  TPL_RESOLVE(StreamQuery, "cudaStreamQuery");
  TPL_RESOLVE(Malloc, "cudaMalloc");
  TPL_RESOLVE(Free, "cudaFree");
  TPL_RESOLVE(MemcpyAsync, "cudaMemcpyAsync");
  TPL_RESOLVE(PointerGetAttributes, "cudaPointerGetAttributes");
#undef TPL_RESOLVE
  return rt;
}

}  // namespace

std::string NcclLibrary::Describe(nccl_abi::ncclResult_t result,
                                  nccl_abi::ncclComm_t comm) const {
  std::string text = absl::StrCat(
      "NCCL error ", static_cast<int>(result), " (",
      GetErrorString != nullptr ? GetErrorString(result) : "?", ")");
  if (GetLastError != nullptr) {
    const char* last = GetLastError(comm);
    if (last != nullptr && *last != '\0') absl::StrAppend(&text, ": ", last);
  }
  return text;
}

std::string CudaRuntime::Describe(nccl_abi::cudaError_t error) const {
  return absl::StrCat("CUDA error ", static_cast<int>(error), " (",
                      GetErrorString != nullptr ? GetErrorString(error) : "?",
                      ")");
}

std::vector<std::string> NcclLibraryCandidates() {
  return Candidates("TPLAUNCH_NCCL_LIBRARY", {"libnccl.so.2", "libnccl.so"});
}

std::vector<std::string> CudaRuntimeCandidates() {
  return Candidates("TPLAUNCH_CUDART_LIBRARY",
                    {"libcudart.so", "libcudart.so.13", "libcudart.so.12",
                     "libcudart.so.11.0"});
}

absl::StatusOr<const NcclLibrary*> LoadNccl() {
  static const absl::StatusOr<NcclLibrary>* const loaded =
      new absl::StatusOr<NcclLibrary>(LoadNcclFrom(NcclLibraryCandidates()));
  if (!loaded->ok()) return loaded->status();
  return &**loaded;
}

absl::StatusOr<const CudaRuntime*> LoadCudaRuntime() {
  static const absl::StatusOr<CudaRuntime>* const loaded =
      new absl::StatusOr<CudaRuntime>(LoadCudaRuntimeOnce());
  if (!loaded->ok()) return loaded->status();
  return &**loaded;
}

absl::StatusOr<int> CudaDeviceCount() {
  absl::StatusOr<const CudaRuntime*> rt = LoadCudaRuntime();
  if (!rt.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no CUDA driver or device found: ", rt.status().message()));
  }
  // cudaGetDeviceCount leaves the count unwritten on error.
  int count = 0;
  nccl_abi::cudaError_t error = (*rt)->GetDeviceCount(&count);
  if (error != nccl_abi::cudaSuccess) {
    return absl::FailedPreconditionError(
        absl::StrCat("no CUDA driver or device found: cudaGetDeviceCount (",
                     (*rt)->path, ") returned ", (*rt)->Describe(error)));
  }
  if (count <= 0) {
    return absl::FailedPreconditionError(
        "no CUDA driver or device found: cudaGetDeviceCount reports 0 devices");
  }
  return count;
}

bool CudaDeviceUsable() { return CudaDeviceCount().ok(); }

absl::StatusOr<NcclLibraryInfo> ProbeNcclLibrary(
    const std::vector<std::string>& candidates) {
  absl::StatusOr<NcclLibrary> lib = LoadNcclFrom(candidates);
  if (!lib.ok()) return lib.status();
  return static_cast<const NcclLibraryInfo&>(*lib);
}

absl::StatusOr<NcclLibraryInfo> LoadedNcclLibrary() {
  absl::StatusOr<const NcclLibrary*> lib = LoadNccl();
  if (!lib.ok()) return lib.status();
  return static_cast<const NcclLibraryInfo&>(**lib);
}

}  // namespace tplaunch
