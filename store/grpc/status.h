// The one place a gRPC status becomes an absl::Status, for GrpcStore and the
// admin calls. The codes are gRPC's canonical codes, which absl shares; the
// message gains the operation, keys, job, endpoint and time, except for a
// blocking call's timeout, whose message the daemon wrote and which passes
// unchanged (docs/protocol.md, "Deadlines and blocking").
#ifndef TPLAUNCH_STORE_GRPC_STATUS_H_
#define TPLAUNCH_STORE_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tplaunch {

// What one RPC was about, for its error message.
struct RpcInfo {
  absl::string_view op;                 // "Get", "Set", ...
  std::vector<absl::string_view> keys;  // Empty for job- or daemon-wide calls.
  bool blocking = false;                // Get, Wait, MultiGet.
  // Non-blocking calls: the deadline. Blocking calls: how long to wait (sent
  // as timeout_ms); the gRPC deadline is `grace` later.
  absl::Duration timeout;
  absl::Duration grace;
};

// `elapsed` is how long the call took, named for blocking calls that failed
// otherwise than by their timeout.
absl::Status FromGrpcStatus(const grpc::Status& status, const RpcInfo& rpc,
                            absl::string_view job, absl::string_view endpoint,
                            absl::Duration elapsed);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_GRPC_STATUS_H_
