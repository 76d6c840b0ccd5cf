// QueueTable: the FIFO queues of PyTorch >= 2.5's queue_push/queue_pop, shared
// by all TCPStore sessions of one listener, and the parked WAITs that a push
// may release. Queues live beside the KvTable, not in it: gRPC clients do not
// see them (docs/torch_store.md).
#ifndef TPLAUNCH_RENDEZVOUS_TORCH_STORE_QUEUE_TABLE_H_
#define TPLAUNCH_RENDEZVOUS_TORCH_STORE_QUEUE_TABLE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rendezvous/torch_store/notice.h"

namespace tplaunch {
namespace torch_store {

class QueueTable final {
 public:
  // max_total_bytes bounds the bytes held by all queues together.
  explicit QueueTable(int64_t max_total_bytes);

  QueueTable(const QueueTable&) = delete;
  QueueTable& operator=(const QueueTable&) = delete;

  // Appends value and hands one parked waiter of key (the oldest) a
  // kQueueWake notice. ResourceExhausted over max_total_bytes.
  absl::Status Push(absl::string_view key, std::string value);
  // The queue's length before the pop; *value gets the head when it was > 0.
  int64_t Pop(absl::string_view key, std::string* value);
  int64_t Len(absl::string_view key);

  // A parked WAIT that a push of `key` may release.
  struct Waiter {
    std::shared_ptr<NoticeSink> sink;
    uint64_t session = 0;
    uint64_t wait_seq = 0;
  };
  // Held while a WAIT decides which keys a non-empty queue satisfies and
  // registers for the rest, so that no push slips in between.
  std::unique_lock<std::mutex> Lock() {
    return std::unique_lock<std::mutex>(mu_);
  }
  bool NonEmptyLocked(absl::string_view key) const;
  void AddWaiterLocked(absl::string_view key, Waiter waiter);
  // Removes every registration of (session, wait_seq).
  void RemoveWaiter(uint64_t session, uint64_t wait_seq,
                    const std::vector<std::string>& keys);
  // A wake that reached a wait which had already ended: pass it on to the
  // next waiter when the queue still holds items.
  void Rewake(absl::string_view key);

 private:
  void WakeOneLocked(absl::string_view key);

  const int64_t max_total_bytes_;
  std::mutex mu_;
  int64_t total_bytes_ = 0;
  absl::flat_hash_map<std::string, std::deque<std::string>> queues_;
  absl::flat_hash_map<std::string, std::deque<Waiter>> waiters_;
};

}  // namespace torch_store
}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_TORCH_STORE_QUEUE_TABLE_H_
