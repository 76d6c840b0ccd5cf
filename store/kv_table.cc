#include "store/kv_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "store/error_text.h"

namespace tplaunch {
namespace {

class WallClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

KvMutation PutOf(absl::string_view job, absl::string_view key,
                 absl::string_view value) {
  KvMutation put;
  put.kind = KvMutation::Kind::kPut;
  put.job = job;
  put.key = key;
  put.value = value;
  return put;
}

KvMutation JobWide(KvMutation::Kind kind, absl::string_view job) {
  KvMutation mutation;
  mutation.kind = kind;
  mutation.job = job;
  return mutation;
}

// A stored counter is strict decimal: an optional '-' and digits, nothing
// else. SimpleAtoi alone would also take " 7\n" and "+5", which PyTorch's
// clients never write and which would make Add rewrite a value it did not
// understand.
bool ParseCounter(absl::string_view text, int64_t* value) {
  absl::string_view digits = text;
  if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
  if (digits.empty()) return false;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(text, value);
}

}  // namespace

const Clock* RealClock() {
  static const WallClock* const clock = new WallClock();
  return clock;
}

struct KvTable::Waiter {
  WaiterId id = 0;
  std::string job;
  std::vector<std::string> keys;
  // Distinct keys of `keys` this waiter is registered on in Job::watchers.
  int64_t missing = 0;
  // How long the wait was given, as its timeout message names it.
  absl::Duration timeout;
  absl::Time deadline;
  bool want_values = false;
  WaiterCallback done;
};

struct KvTable::Job {
  absl::flat_hash_map<std::string, std::string> kv;
  // Key -> the waiters still missing it.
  absl::flat_hash_map<std::string, absl::flat_hash_set<Waiter*>> watchers;
  absl::flat_hash_set<Waiter*> waiters;
  absl::Time last_activity;
  // last_activity as the journal last heard of it.
  absl::Time journaled_activity = absl::InfinitePast();
};

KvTable::KvTable(KvTableOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock()) {}

KvTable::~KvTable() { Shutdown(); }

void KvTable::Run(std::vector<Completion>& done) {
  for (auto& [callback, result] : done) callback(std::move(result));
}

absl::Status KvTable::CheckOpenLocked() const { return closed_; }

uint64_t KvTable::RecordLocked(Job& job, std::vector<KvMutation> mutations) {
  if (options_.journal == nullptr) return 0;
  for (KvMutation& mutation : mutations) mutation.time = job.last_activity;
  job.journaled_activity = job.last_activity;
  last_ticket_ = options_.journal->Record(mutations);
  return last_ticket_;
}

uint64_t KvTable::RecordLocked(Job& job,
                               std::initializer_list<KvMutation> mutations) {
  if (options_.journal == nullptr) return 0;
  return RecordLocked(job, std::vector<KvMutation>(mutations));
}

absl::Status KvTable::Durable(uint64_t ticket) {
  if (ticket == 0) return absl::OkStatus();
  absl::Status status = options_.journal->AwaitDurable(ticket);
  if (status.ok()) return status;
  // Memory may now hold what the disk lost: stop answering rather than serve
  // state a restart would not have.
  absl::Status closed = absl::UnavailableError(absl::StrCat(
      "the rendezvous store stopped: its journal failed: ", status.message()));
  Close(closed);
  return closed;
}

absl::Status KvTable::Commit(uint64_t ticket, std::vector<Completion>& done) {
  absl::Status status = Durable(ticket);
  if (!status.ok()) {
    for (Completion& completion : done) completion.second = status;
  }
  Run(done);
  return status;
}

absl::Status KvTable::CheckKey(absl::string_view key) const {
  if (static_cast<int64_t>(key.size()) > options_.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key ", QuoteKey(key), " is ", key.size(),
        " bytes, over the limit max_key_bytes=", options_.max_key_bytes));
  }
  return absl::OkStatus();
}

absl::Status KvTable::CheckValue(absl::string_view key, size_t size) const {
  if (static_cast<int64_t>(size) > options_.max_value_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "value for key ", QuoteKey(key), " is ", size,
        " bytes, over the limit max_value_bytes=", options_.max_value_bytes));
  }
  return absl::OkStatus();
}

