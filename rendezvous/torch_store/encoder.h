// Byte encoders for TCPStore replies (server side) and requests (client side,
// for tests, the fuzz corpus and benchmarks). Little-endian integers; byte
// strings as a u64 length then the bytes, as PyTorch's tcputil writes them.
#ifndef TPLAUNCH_RENDEZVOUS_TORCH_STORE_ENCODER_H_
#define TPLAUNCH_RENDEZVOUS_TORCH_STORE_ENCODER_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "rendezvous/torch_store/protocol.h"

namespace tplaunch {
namespace torch_store {

void AppendU8(std::string* out, uint8_t value);
void AppendU32(std::string* out, uint32_t value);
void AppendU64(std::string* out, uint64_t value);
void AppendI64(std::string* out, int64_t value);
// u64 length + bytes.
void AppendBlob(std::string* out, absl::string_view bytes);

// A WATCH_KEY notification as the 1.x server sends it on the callback
// connection: u8 event, key, old value, new value.
void AppendWatchEvent(std::string* out, WatchReply event, absl::string_view key,
                      absl::string_view old_value, absl::string_view new_value);

// The bytes a PyTorch client of `dialect` sends for `request` (VALIDATE only
// in kV2). The inverse of RequestDecoder.
std::string EncodeRequest(Dialect dialect, const Request& request);

}  // namespace torch_store
}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_TORCH_STORE_ENCODER_H_
