#include "store/kv_waiters.h"

#include <algorithm>

#include "store/error_text.h"

namespace tplaunch {

struct KvWaiters::Waiter {
  WaiterId id = 0;
  std::string job;
  std::vector<std::string> keys;
  // Distinct keys of `keys` this waiter is registered on in watchers.
  int64_t missing = 0;
  // How long the wait was given, as its timeout message names it.
  absl::Duration timeout;
  absl::Time deadline;
  bool want_values = false;
  WaiterCallback done;
  std::string caller;  // Label(); "" when unnamed.
};

KvWaiters::KvWaiters() = default;
KvWaiters::~KvWaiters() = default;

void KvWaiters::WatchMissing(JobWaiters& job, const KvMap& kv, Waiter& waiter) {
  for (const std::string& key : waiter.keys) {
    if (!kv.contains(key) && job.watchers[key].insert(&waiter).second) {
      ++waiter.missing;
    }
  }
}

WaiterId KvWaiters::Park(absl::string_view job, const KvMap& kv,
                         absl::Span<const std::string> keys,
                         absl::Time deadline, absl::Duration timeout,
                         bool want_values, WaiterCallback& done) {
  bool missing = false;
  for (const std::string& key : keys) {
    if (!kv.contains(key)) {
      missing = true;
      break;
    }
  }
  if (!missing) return 0;
  auto waiter = std::make_unique<Waiter>();
  waiter->id = next_id_++;
  waiter->job = std::string(job);
  waiter->keys.assign(keys.begin(), keys.end());
  waiter->timeout = timeout;
  waiter->deadline = deadline;
  waiter->want_values = want_values;
  waiter->done = std::move(done);
  JobWaiters& j = jobs_[job];
  WatchMissing(j, kv, *waiter);
  j.waiters.insert(waiter.get());
  deadlines_.emplace(deadline, waiter->id);
  const WaiterId id = waiter->id;
  waiters_.emplace(id, std::move(waiter));
  return id;
}

WaiterCallback KvWaiters::DetachWaiter(Waiter& waiter) {
  auto job_it = jobs_.find(waiter.job);
  if (job_it != jobs_.end()) {
    JobWaiters& job = job_it->second;
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

void KvWaiters::DropIfEmpty(absl::string_view job) {
  auto it = jobs_.find(job);
  if (it != jobs_.end() && it->second.waiters.empty()) jobs_.erase(it);
}

void KvWaiters::OnPut(absl::string_view job, absl::string_view key,
                      const KvMap& kv, std::vector<KvCompletion>& done) {
  auto job_it = jobs_.find(job);
  if (job_it == jobs_.end()) return;
  JobWaiters& j = job_it->second;
  auto w = j.watchers.find(key);
  if (w == j.watchers.end()) return;
  absl::flat_hash_set<Waiter*> woken = std::move(w->second);
  j.watchers.erase(w);
  for (Waiter* waiter : woken) {
    if (--waiter->missing > 0) continue;
    // A key counted as present earlier may have been deleted since: re-register
    // on whatever is missing now instead of completing.
    WatchMissing(j, kv, *waiter);
    if (waiter->missing > 0) continue;
    std::vector<std::string> values;
    if (waiter->want_values) {
      values.reserve(waiter->keys.size());
      for (const std::string& k : waiter->keys)
        values.push_back(kv.find(k)->second);
    }
    done.emplace_back(DetachWaiter(*waiter), std::move(values));
  }
  DropIfEmpty(job);
}

std::optional<KvWaiters::Detached> KvWaiters::Detach(WaiterId id) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return std::nullopt;
  Detached detached;
  detached.job = it->second->job;
  detached.done = DetachWaiter(*it->second);
  DropIfEmpty(detached.job);
  return detached;
}

void KvWaiters::EndJob(absl::string_view job, const absl::Status& status,
                       std::vector<KvCompletion>& done) {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return;
  std::vector<Waiter*> waiters(it->second.waiters.begin(),
                               it->second.waiters.end());
  for (Waiter* waiter : waiters) {
    done.emplace_back(DetachWaiter(*waiter), status);
  }
  DropIfEmpty(job);
}

void KvWaiters::EndAll(const absl::Status& status,
                       std::vector<KvCompletion>& done) {
  while (!waiters_.empty()) {
    done.emplace_back(DetachWaiter(*waiters_.begin()->second), status);
  }
  jobs_.clear();
}

namespace {

// "timed out after T waiting for ..." (store/error_text.h). Looks at no more
// than kMaxKeysChecked keys, so that expiring a wait on many keys stays cheap
// under the table's lock; the message then says "at least".
std::string DeadlineMessage(absl::Duration timeout,
                            const std::vector<std::string>& keys,
                            const KvMap* kv, absl::string_view job) {
  constexpr size_t kMaxKeysChecked = 64;
  std::vector<absl::string_view> missing;
  size_t checked = 0;
  for (; checked < keys.size() && checked < kMaxKeysChecked; ++checked) {
    const std::string& key = keys[checked];
    if (kv == nullptr || !kv->contains(key)) missing.push_back(key);
  }
  return TimeoutMessage(timeout, missing, keys.size(),
                        /*exact=*/checked == keys.size(), job);
}

}  // namespace

void KvWaiters::Expire(absl::Time now, const KvLookup& kv_of,
                       std::vector<KvCompletion>& done,
                       std::vector<std::string>& jobs) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    Waiter& waiter = *waiters_.find(deadlines_.begin()->second)->second;
    std::string job = waiter.job;
    absl::Status status = absl::DeadlineExceededError(
        DeadlineMessage(waiter.timeout, waiter.keys, kv_of(job), job));
    done.emplace_back(DetachWaiter(waiter), std::move(status));
    DropIfEmpty(job);
    jobs.push_back(std::move(job));
  }
}

absl::Time KvWaiters::NextDeadline() const {
  return deadlines_.empty() ? absl::InfiniteFuture()
                            : deadlines_.begin()->first;
}

bool KvWaiters::HasWaiters(absl::string_view job) const {
  auto it = jobs_.find(job);
  return it != jobs_.end() && !it->second.waiters.empty();
}

void KvWaiters::Label(WaiterId id, std::string caller) {
  auto it = waiters_.find(id);
  if (it != waiters_.end()) it->second->caller = std::move(caller);
}

std::vector<KvParkedKey> KvWaiters::ParkedKeys(absl::string_view job) const {
  std::vector<KvParkedKey> keys;
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return keys;
  for (const auto& [key, waiters] : it->second.watchers) {
    if (waiters.empty()) continue;
    KvParkedKey parked;
    parked.key = key;
    parked.waiters = static_cast<int64_t>(waiters.size());
    for (const Waiter* w : waiters) {
      parked.oldest_parked =
          std::min(parked.oldest_parked, w->deadline - w->timeout);
      if (!w->caller.empty()) parked.callers.push_back(w->caller);
    }
    std::sort(parked.callers.begin(), parked.callers.end());
    keys.push_back(std::move(parked));
  }
  std::sort(
      keys.begin(), keys.end(),
      [](const KvParkedKey& a, const KvParkedKey& b) { return a.key < b.key; });
  return keys;
}

}  // namespace tplaunch
