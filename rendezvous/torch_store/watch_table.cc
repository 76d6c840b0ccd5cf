#include "rendezvous/torch_store/watch_table.h"

#include "rendezvous/torch_store/encoder.h"

namespace tplaunch {
namespace torch_store {

void WatchTable::Add(absl::string_view key, std::shared_ptr<NoticeSink> sink,
                     uint64_t session) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_[key].emplace_back(std::move(sink), session);
  count_.fetch_add(1, std::memory_order_release);
}

void WatchTable::RemoveSession(uint64_t session) {
  if (Empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    auto& list = it->second;
    for (auto w = list.begin(); w != list.end();) {
      if (w->second == session) {
        w = list.erase(w);
        count_.fetch_sub(1, std::memory_order_release);
      } else {
        ++w;
      }
    }
    if (list.empty()) {
      watchers_.erase(it++);
    } else {
      ++it;
    }
  }
}

bool WatchTable::Watched(absl::string_view key) {
  if (Empty()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return watchers_.contains(key);
}

void WatchTable::Notify(absl::string_view key, WatchReply event,
                        absl::string_view old_value,
                        absl::string_view new_value) {
  if (Empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = watchers_.find(key);
  if (it == watchers_.end()) return;
  std::string bytes;
  AppendWatchEvent(&bytes, event, key, old_value, new_value);
  for (const auto& [sink, session] : it->second) {
    Notice notice;
    notice.kind = Notice::Kind::kBytes;
    notice.bytes = bytes;
    sink->Post(session, std::move(notice));
  }
}

}  // namespace torch_store
}  // namespace tplaunch