absl::Status KvTable::CheckRequestSize(size_t keys) const {
  if (static_cast<int64_t>(keys) > options_.max_keys_per_request) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request names ", keys, " keys, over the limit max_keys_per_request=",
        options_.max_keys_per_request));
  }
  return absl::OkStatus();
}

namespace {

absl::Status CheckJobName(absl::string_view job, int64_t max_bytes) {
  if (job.empty()) return absl::InvalidArgumentError("job name is empty");
  if (static_cast<int64_t>(job.size()) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("job name is ", job.size(),
                     " bytes, over the limit max_key_bytes=", max_bytes));
  }
  return absl::OkStatus();
}

}  // namespace

KvTable::Job* KvTable::FindJobLocked(absl::string_view job) {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return nullptr;
  Job& found = *it->second;
  found.last_activity = clock_->Now();
  // Reads keep a job alive too; journal that now and then (a sixteenth of the
  // idle TTL), not on every read.
  if (options_.journal != nullptr &&
      found.last_activity - found.journaled_activity >=
          options_.job_idle_ttl / 16) {
    RecordLocked(found, {JobWide(KvMutation::Kind::kTouch, it->first)});
  }
  return &found;
}

KvTable::Job* KvTable::FindOrCreateJobLocked(absl::string_view job) {
  auto& slot = jobs_[job];
  if (slot == nullptr) slot = std::make_unique<Job>();
  slot->last_activity = clock_->Now();
  return slot.get();
}

void KvTable::MaybeDropJobLocked(absl::string_view job) {
  auto it = jobs_.find(job);
  if (it != jobs_.end() && it->second->kv.empty() &&
      it->second->waiters.empty()) {
    jobs_.erase(it);
  }
}

absl::Status KvTable::QuotaLocked(const Job& job, absl::string_view name,
                                  int64_t new_keys) const {
  const int64_t have = static_cast<int64_t>(job.kv.size());
  if (new_keys > 0 && have + new_keys > options_.max_keys_per_job) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "job \"", absl::CHexEscape(name), "\" holds ", have, " keys; adding ",
        new_keys, " would exceed the limit max_keys_per_job=",
        options_.max_keys_per_job));
  }
  return absl::OkStatus();
}

WaiterCallback KvTable::DetachWaiterLocked(Waiter& waiter) {
  auto job_it = jobs_.find(waiter.job);
  if (job_it != jobs_.end()) {
    Job& job = *job_it->second;
    job.waiters.erase(&waiter);
    if (waiter.missing > 0) {
      for (const std::string& key : waiter.keys) {
        auto w = job.watchers.find(key);
        if (w == job.watchers.end()) continue;
        w->second.erase(&waiter);
        if (w->second.empty()) job.watchers.erase(w);
      }
    }
  }
  deadlines_.erase({waiter.deadline, waiter.id});
  WaiterCallback done = std::move(waiter.done);
  const WaiterId id = waiter.id;
  waiters_.erase(id);  // Destroys `waiter`.
  return done;
}

void KvTable::PutLocked(Job& job, absl::string_view key, std::string value,
                        std::vector<Completion>& done) {
  auto [it, inserted] = job.kv.try_emplace(key);
  it->second = std::move(value);
  if (inserted) ++total_keys_;

  auto w = job.watchers.find(key);
  if (w == job.watchers.end()) return;
  absl::flat_hash_set<Waiter*> woken = std::move(w->second);
  job.watchers.erase(w);
  for (Waiter* waiter : woken) {
    if (--waiter->missing > 0) continue;
    // A key counted as present earlier may have been deleted since: re-register
    // on whatever is missing now instead of completing.
    for (const std::string& k : waiter->keys) {
      if (!job.kv.contains(k) && job.watchers[k].insert(waiter).second) {
        ++waiter->missing;
      }
    }
    if (waiter->missing > 0) continue;
    std::vector<std::string> values;
    if (waiter->want_values) {
      values.reserve(waiter->keys.size());
      for (const std::string& k : waiter->keys)
        values.push_back(job.kv.find(k)->second);
    }
    done.emplace_back(DetachWaiterLocked(*waiter), std::move(values));
  }
}

void KvTable::CancelJobWaitersLocked(Job& job, const absl::Status& status,
                                     std::vector<Completion>& done) {
  std::vector<Waiter*> waiters(job.waiters.begin(), job.waiters.end());
  for (Waiter* waiter : waiters) {
    done.emplace_back(DetachWaiterLocked(*waiter), status);
  }
}

