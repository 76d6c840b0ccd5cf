// KvTable: the pure in-memory core of tprdzvd and of MemoryStore.
//
// Per-job maps of key -> bytes with TCPStore's operations, waiters that
// complete when their keys exist (or at a deadline, or when cancelled; their
// bookkeeping is store/kv_waiters.h's), per-job limits and idle-job expiry. No
// gRPC, no threads of its own: time comes from an injectable Clock, and
// deadlines and idle jobs are expired when the owner calls ExpireDeadlines /
// ExpireIdleJobs (the daemon's timer thread; tests with a fake clock).
//
// With a KvJournal (options.journal, tprdzvd --state-dir) every change is
// handed to it, and a call's reply waits until its change is durable.
//
// Thread-safe. Waiter callbacks never run while the table's lock is held, so a
// callback may call back into the table.
#ifndef TPLAUNCH_STORE_KV_TABLE_H_
#define TPLAUNCH_STORE_KV_TABLE_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
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
#include "store/kv_journal.h"
#include "store/kv_waiters.h"

namespace tplaunch {

// Source of the current time; tests substitute a fake.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The process-wide wall clock (absl::Now()). Never null, never destroyed.
const Clock* RealClock();

struct KvTableOptions {
  // Longest accepted key, in bytes (TCPStore's libuv server uses 8 KiB).
  int64_t max_key_bytes = 8 * 1024;
  // Longest accepted value, in bytes, including values grown by Append.
  int64_t max_value_bytes = 8 * 1024 * 1024;
  // Most keys one job may hold; one more is ResourceExhausted.
  int64_t max_keys_per_job = 1 << 20;
  // Most keys named by one request (Check, Wait, MultiGet, MultiSet), as
  // TCPStore.
  int64_t max_keys_per_request = 128 * 1024;
  // A job with no operations for this long is removed by ExpireIdleJobs.
  absl::Duration job_idle_ttl = absl::Hours(24);
  // Jobs ExpireIdleJobs never removes. The daemon puts the TCPStore listener's
  // job here: PyTorch ranks stay connected for a whole run and may not touch
  // the store for days between process-group creations.
  absl::flat_hash_set<std::string> jobs_without_idle_ttl;
  // Time source; nullptr means RealClock(). Must outlive the table.
  const Clock* clock = nullptr;
  // Receives every change (tprdzvd --state-dir); a call's reply and the waiters
  // it wakes wait until its change is durable, and reads wait until what they
  // saw is. nullptr: memory only. Must outlive the table.
  KvJournal* journal = nullptr;
};

struct KvTableStats {
  int64_t jobs = 0;
  int64_t keys = 0;
  int64_t waiters = 0;
};

// What the daemon's live view (rendezvous/http) shows of one job: sizes only,
// never values, and the keys its parked calls wait for.
struct KvJobView {
  std::string name;
  int64_t keys = 0;
  int64_t value_bytes = 0;  // Keys and values together.
  absl::Time last_activity;
  std::vector<KvParkedKey> parked;
};

class KvTable final {
 public:
  explicit KvTable(KvTableOptions options = {});
  // Releases remaining waiters with Unavailable, as Shutdown does.
  ~KvTable();

  KvTable(const KvTable&) = delete;
  KvTable& operator=(const KvTable&) = delete;

  // Errors common to every operation below: InvalidArgument (empty job, a key
  // or value over its limit, too many keys in one request; the message names
  // the limit and the size), Unavailable (after Shutdown, or once the journal
  // failed: the table then closes, as Shutdown does, naming the failure).

  // Loads a recovered job (keys and activity time) without journaling it, for
  // the owner's recovery before the table serves anyone. Replaces a job of
  // the same name; limits are not applied (they may have shrunk since).
  void Restore(absl::string_view job, absl::Time last_activity,
               std::vector<std::pair<std::string, std::string>> entries);

