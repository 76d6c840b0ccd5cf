// LocalProxy: the node-local store proxy (store/proxy/) of one multi-node
// tplaunch. Its workers' store traffic goes to a Unix socket in a private
// per-launch directory and on over the launcher's own connection to tprdzvd,
// identical blocking calls coalesced (docs/store_proxy.md). The workers get
// `unix:<socket>` as TPLAUNCH_RDZV_ENDPOINT.
//
// The directory is $TMPDIR (else /tmp) /tplaunch-proxy-<pid>-XXXXXX, mode
// 0700, removed when the LocalProxy goes. A launcher that was SIGKILLed
// leaves its directory behind (its workers die with it by PR_SET_PDEATHSIG):
// the next launch of the same user removes every such directory whose pid is
// no longer running.
#ifndef TPLAUNCH_LAUNCHER_TOPOLOGY_LOCAL_PROXY_H_
#define TPLAUNCH_LAUNCHER_TOPOLOGY_LOCAL_PROXY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "store/endpoint.h"
#include "store/proxy/store_proxy.h"
#include "store/store.h"

namespace tplaunch {

class LocalProxy final {
 public:
  // Shutdown(), then waits for upstream calls still running.
  ~LocalProxy();

  // Stops the proxy and removes its socket and directory, without waiting
  // for upstream calls whose callers are gone (the launcher then _exits).
  void Shutdown();

  // What the workers dial: host "unix:<socket>", port 0.
  Endpoint worker_endpoint() const;
  const StoreProxy& proxy() const { return *proxy_; }

 private:
  friend absl::StatusOr<std::unique_ptr<LocalProxy>> StartLocalProxy(
      Store* upstream, const std::string& run_id, const std::string& token,
      const Endpoint& daemon);
  LocalProxy() = default;

  std::string dir_;
  // An flock on dir_/lock, held while this launcher lives: what tells another
  // launcher the directory is in use (kernel-released on any exit).
  int lock_fd_ = -1;
  std::unique_ptr<StoreProxy> proxy_;
};

// Cleans up stale directories (see above), creates this launch's and serves
// the proxy there for `run_id`, with `token` required of the workers.
// `upstream` (the launcher's store, on `daemon`) must outlive the LocalProxy.
// Errors: FailedPrecondition (no usable directory), those of StartStoreProxy.
absl::StatusOr<std::unique_ptr<LocalProxy>> StartLocalProxy(
    Store* upstream, const std::string& run_id, const std::string& token,
    const Endpoint& daemon);

// Removes the proxy directories under `base` left by launchers of this user
// that no longer run (nobody holds the flock on their lock file; a directory
// without one is left alone for a minute, as it may be being made); returns
// how many. Not by pid: launchers in other pid namespaces (containers, Bazel's
// sandboxes) share /tmp, and a pid there means nothing here.
int RemoveStaleProxyDirs(const std::string& base);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_TOPOLOGY_LOCAL_PROXY_H_
