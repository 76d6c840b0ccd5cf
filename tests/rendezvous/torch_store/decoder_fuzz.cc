// libFuzzer target for the TCPStore request decoder, built with clang by
// tests/rendezvous/torch_store/run_fuzz.sh. The first input byte picks how the
// rest is cut into chunks, so split type bytes, split lengths and split blobs
// are all explored; invariants: no crash, no leak, bounded memory (the limits
// are small here so that an over-limit length is cheap to reach), and a decoder
// that failed stays failed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "rendezvous/torch_store/decoder.h"
#include "rendezvous/torch_store/encoder.h"
#include "rendezvous/torch_store/protocol.h"

namespace {

using tplaunch::torch_store::DecoderLimits;
using tplaunch::torch_store::Request;
using tplaunch::torch_store::RequestDecoder;

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 16;
  absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  DecoderLimits limits;
  limits.max_key_bytes = 64;
  limits.max_value_bytes = 256;
  limits.max_keys_per_request = 16;
  limits.max_request_bytes = 1024;
  RequestDecoder decoder(limits);
  Request request;
  bool failed = false;
  while (!rest.empty() && !failed) {
    absl::string_view input = rest.substr(0, chunk);
    rest.remove_prefix(input.size());
    while (true) {
      const uint64_t before = decoder.offset();
      absl::StatusOr<bool> done = decoder.Next(&input, &request);
      if (!done.ok()) {
        failed = true;
        Check(!done.status().message().empty());
        absl::string_view more = "\x06";
        Check(!decoder.Next(&more, &request).ok());
        break;
      }
      Check(decoder.offset() >= before);
      if (!*done) {
        Check(input.empty());
        break;
      }
      // Decoded requests respect the limits and re-encode to the bytes read.
      Check(request.keys.size() <= 16 + 1);
      for (const std::string& key : request.keys) Check(key.size() <= 64);
      for (const std::string& value : request.values) {
        Check(value.size() <= 256);
      }
      if (decoder.dialect() != tplaunch::torch_store::Dialect::kUndecided &&
          request.op != tplaunch::torch_store::Op::kValidate) {
        const std::string again =
            tplaunch::torch_store::EncodeRequest(decoder.dialect(), request);
        RequestDecoder second(limits);
        if (decoder.dialect() == tplaunch::torch_store::Dialect::kV2) {
          absl::string_view hello("\x00\xce\xf7\x85\x3c", 5);
          Check(second.Next(&hello, &request).value());
        }
        absl::string_view replay = again;
        Request copy;
        absl::StatusOr<bool> replayed = second.Next(&replay, &copy);
        // A 1.x SET re-encoded first on a fresh decoder is still a SET.
        Check(replayed.ok() && *replayed && replay.empty());
      }
    }
  }
  return 0;
}
