// Helpers for the TCPStore byte-level tests: hex <-> bytes, request builders.
#ifndef TPLAUNCH_TESTS_TORCH_STORE_WIRE_TEST_UTIL_H_
#define TPLAUNCH_TESTS_TORCH_STORE_WIRE_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "rendezvous/torch_store/protocol.h"

namespace tplaunch {
namespace torch_store {

// "0a ff" or "0aff" -> bytes.
inline std::string Hex(absl::string_view hex) {
  std::string compact;
  for (char c : hex) {
    if (c != ' ' && c != '\n') compact.push_back(c);
  }
  return absl::HexStringToBytes(compact);
}

inline std::string ToHex(absl::string_view bytes) {
  return absl::BytesToHexString(bytes);
}

inline Request MakeRequest(Op op, std::vector<std::string> keys = {},
                           std::vector<std::string> values = {},
                           int64_t i64 = 0, uint32_t u32 = 0) {
  Request request;
  request.op = op;
  request.keys = std::move(keys);
  request.values = std::move(values);
  request.i64 = i64;
  request.u32 = u32;
  return request;
}

}  // namespace torch_store
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_TORCH_STORE_WIRE_TEST_UTIL_H_
