// Backend: the backend map of InitProcessGroup ("auto" -> nccl or gloo).
#ifndef TPLAUNCH_WORKER_LIB_BACKEND_H_
#define TPLAUNCH_WORKER_LIB_BACKEND_H_

#include <functional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

enum class Backend { kGloo, kNccl };

absl::string_view BackendName(Backend backend);

// Maps a backend name (case-insensitive) to a built-in backend. "auto" asks
// `cuda_usable` (called only then): nccl when it returns true, else gloo, as
// PyTorch maps device type cuda -> nccl and cpu -> gloo. Errors: Unimplemented
// for "ccl", "xccl" and "hccl" (known backends of other accelerators that are
// not built in), InvalidArgument for any other name; both name the backend.
absl::StatusOr<Backend> ResolveBackend(
    absl::string_view name, const std::function<bool()>& cuda_usable);

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_BACKEND_H_
