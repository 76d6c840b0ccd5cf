// The Store contract, run against a GrpcStore client of the node-local store
// proxy whose upstream is a GrpcStore client of a real in-process tprdzvd:
// the proxy must be invisible to a worker.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/grpc/grpc_store.h"
#include "tests/store/proxy/proxy_fixture.h"
#include "tests/store/store_contract.h"

namespace tplaunch {
namespace {

using namespace proxy_testing;

// What the stores of one test case need; the factory owns it and outlives
// them. Each store gets its own job, upstream client and proxy.
struct Rig {
  std::shared_ptr<RendezvousServer> daemon;
  std::unique_ptr<SocketParent> parent;
  std::mutex mu;
  std::vector<std::unique_ptr<StoreProxy>> proxies;  // Guarded by mu.
  int next = 0;                                      // Guarded by mu.

  ~Rig() {
    // Proxies before the daemon, so their upstream calls end at once.
    proxies.clear();
  }
};

store_contract::StoreFactory ProxiedStores() {
  auto rig = std::make_shared<Rig>();
  rig->daemon = StartDaemon();
  rig->parent = std::make_unique<SocketParent>();
  return [rig]() -> std::unique_ptr<Store> {
    std::lock_guard<std::mutex> lock(rig->mu);
    const int n = rig->next++;
    const std::string job = absl::StrCat("job_", n);
    absl::StatusOr<std::unique_ptr<Store>> upstream =
        ConnectGrpcStore(DaemonOptions(*rig->daemon, job));
    if (!upstream.ok()) return nullptr;
    absl::StatusOr<std::unique_ptr<StoreProxy>> proxy =
        StartStoreProxy(ProxyOptions(absl::StrCat(rig->parent->path(), "/p", n),
                                     job, *rig->daemon),
                        std::shared_ptr<Store>(std::move(*upstream)));
    if (!proxy.ok()) return nullptr;
    absl::StatusOr<std::unique_ptr<Store>> store =
        ConnectGrpcStore(ProxyClientOptions(**proxy, job));
    rig->proxies.push_back(std::move(*proxy));
    if (!store.ok()) return nullptr;
    return std::move(*store);
  };
}

TPLAUNCH_STORE_CONTRACT_TESTS("StoreProxy", ProxiedStores)

}  // namespace
}  // namespace tplaunch
