// The Store contract suite: one set of Catch2 checks that every Store
// implementation (MemoryStore, PrefixStore, GrpcStore over a real daemon) must
// pass.
//
// Use it from a test file with
//   TPLAUNCH_STORE_CONTRACT_TESTS("MemoryStore", [] { return StoreFactory(...);
//   });
// The second argument is called once per test case and returns a StoreFactory;
// each call of the factory must yield a fresh, empty store (for GrpcStore: a
// new job). The factory object owns whatever the stores need (a server) and
// outlives them.
#ifndef TPLAUNCH_TESTS_STORE_STORE_CONTRACT_H_
#define TPLAUNCH_TESTS_STORE_STORE_CONTRACT_H_

#include <catch2/catch.hpp>
#include <functional>
#include <memory>

#include "store/store.h"

namespace tplaunch {
namespace store_contract {

using StoreFactory = std::function<std::unique_ptr<Store>()>;

// Each check REQUIREs on the calling (Catch2) thread only; worker threads
// record results for it to inspect after joining them.
void SetGetTryGet(const StoreFactory& make);
void CheckReportsPresence(const StoreFactory& make);
void AddCounts(const StoreFactory& make);
void CompareSetSemantics(const StoreFactory& make);
void GetBlocksAndTimesOut(const StoreFactory& make);
void WaitBlocksAndTimesOut(const StoreFactory& make);
void DeleteKeyRemoves(const StoreFactory& make);
void NumKeysCounts(const StoreFactory& make);
void AppendConcatenates(const StoreFactory& make);
void MultiGetBlocksAndTimesOut(const StoreFactory& make);
void MultiSetSetsAll(const StoreFactory& make);
void ListKeysFiltersAndSorts(const StoreFactory& make);
void ManyGettersReleasedByOneSet(const StoreFactory& make);
void AddIsAtomicUnderContention(const StoreFactory& make);
void CompareSetHasOneWinner(const StoreFactory& make);

}  // namespace store_contract
}  // namespace tplaunch

#define TPLAUNCH_STORE_CONTRACT_CASE_(name, check, make_factory)  \
  TEST_CASE(name " contract: " #check, "[store][contract]") {     \
    const ::tplaunch::store_contract::StoreFactory tpl_factory_ = \
        (make_factory)();                                         \
    ::tplaunch::store_contract::check(tpl_factory_);              \
  }

// Defines one test case per check, named "<name> contract: <check>".
#define TPLAUNCH_STORE_CONTRACT_TESTS(name, make_factory)                      \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, SetGetTryGet, make_factory)              \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, CheckReportsPresence, make_factory)      \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, AddCounts, make_factory)                 \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, CompareSetSemantics, make_factory)       \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, GetBlocksAndTimesOut, make_factory)      \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, WaitBlocksAndTimesOut, make_factory)     \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, DeleteKeyRemoves, make_factory)          \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, NumKeysCounts, make_factory)             \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, AppendConcatenates, make_factory)        \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, MultiGetBlocksAndTimesOut, make_factory) \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, MultiSetSetsAll, make_factory)           \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, ListKeysFiltersAndSorts, make_factory)   \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, ManyGettersReleasedByOneSet,             \
                                make_factory)                                  \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, AddIsAtomicUnderContention,              \
                                make_factory)                                  \
  TPLAUNCH_STORE_CONTRACT_CASE_(name, CompareSetHasOneWinner, make_factory)

#endif  // TPLAUNCH_TESTS_STORE_STORE_CONTRACT_H_
