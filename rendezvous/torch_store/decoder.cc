#include "rendezvous/torch_store/decoder.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace torch_store {
namespace {

// Never reserve more than this ahead of the bytes actually received: a peer
// that announces 8 MiB and sends 3 bytes costs 3 bytes plus this, not 8 MiB.
constexpr uint64_t kMaxReserveAhead = 64 * 1024;

std::string DescribeByte(uint8_t byte) {
  std::string text = absl::StrCat(byte);
  if (absl::ascii_isprint(byte)) {
    absl::StrAppend(&text, " ('", std::string(1, static_cast<char>(byte)),
                    "')");
  }
  return text;
}

}  // namespace

RequestDecoder::RequestDecoder(DecoderLimits limits) : limits_(limits) {}

absl::Status RequestDecoder::Fail(std::string message) {
  error_ = absl::InvalidArgumentError(std::move(message));
  return error_;
}

bool RequestDecoder::FillScratch(absl::string_view* input, int size) {
  const size_t take = std::min<size_t>(
      static_cast<size_t>(size - scratch_size_), input->size());
  std::memcpy(scratch_ + scratch_size_, input->data(), take);
  scratch_size_ += static_cast<int>(take);
  input->remove_prefix(take);
  offset_ += take;
  return scratch_size_ == size;
}

uint64_t RequestDecoder::ScratchU64() const {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | scratch_[i];
  return value;
}

uint32_t RequestDecoder::ScratchU32() const {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | scratch_[i];
  return value;
}

RequestDecoder::Field RequestDecoder::NextField() const {
  switch (current_.op) {
    case Op::kValidate:
    case Op::kPing:
      return field_ == 0 ? Field::kU32 : Field::kDone;
    case Op::kSet:
    case Op::kAppend:
    case Op::kQueuePush:
      return field_ == 0 ? Field::kKey
                         : (field_ == 1 ? Field::kValue : Field::kDone);
    case Op::kCompareSet:
      return field_ == 0 ? Field::kKey
                         : (field_ <= 2 ? Field::kValue : Field::kDone);
    case Op::kGet:
    case Op::kWatchKey:
    case Op::kDeleteKey:
    case Op::kQueuePop:
    case Op::kQueueLen:
      return field_ == 0 ? Field::kKey : Field::kDone;
    case Op::kAdd:
      return field_ == 0 ? Field::kKey
                         : (field_ == 1 ? Field::kI64 : Field::kDone);
    case Op::kCheck:
    case Op::kWait:
    case Op::kMultiGet:
      if (field_ == 0) return Field::kCount;
      return static_cast<uint64_t>(field_ - 1) < count_ ? Field::kKey
                                                        : Field::kDone;
    case Op::kMultiSet: {
      if (field_ == 0) return Field::kCount;
      const uint64_t index = static_cast<uint64_t>(field_ - 1);
      if (index / 2 >= count_) return Field::kDone;
      return index % 2 == 0 ? Field::kKey : Field::kValue;
    }
    case Op::kGetNumKeys:
    case Op::kCancelWait:
    case Op::kListKeys:
      return Field::kDone;
  }
  return Field::kDone;
}

bool RequestDecoder::ReadBlob(absl::string_view* input, Field kind) {
  std::vector<std::string>& target =
      kind == Field::kKey ? current_.keys : current_.values;
  if (!blob_started_) {
    const uint64_t length_offset = offset_ - scratch_size_;
    if (!FillScratch(input, 8)) return false;
    const uint64_t size = ScratchU64();
    scratch_size_ = 0;
    const bool is_key = kind == Field::kKey;
    const int64_t limit =
        is_key ? limits_.max_key_bytes : limits_.max_value_bytes;
    if (size > static_cast<uint64_t>(limit)) {
      (void)Fail(absl::StrCat(
          is_key ? "key" : "value", " length ", size, " at stream offset ",
          length_offset, " exceeds ",
          is_key ? "max_key_bytes=" : "max_value_bytes=", limit, " (",
          OpName(current_.op), " request at offset ", request_start_, ")"));
      return false;
    }
    request_bytes_ += static_cast<int64_t>(size);
    if (request_bytes_ > limits_.max_request_bytes) {
      (void)Fail(absl::StrCat(
          OpName(current_.op), " request at stream offset ", request_start_,
          " carries more than max_request_bytes=", limits_.max_request_bytes,
          " bytes of keys and values"));
      return false;
    }
    blob_started_ = true;
    blob_size_ = size;
    target.emplace_back();
    target.back().reserve(std::min(size, kMaxReserveAhead));
  }
  std::string& blob = target.back();
  const size_t take = std::min<size_t>(blob_size_ - blob.size(), input->size());
  blob.append(input->data(), take);
  input->remove_prefix(take);
  offset_ += take;
  if (blob.size() < blob_size_) return false;
  blob_started_ = false;
  return true;
}

