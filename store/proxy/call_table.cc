#include "store/proxy/call_table.h"

#include <algorithm>

namespace tplaunch {

CallTable::Joined CallTable::Join(const std::string& key, absl::Time now,
                                  absl::Time deadline, CallDone done) {
  Joined joined;
  joined.caller = next_caller_++;
  auto [it, inserted] = entries_.try_emplace(key);
  joined.start_upstream = inserted;
  if (inserted) it->second.until = deadline;
  // Before the call's end, only this caller's own timer can answer it; at or
  // after, the upstream's answer (or the restart's) covers it.
  const absl::Time expire_at =
      deadline < it->second.until ? deadline : deadline + grace_;
  it->second.callers.emplace(joined.caller,
                             Caller{std::move(done), now, deadline, expire_at});
  deadlines_.emplace(expire_at, joined.caller);
  caller_keys_.emplace(joined.caller, key);
  return joined;
}

CallTable::Answer CallTable::Take(const std::string& key, Entry& entry,
                                  std::map<uint64_t, Caller>::iterator it) {
  Answer answer{key, std::move(it->second.done), it->second.joined,
                it->second.deadline};
  deadlines_.erase({it->second.expire_at, it->first});
  caller_keys_.erase(it->first);
  entry.callers.erase(it);
  return answer;
}

bool CallTable::Leave(const std::string& key, uint64_t caller) {
  auto entry = entries_.find(key);
  if (entry == entries_.end()) return false;
  auto it = entry->second.callers.find(caller);
  if (it == entry->second.callers.end()) return false;
  // The upstream call goes on (it cannot be recalled); its answer is dropped
  // if nobody is left by then.
  Take(key, entry->second, it);
  return true;
}

std::optional<absl::Time> CallTable::StartUpstream(const std::string& key,
                                                   absl::Time now,
                                                   absl::Duration max_wait) {
  auto entry = entries_.find(key);
  if (entry == entries_.end() || entry->second.callers.empty()) {
    return std::nullopt;
  }
  absl::Time latest = absl::InfinitePast();
  for (const auto& [id, caller] : entry->second.callers) {
    latest = std::max(latest, caller.deadline);
  }
  entry->second.until = std::min(latest, now + max_wait);
  return entry->second.until;
}

CallTable::Finished CallTable::Finish(const std::string& key,
                                      const CallResult& result,
                                      absl::Time now) {
  Finished finished;
  auto entry = entries_.find(key);
  if (entry == entries_.end()) return finished;
  Entry& e = entry->second;
  const bool timed_out = absl::IsDeadlineExceeded(result.status());
  for (auto it = e.callers.begin(); it != e.callers.end();) {
    auto next = std::next(it);
    if (!timed_out) {
      finished.answered.push_back(Take(key, e, it));
    } else if (it->second.deadline <= now) {
      finished.expired.push_back(Take(key, e, it));
    }
    it = next;
  }
  if (e.callers.empty()) {
    entries_.erase(entry);
  } else {
    finished.restart = true;
  }
  return finished;
}

std::vector<CallTable::Answer> CallTable::ExpireDue(absl::Time now) {
  std::vector<Answer> due;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint64_t caller = deadlines_.begin()->second;
    const std::string key = caller_keys_.at(caller);
    Entry& entry = entries_.at(key);
    due.push_back(Take(key, entry, entry.callers.find(caller)));
  }
  return due;
}

std::vector<CallTable::Answer> CallTable::TakeAll() {
  std::vector<Answer> all;
  for (auto& [key, entry] : entries_) {
    while (!entry.callers.empty()) {
      all.push_back(Take(key, entry, entry.callers.begin()));
    }
  }
  return all;
}

std::optional<absl::Time> CallTable::NextDeadline() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

}  // namespace tplaunch