std::string KvTable::DeadlineMessageLocked(const Waiter& waiter) {
  // Looks at no more than kMaxKeysChecked keys, so that expiring a wait on
  // many keys stays cheap under the table's lock; the message then says "at
  // least".
  constexpr size_t kMaxKeysChecked = 64;
  std::vector<absl::string_view> missing;
  auto job_it = jobs_.find(waiter.job);
  size_t checked = 0;
  for (; checked < waiter.keys.size() && checked < kMaxKeysChecked; ++checked) {
    const std::string& key = waiter.keys[checked];
    if (job_it == jobs_.end() || !job_it->second->kv.contains(key)) {
      missing.push_back(key);
    }
  }
  return TimeoutMessage(waiter.timeout, missing, waiter.keys.size(),
                        /*exact=*/checked == waiter.keys.size(), waiter.job);
}

absl::Status KvTable::Set(absl::string_view job, absl::string_view key,
                          absl::string_view value) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  if (auto s = CheckValue(key, value.size()); !s.ok()) return s;
  std::vector<Completion> done;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindOrCreateJobLocked(job);
    if (!j->kv.contains(key)) {
      if (auto s = QuotaLocked(*j, job, 1); !s.ok()) {
        MaybeDropJobLocked(job);
        return s;
      }
    }
    ticket = RecordLocked(*j, {PutOf(job, key, value)});
    PutLocked(*j, key, std::string(value), done);
  }
  return Commit(ticket, done);
}

absl::StatusOr<std::string> KvTable::TryGet(absl::string_view job,
                                            absl::string_view key) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  std::optional<std::string> value;
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindJobLocked(job);
    if (j != nullptr) {
      auto it = j->kv.find(key);
      if (it != j->kv.end()) value = it->second;
    }
    seen = last_ticket_;
  }
  if (auto s = Durable(seen); !s.ok()) return s;
  if (value.has_value()) return *std::move(value);
  return absl::NotFoundError(absl::StrCat("key ", QuoteKey(key),
                                          " does not exist in job \"",
                                          absl::CHexEscape(job), "\""));
}

absl::StatusOr<bool> KvTable::Check(absl::string_view job,
                                    absl::Span<const std::string> keys) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  if (auto s = CheckRequestSize(keys.size()); !s.ok()) return s;
  for (const std::string& key : keys) {
    if (auto s = CheckKey(key); !s.ok()) return s;
  }
  bool all = true;
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindJobLocked(job);
    for (const std::string& key : keys) {
      if (j == nullptr || !j->kv.contains(key)) all = false;
    }
    seen = last_ticket_;
  }
  if (auto s = Durable(seen); !s.ok()) return s;
  return all;
}

absl::StatusOr<int64_t> KvTable::Add(absl::string_view job,
                                     absl::string_view key, int64_t delta) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  std::vector<Completion> done;
  int64_t result = 0;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindOrCreateJobLocked(job);
    int64_t current = 0;
    auto it = j->kv.find(key);
    if (it == j->kv.end()) {
      if (auto s = QuotaLocked(*j, job, 1); !s.ok()) {
        MaybeDropJobLocked(job);
        return s;
      }
    } else if (!ParseCounter(it->second, &current)) {
      return absl::FailedPreconditionError(
          absl::StrCat("Add on key ", QuoteKey(key), " in job \"",
                       absl::CHexEscape(job), "\": the stored value ",
                       QuoteKey(it->second), " is not a decimal int64"));
    }
    if (__builtin_add_overflow(current, delta, &result)) {
      return absl::OutOfRangeError(absl::StrCat("Add on key ", QuoteKey(key),
                                                ": ", current, " + ", delta,
                                                " overflows int64"));
    }
    std::string text = absl::StrCat(result);
    ticket = RecordLocked(*j, {PutOf(job, key, text)});
    PutLocked(*j, key, std::move(text), done);
  }
  if (auto s = Commit(ticket, done); !s.ok()) return s;
  return result;
}

