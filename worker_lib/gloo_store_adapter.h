// GlooStoreAdapter: Gloo's rendezvous::Store interface over our Store.
//
// Gloo's interface reports errors only by exception and its get() has no
// timeout, so the adapter (1) applies the group timeout to every call,
// including get() and both wait() overloads, (2) records the first failure as
// an absl::Status that names the key, the missing ranks and how long was
// waited, then throws gloo::IoException for Gloo to unwind with, and (3) cuts
// connectFullMesh's O(N) blocking calls per rank to one MultiGet per phase: the
// first get/wait of one of Gloo's per-rank keys ("rank_<i>" host names, "<i>"
// pair addresses) fetches every key of that phase at once.
#ifndef TPLAUNCH_WORKER_LIB_GLOO_STORE_ADAPTER_H_
#define TPLAUNCH_WORKER_LIB_GLOO_STORE_ADAPTER_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gloo/rendezvous/store.h"
#include "store/store.h"

namespace tplaunch {

struct GlooStoreAdapterOptions {
  // This rank and the group size: they tell which keys a phase needs.
  int rank = 0;
  int world_size = 1;
  // Limit for every blocking call that Gloo does not pass a timeout to.
  absl::Duration timeout = absl::Minutes(10);
  // Describes the group in messages, e.g. "gloo group 'default' attempt 0".
  std::string where;
  // Fetch a whole phase with one MultiGet (false: one Get per key, Gloo's own
  // pattern; kept for the benchmark's comparison).
  bool prefetch = true;
  // Every rank's host name (gethostname), index = rank, when the caller already
  // has them (InitProcessGroup's join step does). Then Gloo's host-name phase
  // ("rank_<i>") is answered here without touching the store; every rank of a
  // group must agree on whether this is set.
  std::vector<std::string> host_names;
};

class GlooStoreAdapter final : public gloo::rendezvous::Store {
 public:
  // `store` must outlive the adapter.
  GlooStoreAdapter(tplaunch::Store* store, GlooStoreAdapterOptions options);

  GlooStoreAdapter(const GlooStoreAdapter&) = delete;
  GlooStoreAdapter& operator=(const GlooStoreAdapter&) = delete;

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

  // The first failure, with its details; OK when every call succeeded.
  absl::Status error() const { return error_; }
  // Time spent in (and number of) calls to the underlying store.
  absl::Duration store_time() const { return store_time_; }
  int store_calls() const { return store_calls_; }

 private:
  // Every key Gloo's connectFullMesh will ask for in the phase `key` belongs
  // to, or just `key` when it is not one of Gloo's per-rank keys (or prefetch
  // is off).
  std::vector<std::string> PhaseKeys(const std::string& key) const;
  // Fetches `keys` not cached yet; on failure records error_ and throws.
  void Fetch(const std::vector<std::string>& keys, absl::Duration timeout);
  [[noreturn]] void Fail(absl::Status status);
  // The rank whose key this is, or -1.
  static int RankOfKey(const std::string& key);

  tplaunch::Store* const store_;
  const GlooStoreAdapterOptions options_;
  // Gloo's keys are written once per attempt, so cached values never go stale.
  absl::flat_hash_map<std::string, std::string> cache_;
  absl::Status error_;
  absl::Duration store_time_;
  int store_calls_ = 0;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_GLOO_STORE_ADAPTER_H_
