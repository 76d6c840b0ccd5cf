// Notice and NoticeSink: how work finished on another thread (a KvTable waiter
// released by a gRPC Set, a queue push, a watched key changing) reaches the
// loop thread that owns a TCPStore session. Sessions are single-threaded; only
// notices cross threads.
#ifndef TPLAUNCH_RENDEZVOUS_TORCH_STORE_NOTICE_H_
#define TPLAUNCH_RENDEZVOUS_TORCH_STORE_NOTICE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace tplaunch {
namespace torch_store {

struct Notice {
  enum class Kind : uint8_t {
    // A parked WAIT's KvTable waiter ended: `status` OK when its keys exist.
    kWaitDone,
    // QUEUE_PUSH on `bytes` (a key) chose this session's parked WAIT
    // `wait_seq`.
    kQueueWake,
    // Bytes to append to the session's output as they are (WATCH_KEY events).
    kBytes,
  };
  Kind kind = Kind::kBytes;
  uint64_t wait_seq = 0;
  absl::Status status;
  std::string bytes;
};

// Delivers notices to the thread that owns `session_id`. Thread-safe; never
// calls back into the caller. Notices for sessions that no longer exist are
// dropped by the receiver.
class NoticeSink {
 public:
  virtual ~NoticeSink() = default;
  virtual void Post(uint64_t session_id, Notice notice) = 0;
};

}  // namespace torch_store
}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_TORCH_STORE_NOTICE_H_
