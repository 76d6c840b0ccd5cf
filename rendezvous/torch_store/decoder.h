// RequestDecoder: turns a TCPStore connection's byte stream, fed in chunks of
// any size, into Requests. Pure (no sockets, no store), so it is fuzzed on its
// own (tests/rendezvous/torch_store/decoder_fuzz.cc).
//
// The first bytes of a connection decide its dialect (protocol.h): a 0 byte
// followed by the u32 0x3C85F7CE is a PyTorch >= 2.2 VALIDATE; anything else
// is PyTorch 1.x. Every length and count is checked against DecoderLimits as
// soon as its bytes arrive, before anything is allocated for it, so memory
// stays bounded by the limits whatever the peer sends.
#ifndef TPLAUNCH_RENDEZVOUS_TORCH_STORE_DECODER_H_
#define TPLAUNCH_RENDEZVOUS_TORCH_STORE_DECODER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rendezvous/torch_store/protocol.h"

namespace tplaunch {
namespace torch_store {

class RequestDecoder final {
 public:
  explicit RequestDecoder(DecoderLimits limits = {});

  RequestDecoder(const RequestDecoder&) = delete;
  RequestDecoder& operator=(const RequestDecoder&) = delete;

  // Consumes bytes from the front of *input until one request is complete:
  // returns true with *out holding it (its previous contents are recycled).
  // Returns false once *input is empty and the request is still incomplete;
  // the partial request is kept for the next call. Errors (InvalidArgument:
  // unknown request type, a length, count or request size over its limit) name
  // the reason, the request type and the byte offset in the stream; the
  // decoder then stays failed and returns the same error forever.
  absl::StatusOr<bool> Next(absl::string_view* input, Request* out);

  Dialect dialect() const { return dialect_; }
  // True while part of a request has been consumed but not completed.
  bool mid_request() const { return stage_ != Stage::kType; }
  // Bytes consumed since construction.
  uint64_t offset() const { return offset_; }

 private:
  enum class Stage : uint8_t { kType, kProbe, kFields };
  enum class Field : uint8_t { kDone, kU32, kI64, kCount, kKey, kValue };

  Field NextField() const;
  // Copies up to `size` bytes (in total, across calls) into scratch_; true
  // when it holds all of them.
  bool FillScratch(absl::string_view* input, int size);
  uint64_t ScratchU64() const;
  uint32_t ScratchU32() const;
  absl::Status Fail(std::string message);
  // Reads a length-prefixed blob into keys (kKey) or values (kValue); true
  // when complete. Sets error_ on a limit violation.
  bool ReadBlob(absl::string_view* input, Field kind);

  const DecoderLimits limits_;
  Dialect dialect_ = Dialect::kUndecided;
  Stage stage_ = Stage::kType;
  absl::Status error_;

  Request current_;
  uint64_t request_start_ = 0;  // Stream offset of current_'s type byte.
  uint8_t type_byte_ = 0;
  int field_ = 0;              // Fields of current_ completed so far.
  uint64_t count_ = 0;         // Entries announced by a list request.
  int64_t request_bytes_ = 0;  // Key and value bytes announced so far.
  bool blob_started_ = false;  // The current blob's length has been read.
  uint64_t blob_size_ = 0;

  uint8_t scratch_[8] = {};
  int scratch_size_ = 0;
  uint64_t offset_ = 0;
};

}  // namespace torch_store
}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_TORCH_STORE_DECODER_H_