absl::StatusOr<bool> RequestDecoder::Next(absl::string_view* input,
                                          Request* out) {
  if (!error_.ok()) return error_;
  while (true) {
    if (stage_ == Stage::kType) {
      if (input->empty()) return false;
      const uint8_t code = static_cast<uint8_t>((*input)[0]);
      input->remove_prefix(1);
      request_start_ = offset_;
      ++offset_;
      type_byte_ = code;
      current_.Clear();
      field_ = 0;
      count_ = 0;
      request_bytes_ = 0;
      blob_started_ = false;
      scratch_size_ = 0;
      if (dialect_ == Dialect::kUndecided) {
        if (code == 0) {
          // A 1.x SET or a 2.x VALIDATE: the next four bytes decide.
          stage_ = Stage::kProbe;
          continue;
        }
        dialect_ = Dialect::kV1;
      }
      if (!OpFromWire(dialect_, code, &current_.op)) {
        return Fail(absl::StrCat(
            "unknown request type ", DescribeByte(code), " at stream offset ",
            request_start_, " for a ", DialectName(dialect_), " connection",
            dialect_ == Dialect::kV1 && request_start_ == 0
                ? " (a PyTorch >= 2.2 client starts with VALIDATE: byte 0 "
                  "then u32 0x3C85F7CE)"
                : ""));
      }
      stage_ = Stage::kFields;
      continue;
    }

    if (stage_ == Stage::kProbe) {
      if (!FillScratch(input, 4)) return false;
      if (ScratchU32() == kValidateMagic) {
        dialect_ = Dialect::kV2;
        current_.op = Op::kValidate;
        current_.u32 = kValidateMagic;
        field_ = 1;
        scratch_size_ = 0;
      } else {
        // The four bytes are the low half of a 1.x SET's u64 key length; they
        // stay in scratch_ and the length read completes them.
        dialect_ = Dialect::kV1;
        current_.op = Op::kSet;
      }
      stage_ = Stage::kFields;
      continue;
    }

    const Field field = NextField();
    switch (field) {
      case Field::kDone:
        std::swap(*out, current_);
        stage_ = Stage::kType;
        return true;
      case Field::kU32:
        if (!FillScratch(input, 4)) return false;
        current_.u32 = ScratchU32();
        scratch_size_ = 0;
        ++field_;
        break;
      case Field::kI64:
        if (!FillScratch(input, 8)) return false;
        current_.i64 = static_cast<int64_t>(ScratchU64());
        scratch_size_ = 0;
        ++field_;
        break;
      case Field::kCount: {
        const uint64_t count_offset = offset_ - scratch_size_;
        if (!FillScratch(input, 8)) return false;
        const uint64_t count = ScratchU64();
        scratch_size_ = 0;
        if (count > static_cast<uint64_t>(limits_.max_keys_per_request)) {
          return Fail(absl::StrCat(
              OpName(current_.op), " request at stream offset ", request_start_,
              " names ", count, " keys (count at offset ", count_offset,
              "), over max_keys_per_request=", limits_.max_keys_per_request));
        }
        count_ = count;
        // Reserve only what a few packets could fill; the rest grows with the
        // bytes that actually arrive.
        const size_t reserve =
            static_cast<size_t>(std::min<uint64_t>(count, 1024));
        current_.keys.reserve(reserve);
        if (current_.op == Op::kMultiSet) current_.values.reserve(reserve);
        ++field_;
        break;
      }
      case Field::kKey:
      case Field::kValue:
        if (!ReadBlob(input, field)) {
          if (!error_.ok()) return error_;
          return false;
        }
        ++field_;
        break;
    }
  }
}

}  // namespace torch_store
}  // namespace tplaunch
