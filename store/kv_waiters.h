// KvWaiters: the parked calls of a KvTable (Get, Wait, MultiGet waiting for
// keys): who waits on which keys of which job and until when, indexed so that
// a Set wakes only the waiters of its key and a deadline pass looks only at the
// earliest deadlines.
//
// A waiter completes exactly once: when every one of its keys exists (OnPut),
// at its deadline (Expire), or when it is ended (Detach, EndJob, EndAll). The
// outcome is handed back as a KvCompletion for the caller to run; no callback
// ever runs in here.
//
// Not thread-safe: the KvTable's lock guards it. The keys themselves stay the
// table's; calls that need them take the job's map.
#ifndef TPLAUNCH_STORE_KV_WAITERS_H_
#define TPLAUNCH_STORE_KV_WAITERS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace tplaunch {

using WaiterId = uint64_t;

// Receives a parked waiter's outcome exactly once: the values of its keys in
// request order (empty when values were not requested), or DeadlineExceeded
// (names the missing keys, the job and the time waited, worded as
// store/error_text.h's TimeoutMessage), Cancelled
// (CancelWaiter, DeleteJob, idle expiry) or Unavailable (Shutdown).
using WaiterCallback =
    std::function<void(absl::StatusOr<std::vector<std::string>>)>;

// A callback and the outcome it is owed, run once the table's lock is
// released.
using KvCompletion =
    std::pair<WaiterCallback, absl::StatusOr<std::vector<std::string>>>;

// The keys of one job, as the table holds them.
using KvMap = absl::flat_hash_map<std::string, std::string>;

// One key that parked waiters of a job still miss (the daemon's live view).
struct KvParkedKey {
  std::string key;
  int64_t waiters = 0;
  // When the longest-waiting of them parked (its deadline less its timeout).
  absl::Time oldest_parked = absl::InfiniteFuture();
  // The callers' labels (LabelWaiter), sorted; waiters without one are not
  // in it.
  std::vector<std::string> callers;
};

class KvWaiters final {
 public:
  KvWaiters();
  ~KvWaiters();

  KvWaiters(const KvWaiters&) = delete;
  KvWaiters& operator=(const KvWaiters&) = delete;

  // Parks a waiter on `keys` of `job` whose current keys are `kv`. Returns 0
  // and leaves `done` alone when no key is missing; else the new waiter's id
  // (never 0), and the waiter owns `done`. `timeout` is what its
  // DeadlineExceeded message names.
  WaiterId Park(absl::string_view job, const KvMap& kv,
                absl::Span<const std::string> keys, absl::Time deadline,
                absl::Duration timeout, bool want_values, WaiterCallback& done);

  // `key` of `job` was just stored (`kv` holds it): completes, into `done`,
  // the waiters that now have every key, with their values when asked for.
  void OnPut(absl::string_view job, absl::string_view key, const KvMap& kv,
             std::vector<KvCompletion>& done);

  // A detached waiter: its job and its callback, which the caller runs.
  struct Detached {
    std::string job;
    WaiterCallback done;
  };
  // Names who waits (a GrpcStore client's caller label, "rank 3"), for
  // ParkedKeys; a no-op when `id` already completed.
  void Label(WaiterId id, std::string caller);

  // Removes waiter `id`; nullopt when it already completed.
  std::optional<Detached> Detach(WaiterId id);

  // Ends every waiter of `job` with `status`, into `done`.
  void EndJob(absl::string_view job, const absl::Status& status,
              std::vector<KvCompletion>& done);
  // Ends every waiter with `status`, into `done`.
  void EndAll(const absl::Status& status, std::vector<KvCompletion>& done);

  // The keys of a job as the table holds them now; nullptr when it has none.
  using KvLookup = std::function<const KvMap*(absl::string_view job)>;
  // Ends every waiter whose deadline is <= now with DeadlineExceeded (naming
  // the keys `kv_of` says are missing), into `done`; appends the job of each
  // to `jobs`, so the table can drop jobs left empty.
  void Expire(absl::Time now, const KvLookup& kv_of,
              std::vector<KvCompletion>& done, std::vector<std::string>& jobs);

  // Earliest deadline of a parked waiter; InfiniteFuture when none.
  absl::Time NextDeadline() const;
  // Whether any waiter of `job` is parked.
  bool HasWaiters(absl::string_view job) const;
  // The keys `job`'s waiters still miss, sorted by key; read-only.
  std::vector<KvParkedKey> ParkedKeys(absl::string_view job) const;

  // Parked waiters, all jobs.
  int64_t size() const { return static_cast<int64_t>(waiters_.size()); }

 private:
  struct Waiter;
  struct JobWaiters {
    // Key -> the waiters still missing it.
    absl::flat_hash_map<std::string, absl::flat_hash_set<Waiter*>> watchers;
    absl::flat_hash_set<Waiter*> waiters;
  };

  // Removes the waiter from every index and returns its callback. Leaves its
  // job's (maybe empty) entry for DropIfEmpty, so that a caller looping over
  // that entry keeps it.
  WaiterCallback DetachWaiter(Waiter& waiter);
  void DropIfEmpty(absl::string_view job);
  // Registers `waiter` on every key of its own that `kv` lacks and is not yet
  // registered on.
  void WatchMissing(JobWaiters& job, const KvMap& kv, Waiter& waiter);

  absl::flat_hash_map<std::string, JobWaiters> jobs_;
  absl::flat_hash_map<WaiterId, std::unique_ptr<Waiter>> waiters_;
  // Parked waiters ordered by (deadline, id), for Expire and NextDeadline.
  std::set<std::pair<absl::Time, WaiterId>> deadlines_;
  WaiterId next_id_ = 1;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_KV_WAITERS_H_