absl::StatusOr<std::string> KvTable::CompareSet(absl::string_view job,
                                                absl::string_view key,
                                                absl::string_view expected,
                                                absl::string_view desired) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  if (auto s = CheckValue(key, desired.size()); !s.ok()) return s;
  // `expected` is compared, never stored, but is as big as a value can be.
  if (auto s = CheckValue(key, expected.size()); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CompareSet's expected ", s.message()));
  }
  std::vector<Completion> done;
  std::string result;
  // The ticket of this call's change, or of the state an unchanged answer saw.
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindOrCreateJobLocked(job);
    auto it = j->kv.find(key);
    const bool missing = it == j->kv.end();
    if (missing && !expected.empty()) {
      // TCPStore: a missing key with a non-empty expected value sets nothing
      // and answers with the expected value.
      MaybeDropJobLocked(job);
      result = std::string(expected);
      ticket = last_ticket_;
    } else if (!missing && it->second != expected) {
      result = it->second;
      ticket = last_ticket_;
    } else {
      if (missing) {
        if (auto s = QuotaLocked(*j, job, 1); !s.ok()) {
          MaybeDropJobLocked(job);
          return s;
        }
      }
      result = std::string(desired);
      ticket = RecordLocked(*j, {PutOf(job, key, desired)});
      PutLocked(*j, key, std::string(desired), done);
    }
  }
  if (auto s = Commit(ticket, done); !s.ok()) return s;
  return result;
}

absl::Status KvTable::Append(absl::string_view job, absl::string_view key,
                             absl::string_view value) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  if (auto s = CheckValue(key, value.size()); !s.ok()) return s;
  std::vector<Completion> done;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindOrCreateJobLocked(job);
    auto it = j->kv.find(key);
    if (it == j->kv.end()) {
      if (auto s = QuotaLocked(*j, job, 1); !s.ok()) {
        MaybeDropJobLocked(job);
        return s;
      }
      ticket = RecordLocked(*j, {PutOf(job, key, value)});
      PutLocked(*j, key, std::string(value), done);
    } else {
      if (auto s = CheckValue(key, it->second.size() + value.size()); !s.ok()) {
        return s;
      }
      std::string grown = std::move(it->second);
      grown.append(value.data(), value.size());
      ticket = RecordLocked(*j, {PutOf(job, key, grown)});
      PutLocked(*j, key, std::move(grown), done);
    }
  }
  return Commit(ticket, done);
}

absl::Status KvTable::MultiSet(
    absl::string_view job,
    absl::Span<const std::pair<std::string, std::string>> entries) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  if (auto s = CheckRequestSize(entries.size()); !s.ok()) return s;
  for (const auto& [key, value] : entries) {
    if (auto s = CheckKey(key); !s.ok()) return s;
    if (auto s = CheckValue(key, value.size()); !s.ok()) return s;
  }
  std::vector<Completion> done;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindOrCreateJobLocked(job);
    absl::flat_hash_set<absl::string_view> fresh;
    for (const auto& entry : entries) {
      if (!j->kv.contains(entry.first)) fresh.insert(entry.first);
    }
    if (auto s = QuotaLocked(*j, job, fresh.size()); !s.ok()) {
      MaybeDropJobLocked(job);
      return s;
    }
    if (options_.journal != nullptr) {
      std::vector<KvMutation> puts;
      puts.reserve(entries.size());
      for (const auto& [key, value] : entries)
        puts.push_back(PutOf(job, key, value));
      ticket = RecordLocked(*j, std::move(puts));
    }
    for (const auto& [key, value] : entries) PutLocked(*j, key, value, done);
  }
  return Commit(ticket, done);
}

absl::StatusOr<bool> KvTable::DeleteKey(absl::string_view job,
                                        absl::string_view key) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  bool deleted = false;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindJobLocked(job);
    ticket = last_ticket_;
    auto it = j != nullptr ? j->kv.find(key) : decltype(j->kv.find(key))();
    if (j != nullptr && it != j->kv.end()) {
      KvMutation removal = PutOf(job, key, "");
      removal.kind = KvMutation::Kind::kDeleteKey;
      ticket = RecordLocked(*j, {removal});
      j->kv.erase(it);
      --total_keys_;
      deleted = true;
      MaybeDropJobLocked(job);
    }
  }
  if (auto s = Durable(ticket); !s.ok()) return s;
  return deleted;
}

absl::StatusOr<int64_t> KvTable::NumKeys(absl::string_view job) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  int64_t n = 0;
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindJobLocked(job);
    n = j == nullptr ? 0 : static_cast<int64_t>(j->kv.size());
    seen = last_ticket_;
  }
  if (auto s = Durable(seen); !s.ok()) return s;
  return n;
}

