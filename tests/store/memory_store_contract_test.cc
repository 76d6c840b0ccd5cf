// The Store contract, run against MemoryStore.
#include "store/memory_store.h"
#include "tests/store/store_contract.h"

namespace tplaunch {
namespace {

store_contract::StoreFactory MemoryStores() {
  return [] { return NewMemoryStore(); };
}

TPLAUNCH_STORE_CONTRACT_TESTS("MemoryStore", MemoryStores)

}  // namespace
}  // namespace tplaunch
