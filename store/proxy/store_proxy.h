// StoreProxy: the node-local store proxy, served. One tplaunch per node runs
// it (launcher/topology/local_proxy.h): its workers dial `unix:<socket>`
// with the same Rendezvous protocol as tprdzvd's, and the proxy forwards
// their calls over its one upstream Store, identical blocking calls
// coalesced into one (docs/store_proxy.md).
#ifndef TPLAUNCH_STORE_PROXY_STORE_PROXY_H_
#define TPLAUNCH_STORE_PROXY_STORE_PROXY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "store/proxy/proxy_options.h"
#include "store/store.h"

namespace tplaunch {

class StoreProxy {
 public:
  // Shutdown(), then waits for the upstream calls still running.
  virtual ~StoreProxy() = default;

  // "unix:<socket path>", what a GrpcStore (and TPLAUNCH_RDZV_ENDPOINT) dials.
  virtual const std::string& target() const = 0;
  virtual const std::string& socket_path() const = 0;

  // Blocking upstream calls (Get, Wait, MultiGet) made so far: with
  // coalescing, fewer than the local callers of them.
  virtual int64_t upstream_blocking_calls() const = 0;
  // Local callers parked in Get, Wait or MultiGet now.
  virtual int64_t waiting_callers() = 0;

  // Answers every waiting caller Unavailable (naming the upstream), stops
  // serving, removes the socket and, when StartStoreProxy created it, the
  // socket directory. Idempotent. Upstream calls still running (their callers
  // are gone) are waited for by the destructor, at most one upstream_slice.
  virtual void Shutdown() = 0;
};

// Prepares options.socket_dir (socket_dir.h), removes a stale socket of a
// previous run there, and serves on it. Errors: InvalidArgument (no job, a
// socket path too long for sockaddr_un, no upstream), FailedPrecondition (the
// directory is unusable or not private), Unavailable (gRPC could not listen).
absl::StatusOr<std::unique_ptr<StoreProxy>> StartStoreProxy(
    const StoreProxyOptions& options, std::shared_ptr<Store> upstream);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_PROXY_STORE_PROXY_H_