absl::StatusOr<std::vector<std::string>> KvTable::ListKeys(
    absl::string_view job, absl::string_view prefix) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  std::vector<std::string> keys;
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    seen = last_ticket_;
    Job* j = FindJobLocked(job);
    if (j != nullptr) {
      for (const auto& entry : j->kv) {
        if (absl::StartsWith(entry.first, prefix)) keys.push_back(entry.first);
      }
    }
  }
  if (auto s = Durable(seen); !s.ok()) return s;
  std::sort(keys.begin(), keys.end());
  return keys;
}

absl::StatusOr<int64_t> KvTable::DeleteJob(absl::string_view job) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  std::vector<Completion> done;
  int64_t deleted = 0;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    auto it = jobs_.find(job);
    if (it == jobs_.end()) return 0;
    ticket =
        RecordLocked(*it->second, {JobWide(KvMutation::Kind::kDeleteJob, job)});
    CancelJobWaitersLocked(
        *it->second,
        absl::CancelledError(
            absl::StrCat("job \"", absl::CHexEscape(job), "\" was deleted")),
        done);
    deleted = static_cast<int64_t>(it->second->kv.size());
    total_keys_ -= deleted;
    jobs_.erase(it);
  }
  if (auto s = Commit(ticket, done); !s.ok()) return s;
  return deleted;
}

absl::StatusOr<KvTable::WaitStart> KvTable::StartWait(
    absl::string_view job, absl::Span<const std::string> keys,
    absl::Time deadline, bool want_values, WaiterCallback done) {
  return StartWaitImpl(job, keys, deadline, std::nullopt, want_values,
                       std::move(done));
}

absl::StatusOr<KvTable::WaitStart> KvTable::StartWait(
    absl::string_view job, absl::Span<const std::string> keys,
    absl::Duration timeout, bool want_values, WaiterCallback done) {
  return StartWaitImpl(job, keys, absl::InfiniteFuture(), timeout, want_values,
                       std::move(done));
}

absl::StatusOr<KvTable::WaitStart> KvTable::StartWaitImpl(
    absl::string_view job, absl::Span<const std::string> keys,
    absl::Time deadline, std::optional<absl::Duration> timeout,
    bool want_values, WaiterCallback done) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  if (auto s = CheckRequestSize(keys.size()); !s.ok()) return s;
  for (const std::string& key : keys) {
    if (auto s = CheckKey(key); !s.ok()) return s;
  }
  WaitStart start;
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    if (!ParkLocked(job, keys, deadline, timeout, want_values, done, start)) {
      return start;
    }
    seen = last_ticket_;
  }
  if (auto s = Durable(seen); !s.ok()) return s;
  return start;
}

bool KvTable::ParkLocked(absl::string_view job,
                         absl::Span<const std::string> keys,
                         absl::Time deadline,
                         std::optional<absl::Duration> timeout,
                         bool want_values, WaiterCallback& done,
                         WaitStart& start) {
  Job* j = FindOrCreateJobLocked(job);
  auto waiter = std::make_unique<Waiter>();
  for (const std::string& key : keys) {
    if (!j->kv.contains(key) && j->watchers[key].insert(waiter.get()).second) {
      ++waiter->missing;
    }
  }
  if (waiter->missing == 0) {
    start.ready = true;
    if (want_values) {
      start.values.reserve(keys.size());
      for (const std::string& key : keys)
        start.values.push_back(j->kv.find(key)->second);
    }
    MaybeDropJobLocked(job);
    return true;
  }
  waiter->id = next_waiter_id_++;
  waiter->job = std::string(job);
  waiter->keys.assign(keys.begin(), keys.end());
  const absl::Time now = clock_->Now();
  if (timeout.has_value()) {
    deadline = now + std::max(*timeout, absl::ZeroDuration());
    waiter->timeout = std::max(*timeout, absl::ZeroDuration());
  } else {
    // A caller's own clock reading a moment before ours would show 300ms as
    // 299.99ms: name the wait to the millisecond.
    waiter->timeout = absl::Floor(deadline - now + absl::Microseconds(500),
                                  absl::Milliseconds(1));
  }
  waiter->deadline = deadline;
  waiter->want_values = want_values;
  waiter->done = std::move(done);
  j->waiters.insert(waiter.get());
  deadlines_.emplace(deadline, waiter->id);
  start.id = waiter->id;
  waiters_.emplace(waiter->id, std::move(waiter));
  return false;
}

