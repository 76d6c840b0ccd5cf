#include "worker_lib/backend.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"

namespace tplaunch {

absl::string_view BackendName(Backend backend) {
  switch (backend) {
    case Backend::kGloo:
      return "gloo";
    case Backend::kNccl:
      return "nccl";
  }
  return "unknown";
}

absl::StatusOr<Backend> ResolveBackend(
    absl::string_view name, const std::function<bool()>& cuda_usable) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "gloo") return Backend::kGloo;
  if (lower == "nccl") return Backend::kNccl;
  if (lower == "auto") return cuda_usable() ? Backend::kNccl : Backend::kGloo;
  if (lower == "ccl" || lower == "xccl" || lower == "hccl") {
    return absl::UnimplementedError(
        absl::StrFormat("backend '%s' is not built into worker_lib (built in: "
                        "gloo, nccl, auto)",
                        name));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown backend '%s' (expected auto, gloo or nccl)",
                      absl::CHexEscape(name)));
}

}  // namespace tplaunch
