// ConnectOrFail: an EtcdStore for a test, failing the test (REQUIRE, so only
// on the test's main thread) with the connect error when there is none.
#ifndef TPLAUNCH_TESTS_STORE_ETCD_CONNECT_H_
#define TPLAUNCH_TESTS_STORE_ETCD_CONNECT_H_

#include <catch2/catch.hpp>
#include <memory>
#include <utility>

#include "store/etcd/etcd_store.h"

namespace tplaunch {
namespace testing {

inline std::unique_ptr<Store> ConnectOrFail(const EtcdStoreOptions& options) {
  absl::StatusOr<std::unique_ptr<Store>> store = ConnectEtcdStore(options);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(*store);
}

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_STORE_ETCD_CONNECT_H_