absl::StatusOr<std::optional<std::vector<std::string>>> KvTable::TryGetAll(
    absl::string_view job, absl::Span<const std::string> keys,
    bool want_values) {
  if (auto s = CheckJobName(job, options_.max_key_bytes); !s.ok()) return s;
  if (auto s = CheckRequestSize(keys.size()); !s.ok()) return s;
  for (const std::string& key : keys) {
    if (auto s = CheckKey(key); !s.ok()) return s;
  }
  std::vector<std::string> values;
  values.reserve(keys.size());
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindJobLocked(job);
    for (const std::string& key : keys) {
      if (j == nullptr) return std::nullopt;
      auto it = j->kv.find(key);
      if (it == j->kv.end()) return std::nullopt;
      values.push_back(want_values ? it->second : std::string());
    }
    seen = last_ticket_;
  }
  if (auto s = Durable(seen); !s.ok()) return s;
  return values;
}

bool KvTable::CancelWaiter(WaiterId id) {
  WaiterCallback done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return false;
    const std::string job = it->second->job;
    done = DetachWaiterLocked(*it->second);
    MaybeDropJobLocked(job);
  }
  done(absl::CancelledError("the wait was cancelled"));
  return true;
}

void KvTable::ExpireDeadlines(absl::Time now) {
  std::vector<Completion> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      Waiter& waiter = *waiters_.find(deadlines_.begin()->second)->second;
      const std::string job = waiter.job;
      absl::Status status =
          absl::DeadlineExceededError(DeadlineMessageLocked(waiter));
      done.emplace_back(DetachWaiterLocked(waiter), std::move(status));
      MaybeDropJobLocked(job);
    }
  }
  Run(done);
}

absl::Time KvTable::NextDeadline() const {
  std::lock_guard<std::mutex> lock(mu_);
  return deadlines_.empty() ? absl::InfiniteFuture()
                            : deadlines_.begin()->first;
}

int64_t KvTable::ExpireIdleJobs(absl::Time now) {
  std::vector<Completion> done;
  int64_t expired = 0;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> idle;
    for (const auto& [name, job] : jobs_) {
      if (now - job->last_activity >= options_.job_idle_ttl &&
          !options_.jobs_without_idle_ttl.contains(name))
        idle.push_back(name);
    }
    for (const std::string& name : idle) {
      auto it = jobs_.find(name);
      Job& job = *it->second;
      ticket = RecordLocked(job, {JobWide(KvMutation::Kind::kDeleteJob, name)});
      CancelJobWaitersLocked(
          job,
          absl::CancelledError(absl::StrCat(
              "job \"", absl::CHexEscape(name), "\" expired after ",
              absl::FormatDuration(now - job.last_activity), " without calls")),
          done);
      total_keys_ -= static_cast<int64_t>(job.kv.size());
      jobs_.erase(it);
      ++expired;
    }
  }
  Commit(ticket, done).IgnoreError();  // A failure closes the table.
  return expired;
}

void KvTable::Shutdown() {
  Close(absl::UnavailableError("the rendezvous store is shutting down"));
}

void KvTable::Close(const absl::Status& status) {
  std::vector<Completion> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_.ok()) closed_ = status;
    while (!waiters_.empty()) {
      Waiter& waiter = *waiters_.begin()->second;
      done.emplace_back(DetachWaiterLocked(waiter), closed_);
    }
  }
  Run(done);
}

void KvTable::Restore(
    absl::string_view job, absl::Time last_activity,
    std::vector<std::pair<std::string, std::string>> entries) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = jobs_[job];
  if (slot != nullptr) total_keys_ -= static_cast<int64_t>(slot->kv.size());
  slot = std::make_unique<Job>();
  slot->last_activity = last_activity;
  slot->journaled_activity = last_activity;
  for (auto& [key, value] : entries) {
    slot->kv.insert_or_assign(std::move(key), std::move(value));
  }
  total_keys_ += static_cast<int64_t>(slot->kv.size());
  if (slot->kv.empty()) jobs_.erase(job);
}

KvTableStats KvTable::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  KvTableStats stats;
  stats.jobs = static_cast<int64_t>(jobs_.size());
  stats.keys = total_keys_;
  stats.waiters = static_cast<int64_t>(waiters_.size());
  return stats;
}

}  // namespace tplaunch