  // Sets key, waking its waiters. ResourceExhausted when a new key exceeds the
  // job quota.
  absl::Status Set(absl::string_view job, absl::string_view key,
                   absl::string_view value);
  // NotFound when key is missing.
  absl::StatusOr<std::string> TryGet(absl::string_view job,
                                     absl::string_view key);
  absl::StatusOr<bool> Check(absl::string_view job,
                             absl::Span<const std::string> keys);
  // Adds delta to the ASCII decimal int64 at key (missing = 0); returns the new
  // value. FailedPrecondition when the value is not a decimal int64 (strictly
  // an optional '-' and digits: " 7" and "+5" are not), OutOfRange on
  // overflow.
  absl::StatusOr<int64_t> Add(absl::string_view job, absl::string_view key,
                              int64_t delta);
  // TCPStore's compare_set; see Store::CompareSet. InvalidArgument when
  // `expected` or `desired` is over max_value_bytes.
  absl::StatusOr<std::string> CompareSet(absl::string_view job,
                                         absl::string_view key,
                                         absl::string_view expected,
                                         absl::string_view desired);
  absl::Status Append(absl::string_view job, absl::string_view key,
                      absl::string_view value);
  // All or nothing: validated (limits, quota) before anything is written.
  absl::Status MultiSet(
      absl::string_view job,
      absl::Span<const std::pair<std::string, std::string>> entries);
  absl::StatusOr<bool> DeleteKey(absl::string_view job, absl::string_view key);
  absl::StatusOr<int64_t> NumKeys(absl::string_view job);
  // Keys starting with prefix, sorted bytewise.
  absl::StatusOr<std::vector<std::string>> ListKeys(absl::string_view job,
                                                    absl::string_view prefix);
  // Removes the job; its waiters end with Cancelled. Returns the number of keys
  // removed.
  absl::StatusOr<int64_t> DeleteJob(absl::string_view job);

  // The result of StartWait: either every key existed (`ready`, with `values`
  // when requested) and the callback was dropped, or a waiter was parked under
  // `id` and its callback will run exactly once later.
  struct WaitStart {
    bool ready = false;
    std::vector<std::string> values;
    WaiterId id = 0;
  };

  // Waits until every key of `keys` exists in job, or `deadline` (as seen by
  // ExpireDeadlines) passes. With want_values the callback (or WaitStart)
  // receives the values in key order. On error nothing is parked and `done` is
  // dropped.
  absl::StatusOr<WaitStart> StartWait(absl::string_view job,
                                      absl::Span<const std::string> keys,
                                      absl::Time deadline, bool want_values,
                                      WaiterCallback done);
  // As above with the deadline `timeout` after now on the table's clock; the
  // DeadlineExceeded message names `timeout` exactly. A timeout <= 0 parks a
  // waiter that the next ExpireDeadlines ends, unless every key exists.
  absl::StatusOr<WaitStart> StartWait(absl::string_view job,
                                      absl::Span<const std::string> keys,
                                      absl::Duration timeout, bool want_values,
                                      WaiterCallback done);

  // The values of every key (empty strings without want_values) if all exist
  // now, nullopt otherwise. Never parks: the cheap first step of a blocking
  // read.
  absl::StatusOr<std::optional<std::vector<std::string>>> TryGetAll(
      absl::string_view job, absl::Span<const std::string> keys,
      bool want_values);

  // Ends a parked waiter with Cancelled (e.g. its client went away). Returns
  // false when it had already completed.
  bool CancelWaiter(WaiterId id);
  // Names who waits in parked waiter `id` (InspectJobs' parked callers); a
  // no-op when it already completed.
  void LabelWaiter(WaiterId id, std::string caller);

  // Ends every waiter whose deadline is <= now with DeadlineExceeded.
  void ExpireDeadlines(absl::Time now);
  // Earliest deadline of a parked waiter; InfiniteFuture when none.
  absl::Time NextDeadline() const;

  // Removes jobs idle since now - job_idle_ttl (except
  // options.jobs_without_idle_ttl); their waiters end with Cancelled. Returns
  // the number of jobs removed.
  int64_t ExpireIdleJobs(absl::Time now);

