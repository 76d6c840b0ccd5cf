#include "rendezvous/torch_store/encoder.h"

#include <cstddef>

namespace tplaunch {
namespace torch_store {

void AppendU8(std::string* out, uint8_t value) {
  out->push_back(static_cast<char>(value));
}

void AppendU32(std::string* out, uint32_t value) {
  char bytes[4];
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  out->append(bytes, sizeof(bytes));
}

void AppendU64(std::string* out, uint64_t value) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  out->append(bytes, sizeof(bytes));
}

void AppendI64(std::string* out, int64_t value) {
  AppendU64(out, static_cast<uint64_t>(value));
}

void AppendBlob(std::string* out, absl::string_view bytes) {
  AppendU64(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

void AppendWatchEvent(std::string* out, WatchReply event, absl::string_view key,
                      absl::string_view old_value,
                      absl::string_view new_value) {
  AppendU8(out, static_cast<uint8_t>(event));
  AppendBlob(out, key);
  AppendBlob(out, old_value);
  AppendBlob(out, new_value);
}

std::string EncodeRequest(Dialect dialect, const Request& request) {
  std::string out;
  AppendU8(&out, WireCode(dialect, request.op));
  switch (request.op) {
    case Op::kValidate:
    case Op::kPing:
      AppendU32(&out, request.u32);
      break;
    case Op::kSet:
    case Op::kAppend:
    case Op::kQueuePush:
      AppendBlob(&out, request.keys.at(0));
      AppendBlob(&out, request.values.at(0));
      break;
    case Op::kCompareSet:
      AppendBlob(&out, request.keys.at(0));
      AppendBlob(&out, request.values.at(0));
      AppendBlob(&out, request.values.at(1));
      break;
    case Op::kGet:
    case Op::kWatchKey:
    case Op::kDeleteKey:
    case Op::kQueuePop:
    case Op::kQueueLen:
      AppendBlob(&out, request.keys.at(0));
      break;
    case Op::kAdd:
      AppendBlob(&out, request.keys.at(0));
      AppendI64(&out, request.i64);
      break;
    case Op::kCheck:
    case Op::kWait:
    case Op::kMultiGet:
      AppendU64(&out, request.keys.size());
      for (const std::string& key : request.keys) AppendBlob(&out, key);
      break;
    case Op::kMultiSet:
      AppendU64(&out, request.keys.size());
      for (size_t i = 0; i < request.keys.size(); ++i) {
        AppendBlob(&out, request.keys[i]);
        AppendBlob(&out, request.values.at(i));
      }
      break;
    case Op::kGetNumKeys:
    case Op::kCancelWait:
    case Op::kListKeys:
      break;
  }
  return out;
}

}  // namespace torch_store
}  // namespace tplaunch
