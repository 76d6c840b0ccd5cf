// The Store contract, run against EtcdStore on a real one-member etcd.
#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "store/etcd/etcd_store.h"
#include "tests/store/etcd/etcd_cluster.h"
#include "tests/store/store_contract.h"

namespace tplaunch {
namespace {

// One etcd for the whole binary (starting one costs a second or two); each
// store is a fresh run, so every test case starts empty. Started inside the
// first test case; SIGKILLed when the binary exits.
testing::EtcdCluster& SharedEtcd() {
  static testing::EtcdCluster etcd(1);
  return etcd;
}

store_contract::StoreFactory EtcdStores() {
  static std::atomic<int> runs{0};
  testing::EtcdCluster& etcd = SharedEtcd();
  return [&etcd]() -> std::unique_ptr<Store> {
    EtcdStoreOptions options;
    options.endpoints = etcd.endpoints();
    options.run_id = absl::StrCat("contract-", runs.fetch_add(1));
    absl::StatusOr<std::unique_ptr<Store>> store = ConnectEtcdStore(options);
    if (!store.ok()) {
      UNSCOPED_INFO(store.status().ToString());
      return nullptr;
    }
    return std::move(*store);
  };
}

TPLAUNCH_STORE_CONTRACT_TESTS("EtcdStore", EtcdStores)

}  // namespace
}  // namespace tplaunch
