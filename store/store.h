// Store: the key-value contract shared by the launcher, worker_lib and the
// daemon.
//
// It mirrors PyTorch's c10d::Store (set, get, add, compare_set, wait, check,
// delete_key, num_keys, append, multi_get, multi_set) with absl::Status errors
// and an explicit timeout on every blocking call. Keys and values are bytes.
// Every implementation supports every method; all methods are thread-safe.
//
// Implementations: MemoryStore (in-process), PrefixStore (namespacing
// decorator), GrpcStore (a client of tprdzvd). Create them with their
// factories.
#ifndef TPLAUNCH_STORE_STORE_H_
#define TPLAUNCH_STORE_STORE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace tplaunch {

// Errors common to every method: Unavailable (the store cannot be reached),
// Unauthenticated (bad or missing token), InvalidArgument (a key or value over
// the store's limits, named in the message), ResourceExhausted (key quota).
class Store {
 public:
  virtual ~Store() = default;

  // Sets key to value and wakes everyone waiting on key. Never blocks.
  virtual absl::Status Set(absl::string_view key, absl::string_view value) = 0;

  // Waits up to `timeout` for key to exist and returns its value.
  // DeadlineExceeded names the key and how long was waited.
  virtual absl::StatusOr<std::string> Get(absl::string_view key,
                                          absl::Duration timeout) = 0;

  // Returns key's value if it exists now. Never blocks. NotFound otherwise.
  virtual absl::StatusOr<std::string> TryGet(absl::string_view key) = 0;

  // Whether every key exists now. Never blocks.
  virtual absl::StatusOr<bool> Check(absl::Span<const std::string> keys) = 0;

  // Atomically adds delta to the decimal int64 at key (missing = 0); returns
  // the new value. FailedPrecondition when the stored value is not a decimal
  // int64. Never blocks.
  virtual absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta) = 0;

  // TCPStore semantics: missing key and empty expected -> set desired; missing
  // key and non-empty expected -> set nothing, return expected; current ==
  // expected -> set desired. Returns the value stored afterwards (expected in
  // the missing case).
  virtual absl::StatusOr<std::string> CompareSet(absl::string_view key,
                                                 absl::string_view expected,
                                                 absl::string_view desired) = 0;

  // Waits up to `timeout` until every key exists. DeadlineExceeded names the
  // missing keys and how long was waited.
  virtual absl::Status Wait(absl::Span<const std::string> keys,
                            absl::Duration timeout) = 0;

  // Deletes key; returns whether it existed. Never blocks.
  virtual absl::StatusOr<bool> DeleteKey(absl::string_view key) = 0;

  // Number of keys visible through this store. Never blocks.
  virtual absl::StatusOr<int64_t> NumKeys() = 0;

  // Appends value to key's value, creating it when missing. Never blocks.
  virtual absl::Status Append(absl::string_view key,
                              absl::string_view value) = 0;

  // Waits up to `timeout` for every key, then returns their values in order.
  virtual absl::StatusOr<std::vector<std::string>> MultiGet(
      absl::Span<const std::string> keys, absl::Duration timeout) = 0;

  // Sets every key to its value, all at once. Never blocks.
  virtual absl::Status MultiSet(
      absl::Span<const std::pair<std::string, std::string>> entries) = 0;

  // Keys that start with prefix, sorted. Never blocks.
  virtual absl::StatusOr<std::vector<std::string>> ListKeys(
      absl::string_view prefix) = 0;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_STORE_H_
