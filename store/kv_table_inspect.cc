// KvTable's read-only inspection for the daemon's live view. Kept apart from
// the operations: nothing here changes the table.
#include <algorithm>

#include "store/kv_table.h"

namespace tplaunch {

std::vector<KvJobView> KvTable::InspectJobs() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<KvJobView> views;
  views.reserve(jobs_.size());
  for (const auto& [name, job] : jobs_) {
    KvJobView view;
    view.name = name;
    view.keys = static_cast<int64_t>(job->kv.size());
    for (const auto& [key, value] : job->kv) {
      view.value_bytes += static_cast<int64_t>(key.size() + value.size());
    }
    view.last_activity = job->last_activity;
    view.parked = waiters_.ParkedKeys(name);
    views.push_back(std::move(view));
  }
  std::sort(
      views.begin(), views.end(),
      [](const KvJobView& a, const KvJobView& b) { return a.name < b.name; });
  return views;
}

absl::flat_hash_map<std::string, std::string> KvTable::PeekValues(
    absl::string_view job, absl::Span<const std::string> keys) const {
  std::lock_guard<std::mutex> lock(mu_);
  absl::flat_hash_map<std::string, std::string> found;
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return found;
  for (const std::string& key : keys) {
    auto kv = it->second->kv.find(key);
    if (kv != it->second->kv.end()) found.emplace(key, kv->second);
  }
  return found;
}

}  // namespace tplaunch
