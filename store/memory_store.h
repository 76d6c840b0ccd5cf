// MemoryStore: an in-process Store, for single-process use and tests.
#ifndef TPLAUNCH_STORE_MEMORY_STORE_H_
#define TPLAUNCH_STORE_MEMORY_STORE_H_

#include <memory>

#include "store/store.h"

namespace tplaunch {

// A thread-safe Store held in this process's memory. Blocking calls wait on a
// condition, not by polling.
std::unique_ptr<Store> NewMemoryStore();

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_MEMORY_STORE_H_