  // Ends every waiter with Unavailable; later operations fail with Unavailable.
  // Idempotent.
  void Shutdown();

  KvTableStats Stats() const;

  // For the live view (kv_table_inspect.cc). Neither refreshes a job's
  // activity nor waits for the journal, so a dashboard left open never keeps
  // an idle job alive. Every job, sorted by name:
  std::vector<KvJobView> InspectJobs() const;
  // The values of those `keys` of `job` that exist now (missing ones absent).
  absl::flat_hash_map<std::string, std::string> PeekValues(
      absl::string_view job, absl::Span<const std::string> keys) const;

 private:
  // One job's keys (its waiters are waiters_'s). Defined here because the
  // value operations (kv_table_ops.cc) and the core (kv_table.cc) both use it.
  struct Job {
    std::string name;
    KvMap kv;
    absl::Time last_activity;
    // last_activity as the journal last heard of it.
    absl::Time journaled_activity = absl::InfinitePast();
  };
  // A callback and the outcome it is owed, run after the lock is released.
  using Completion = KvCompletion;

  absl::Status CheckOpenLocked() const;
  absl::Status CheckJobName(absl::string_view job) const;
  absl::Status CheckKey(absl::string_view key) const;
  absl::Status CheckValue(absl::string_view key, size_t size) const;
  absl::Status CheckRequestSize(size_t keys) const;
  // Existing job (activity refreshed) or nullptr.
  Job* FindJobLocked(absl::string_view job);
  Job* FindOrCreateJobLocked(absl::string_view job);
  // StartWait's core: true with `start` filled when every key exists, else
  // parks a waiter owning `done` and returns false.
  bool ParkLocked(absl::string_view job, absl::Span<const std::string> keys,
                  absl::Time deadline, std::optional<absl::Duration> timeout,
                  bool want_values, WaiterCallback& done, WaitStart& start);
  // Drops the job when it holds neither keys nor waiters.
  void MaybeDropJobLocked(absl::string_view job);
  absl::Status QuotaLocked(const Job& job, absl::string_view name,
                           int64_t new_keys) const;
  // Stores value (a new key counts towards the totals) and completes the
  // waiters it satisfies into `done`.
  void PutLocked(Job& job, absl::string_view key, std::string value,
                 std::vector<Completion>& done);
  absl::StatusOr<WaitStart> StartWaitImpl(absl::string_view job,
                                          absl::Span<const std::string> keys,
                                          absl::Time deadline,
                                          std::optional<absl::Duration> timeout,
                                          bool want_values,
                                          WaiterCallback done);
  static void Run(std::vector<Completion>& done);
  // Hands `mutations` to the journal (their job's activity time is now) and
  // returns the ticket to wait for; 0 without a journal.
  uint64_t RecordLocked(Job& job, std::vector<KvMutation> mutations);
  // The same without building a vector when there is no journal.
  uint64_t RecordLocked(Job& job, std::initializer_list<KvMutation> mutations);
  // Waits until `ticket` is durable, then runs `done`. When the journal failed
  // the table closes and the call and `done` get the error instead.
  absl::Status Commit(uint64_t ticket, std::vector<Completion>& done);
  // For reads: waits until the state they saw (up to `ticket`) is durable.
  absl::Status Durable(uint64_t ticket);
  // Ends every waiter with `status` and refuses later calls with it.
  void Close(const absl::Status& status);

  const KvTableOptions options_;
  const Clock* const clock_;

  mutable std::mutex mu_;
  // Ok while open; the error every call gets after Shutdown or a journal
  // failure.
  absl::Status closed_;
  // The last ticket the journal returned: what a read has seen.
  uint64_t last_ticket_ = 0;
  absl::flat_hash_map<std::string, std::unique_ptr<Job>> jobs_;
  // Every parked waiter.
  KvWaiters waiters_;
  int64_t total_keys_ = 0;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_KV_TABLE_H_
