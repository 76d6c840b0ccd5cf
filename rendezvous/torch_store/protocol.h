// PyTorch TCPStore wire protocol: the vocabulary shared by the decoder, the
// encoder and the session (docs/torch_store.md has the byte layouts).
//
// Two dialects exist on the wire and are told apart per connection by its
// first bytes (see Dialect). Integers are little-endian; byte strings are a
// u64 length followed by the bytes.
#ifndef TPLAUNCH_RENDEZVOUS_TORCH_STORE_PROTOCOL_H_
#define TPLAUNCH_RENDEZVOUS_TORCH_STORE_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tplaunch {
namespace torch_store {

// PyTorch >= 2.2 sends this u32 right after a VALIDATE (0) byte as the first
// message of every connection.
inline constexpr uint32_t kValidateMagic = 0x3C85F7CE;

enum class Dialect : uint8_t {
  // Nothing decided yet: no byte seen, or only a 0 byte that may start either
  // a 1.x SET or a 2.x VALIDATE.
  kUndecided,
  // PyTorch 1.x and 2.0/2.1 (no handshake): SET 0 .. DELETE_KEY 8, APPEND 9,
  // MULTI_GET 10, MULTI_SET 11, CANCEL_WAIT 12.
  kV1,
  // PyTorch >= 2.2: VALIDATE 0 first, then SET 1 .. CANCEL_WAIT 12, PING 13,
  // QUEUE_PUSH 14, QUEUE_POP 15, QUEUE_LEN 16, LIST_KEYS 17.
  kV2,
};

const char* DialectName(Dialect dialect);

// Operations independent of their per-dialect wire code.
enum class Op : uint8_t {
  kValidate,    // u32 magic. No reply.
  kSet,         // key, value. No reply.
  kCompareSet,  // key, expected, desired. Reply: blob.
  kGet,         // key. Reply: blob.
  kAdd,         // key, i64 delta. Reply: i64.
  kCheck,       // u64 n, n keys. Reply: u8 CheckReply.
  kWait,        // u64 n, n keys. Reply (maybe later): u8 WaitReply.
  kGetNumKeys,  // Reply: i64.
  kWatchKey,    // 1.x only. key. Reply: u8 WatchReply.
  kDeleteKey,   // key. Reply: i64 (0 or 1).
  kAppend,      // key, value. No reply.
  kMultiGet,    // u64 n, n keys. Reply: n blobs.
  kMultiSet,    // u64 n, n (key, value). No reply.
  kCancelWait,  // Reply: u8 WaitReply::kWaitCanceled.
  kPing,        // 2.x only. u32 nonce. Reply: the same u32.
  kQueuePush,   // 2.x only. key, value. No reply.
  kQueuePop,    // 2.x only. key. Reply: i64 length before the pop, then a
                // blob when it was > 0.
  kQueueLen,    // 2.x only. key. Reply: i64.
  kListKeys,    // 2.x only. Reply: i64 n, n blobs.
};

const char* OpName(Op op);

// The operation a dialect's type byte stands for; false for codes the dialect
// does not define (VALIDATE counts only as a connection's first message, which
// the decoder handles itself).
bool OpFromWire(Dialect dialect, uint8_t code, Op* op);
// The type byte of `op` in `dialect` (tests and the fuzz corpus use it).
// Requires the dialect to define op.
uint8_t WireCode(Dialect dialect, Op op);

enum class CheckReply : uint8_t { kReady = 0, kNotReady = 1 };
enum class WaitReply : uint8_t { kStopWaiting = 0, kWaitCanceled = 1 };
enum class WatchReply : uint8_t {
  kKeyUpdated = 0,
  kKeyCreated = 1,
  kKeyDeleted = 2,
  kCallbackRegistered = 3,
  kKeyAppended = 4,
};

// One decoded request. Field use by op: keys[0] (and values[0]) for the
// single-key ops; COMPARE_SET has values = {expected, desired}; CHECK, WAIT,
// MULTI_GET carry keys; MULTI_SET carries keys[i] -> values[i]; ADD uses i64;
// VALIDATE and PING use u32.
struct Request {
  Op op = Op::kGetNumKeys;
  std::vector<std::string> keys;
  std::vector<std::string> values;
  int64_t i64 = 0;
  uint32_t u32 = 0;

  void Clear();
};

// Bounds that keep a connection's memory finite whatever the peer sends.
// Defaults are those of PyTorch's libuv server, plus a cap on a whole request.
struct DecoderLimits {
  // Longest key, bytes. Must stay below 0x3C85F7CE so that a 1.x SET can never
  // be mistaken for a 2.x VALIDATE (see docs/torch_store.md).
  int64_t max_key_bytes = 8 * 1024;
  // Longest value (SET, COMPARE_SET, APPEND, MULTI_SET, QUEUE_PUSH), bytes.
  int64_t max_value_bytes = 8 * 1024 * 1024;
  // Most keys in one CHECK, WAIT, MULTI_GET or MULTI_SET.
  int64_t max_keys_per_request = 128 * 1024;
  // Most payload bytes (keys + values) one request may carry in total.
  int64_t max_request_bytes = 64 * 1024 * 1024;
};

}  // namespace torch_store
}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_TORCH_STORE_PROTOCOL_H_
