// WatchTable: PyTorch 1.x WATCH_KEY registrations of one listener's sessions.
// Changes made through the TCPStore listener are reported (as the 1.x server
// does: u8 event, key, old value, new value); changes made by gRPC clients are
// not, because the KvTable has no change feed (docs/torch_store.md).
#ifndef TPLAUNCH_RENDEZVOUS_TORCH_STORE_WATCH_TABLE_H_
#define TPLAUNCH_RENDEZVOUS_TORCH_STORE_WATCH_TABLE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "rendezvous/torch_store/notice.h"
#include "rendezvous/torch_store/protocol.h"

namespace tplaunch {
namespace torch_store {

class WatchTable final {
 public:
  WatchTable() = default;
  WatchTable(const WatchTable&) = delete;
  WatchTable& operator=(const WatchTable&) = delete;

  void Add(absl::string_view key, std::shared_ptr<NoticeSink> sink,
           uint64_t session);
  void RemoveSession(uint64_t session);
  // Cheap, lock-free test for the common case of no watcher at all.
  bool Empty() const { return count_.load(std::memory_order_acquire) == 0; }
  bool Watched(absl::string_view key);
  void Notify(absl::string_view key, WatchReply event,
              absl::string_view old_value, absl::string_view new_value);

 private:
  std::mutex mu_;
  std::atomic<int64_t> count_{0};
  absl::flat_hash_map<
      std::string,
      std::vector<std::pair<std::shared_ptr<NoticeSink>, uint64_t>>>
      watchers_;
};

}  // namespace torch_store
}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_TORCH_STORE_WATCH_TABLE_H_
