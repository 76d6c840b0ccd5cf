#include "rendezvous/torch_store/queue_table.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace torch_store {

QueueTable::QueueTable(int64_t max_total_bytes)
    : max_total_bytes_(max_total_bytes) {}

absl::Status QueueTable::Push(absl::string_view key, std::string value) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t size = static_cast<int64_t>(value.size());
  if (total_bytes_ + size > max_total_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("queue_push of ", size, " bytes would exceed the ",
                     max_total_bytes_, " bytes all queues may hold"));
  }
  total_bytes_ += size;
  queues_[key].push_back(std::move(value));
  WakeOneLocked(key);
  return absl::OkStatus();
}

int64_t QueueTable::Pop(absl::string_view key, std::string* value) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = queues_.find(key);
  if (it == queues_.end()) return 0;
  const int64_t length = static_cast<int64_t>(it->second.size());
  *value = std::move(it->second.front());
  it->second.pop_front();
  total_bytes_ -= static_cast<int64_t>(value->size());
  if (it->second.empty()) queues_.erase(it);
  return length;
}

int64_t QueueTable::Len(absl::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = queues_.find(key);
  return it == queues_.end() ? 0 : static_cast<int64_t>(it->second.size());
}

bool QueueTable::NonEmptyLocked(absl::string_view key) const {
  return queues_.contains(key);
}

void QueueTable::AddWaiterLocked(absl::string_view key, Waiter waiter) {
  waiters_[key].push_back(std::move(waiter));
}

void QueueTable::RemoveWaiter(uint64_t session, uint64_t wait_seq,
                              const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& key : keys) {
    auto it = waiters_.find(key);
    if (it == waiters_.end()) continue;
    std::deque<Waiter>& list = it->second;
    for (auto w = list.begin(); w != list.end();) {
      if (w->session == session && w->wait_seq == wait_seq) {
        w = list.erase(w);
      } else {
        ++w;
      }
    }
    if (list.empty()) waiters_.erase(it);
  }
}

void QueueTable::Rewake(absl::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (queues_.contains(key)) WakeOneLocked(key);
}

void QueueTable::WakeOneLocked(absl::string_view key) {
  auto it = waiters_.find(key);
  if (it == waiters_.end()) return;
  Waiter waiter = std::move(it->second.front());
  it->second.pop_front();
  if (it->second.empty()) waiters_.erase(it);
  Notice notice;
  notice.kind = Notice::Kind::kQueueWake;
  notice.wait_seq = waiter.wait_seq;
  notice.bytes = std::string(key);
  waiter.sink->Post(waiter.session, std::move(notice));
}

}  // namespace torch_store
}  // namespace tplaunch
