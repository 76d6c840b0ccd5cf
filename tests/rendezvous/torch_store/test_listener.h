// A TorchStoreListener over its own KvTable for tests: started from `options`
// (REQUIREd to start), shut down with its table by the destructor. Shared by
// the listener tests and the launcher's agent-store tests.
#ifndef TPLAUNCH_TESTS_TORCH_STORE_TEST_LISTENER_H_
#define TPLAUNCH_TESTS_TORCH_STORE_TEST_LISTENER_H_

#include <catch2/catch.hpp>
#include <memory>
#include <utility>

#include "rendezvous/torch_store/listener.h"
#include "store/kv_table.h"

namespace tplaunch {
namespace torch_store {

struct TestListener {
  explicit TestListener(TorchStoreListenerOptions options = {}) {
    auto started = StartTorchStoreListener(options, &table);
    REQUIRE(started.ok());
    listener = std::move(*started);
  }
  ~TestListener() {
    listener->Shutdown();
    table.Shutdown();
  }
  int port() const { return listener->port(); }

  KvTable table;
  std::unique_ptr<TorchStoreListener> listener;
};

}  // namespace torch_store
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_TORCH_STORE_TEST_LISTENER_H_
