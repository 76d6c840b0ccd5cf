#include "store/kv_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "store/error_text.h"

namespace tplaunch {
namespace {

class WallClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

KvMutation JobWide(KvMutation::Kind kind, absl::string_view job) {
  KvMutation mutation;
  mutation.kind = kind;
  mutation.job = job;
  return mutation;
}

}  // namespace

const Clock* RealClock() {
  static const WallClock* const clock = new WallClock();
  return clock;
}

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

absl::Status KvTable::CheckJobName(absl::string_view job) const {
  if (job.empty()) return absl::InvalidArgumentError("job name is empty");
  if (static_cast<int64_t>(job.size()) > options_.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job name is ", job.size(),
        " bytes, over the limit max_key_bytes=", options_.max_key_bytes));
  }
  return absl::OkStatus();
}

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
  if (slot == nullptr) {
    slot = std::make_unique<Job>();
    slot->name = std::string(job);
  }
  slot->last_activity = clock_->Now();
  return slot.get();
}

void KvTable::MaybeDropJobLocked(absl::string_view job) {
  auto it = jobs_.find(job);
  if (it != jobs_.end() && it->second->kv.empty() &&
      !waiters_.HasWaiters(job)) {
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

void KvTable::PutLocked(Job& job, absl::string_view key, std::string value,
                        std::vector<Completion>& done) {
  auto [it, inserted] = job.kv.try_emplace(key);
  it->second = std::move(value);
  if (inserted) ++total_keys_;
  waiters_.OnPut(job.name, key, job.kv, done);
}

absl::StatusOr<int64_t> KvTable::DeleteJob(absl::string_view job) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
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
    waiters_.EndJob(job,
                    absl::CancelledError(absl::StrCat(
                        "job \"", absl::CHexEscape(job), "\" was deleted")),
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
  if (auto s = CheckJobName(job); !s.ok()) return s;
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
  const absl::Time now = clock_->Now();
  absl::Duration named;
  if (timeout.has_value()) {
    named = std::max(*timeout, absl::ZeroDuration());
    deadline = now + named;
  } else {
    // A caller's own clock reading a moment before ours would show 300ms as
    // 299.99ms: name the wait to the millisecond.
    named = absl::Floor(deadline - now + absl::Microseconds(500),
                        absl::Milliseconds(1));
  }
  start.id =
      waiters_.Park(job, j->kv, keys, deadline, named, want_values, done);
  if (start.id != 0) return false;
  start.ready = true;
  if (want_values) {
    start.values.reserve(keys.size());
    for (const std::string& key : keys)
      start.values.push_back(j->kv.find(key)->second);
  }
  MaybeDropJobLocked(job);
  return true;
}

absl::StatusOr<std::optional<std::vector<std::string>>> KvTable::TryGetAll(
    absl::string_view job, absl::Span<const std::string> keys,
    bool want_values) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
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

void KvTable::LabelWaiter(WaiterId id, std::string caller) {
  std::lock_guard<std::mutex> lock(mu_);
  waiters_.Label(id, std::move(caller));
}

bool KvTable::CancelWaiter(WaiterId id) {
  std::optional<KvWaiters::Detached> detached;
  {
    std::lock_guard<std::mutex> lock(mu_);
    detached = waiters_.Detach(id);
    if (!detached.has_value()) return false;
    MaybeDropJobLocked(detached->job);
  }
  detached->done(absl::CancelledError("the wait was cancelled"));
  return true;
}

void KvTable::ExpireDeadlines(absl::Time now) {
  std::vector<Completion> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> jobs;
    waiters_.Expire(
        now,
        [this](absl::string_view job) -> const KvMap* {
          auto it = jobs_.find(job);
          return it == jobs_.end() ? nullptr : &it->second->kv;
        },
        done, jobs);
    for (const std::string& job : jobs) MaybeDropJobLocked(job);
  }
  Run(done);
}

absl::Time KvTable::NextDeadline() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.NextDeadline();
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
      waiters_.EndJob(
          name,
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
    waiters_.EndAll(closed_, done);
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
  slot->name = std::string(job);
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
  stats.waiters = waiters_.size();
  return stats;
}

}  // namespace tplaunch
