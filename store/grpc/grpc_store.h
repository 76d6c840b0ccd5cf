// GrpcStore: a Store backed by a tprdzvd daemon over gRPC.
#ifndef TPLAUNCH_STORE_GRPC_GRPC_STORE_H_
#define TPLAUNCH_STORE_GRPC_GRPC_STORE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "store/grpc/grpc_store_options.h"
#include "store/store.h"

namespace tplaunch {

// Connects to the daemon, retrying with backoff until connect_timeout. Errors:
// InvalidArgument (bad endpoint, empty job, half a client certificate),
// Unavailable (not reachable in time; the message names the endpoint, how long
// was tried and the last connection error). The token is checked by the first
// call, not here.
//
// The store reuses one channel for every call and is safe to use from many
// threads. Errors from its methods name the operation, key(s), job, endpoint
// and, for blocking calls, the time waited; once connected, a lost daemon
// surfaces as Unavailable on the next call (no call waits for a reconnect).
absl::StatusOr<std::unique_ptr<Store>> ConnectGrpcStore(
    const GrpcStoreOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_GRPC_GRPC_STORE_H_
