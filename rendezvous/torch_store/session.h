// Session: one TCPStore connection's protocol state machine, with PyTorch's
// server semantics, over the shared KvTable core. No sockets: bytes in, bytes
// out, and Notices for work that completes on other threads (tests drive it
// directly; the listener drives it from its epoll loop).
//
// Not thread-safe: a session is used by one loop thread only. The StoreContext
// it points to is shared by all sessions of a listener and is thread-safe.
#ifndef TPLAUNCH_RENDEZVOUS_TORCH_STORE_SESSION_H_
#define TPLAUNCH_RENDEZVOUS_TORCH_STORE_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rendezvous/torch_store/decoder.h"
#include "rendezvous/torch_store/notice.h"
#include "rendezvous/torch_store/protocol.h"
#include "rendezvous/torch_store/queue_table.h"
#include "rendezvous/torch_store/watch_table.h"
#include "store/kv_table.h"

namespace tplaunch {
namespace torch_store {

// What every session of one listener shares.
struct StoreContext {
  StoreContext(KvTable* table, std::string job, DecoderLimits limits,
               int64_t max_queue_bytes)
      : table(table),
        job(std::move(job)),
        limits(limits),
        queues(max_queue_bytes) {}

  KvTable* const table;   // Not owned; outlives every session.
  const std::string job;  // The KvTable job all TCPStore keys live in.
  const DecoderLimits limits;
  QueueTable queues;
  WatchTable watches;
};

class Session final {
 public:
  Session(StoreContext* context, std::shared_ptr<NoticeSink> sink, uint64_t id);
  // Cancels parked waits and drops queue and watch registrations.
  ~Session();

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Decodes and executes requests from the front of *input, appending replies
  // to *out, until *input is empty or out->size() reaches out_limit (the rest
  // of *input is left for a later call). Any error means the connection must
  // be closed; its message says why (a decode error, a request PyTorch's
  // server also drops the connection for such as GET of a missing key from a
  // 1.x client or ADD on a non-number, or a limit of the KvTable).
  absl::Status Consume(absl::string_view* input, std::string* out,
                       size_t out_limit);

  // Applies a notice posted to this session's sink. Errors as for Consume
  // (a parked WAIT ended by DeleteJob, idle expiry or shutdown).
  absl::Status OnNotice(Notice notice, std::string* out);

  uint64_t id() const { return id_; }
  Dialect dialect() const { return decoder_.dialect(); }
  bool mid_request() const { return decoder_.mid_request(); }
  // WAITs parked now.
  size_t parked_waits() const { return waits_.size(); }

 private:
  struct ParkedWait {
    WaiterId waiter = 0;
    // Keys still awaited (a queue push on one removes it, as PyTorch counts).
    std::vector<std::string> keys;
    bool queue_registered = false;
  };

  absl::Status Execute(Request& request, std::string* out);
  absl::Status Wait(Request& request, std::string* out);
  // Parks (or answers at once) a wait on `keys` under `seq`.
  absl::Status ParkOrAnswer(uint64_t seq, std::vector<std::string> keys,
                            bool register_queues, std::string* out);
  void CancelWait(std::string* out);
  void ForgetWait(uint64_t seq, ParkedWait& wait);
  absl::Status Set(absl::string_view key, absl::string_view value);
  void NotifyWatchers(absl::string_view key, bool existed,
                      absl::string_view old_value, absl::string_view new_value,
                      WatchReply changed);
  WaiterCallback WaitCallback(uint64_t seq);

  StoreContext* const context_;
  const std::shared_ptr<NoticeSink> sink_;
  const uint64_t id_;
  RequestDecoder decoder_;
  Request request_;
  uint64_t next_wait_seq_ = 1;
  absl::flat_hash_map<uint64_t, ParkedWait> waits_;
  bool watching_ = false;
};

}  // namespace torch_store
}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_TORCH_STORE_SESSION_H_
