#include "rendezvous/torch_store/protocol.h"

#include <array>
#include <cstdlib>

namespace tplaunch {
namespace torch_store {
namespace {

constexpr int kNoOp = -1;

// Index = wire code, value = Op (or kNoOp). VALIDATE is absent from both: the
// decoder accepts it only as a connection's first message.
constexpr std::array<int, 13> kV1Codes = {
    static_cast<int>(Op::kSet),        static_cast<int>(Op::kCompareSet),
    static_cast<int>(Op::kGet),        static_cast<int>(Op::kAdd),
    static_cast<int>(Op::kCheck),      static_cast<int>(Op::kWait),
    static_cast<int>(Op::kGetNumKeys), static_cast<int>(Op::kWatchKey),
    static_cast<int>(Op::kDeleteKey),  static_cast<int>(Op::kAppend),
    static_cast<int>(Op::kMultiGet),   static_cast<int>(Op::kMultiSet),
    static_cast<int>(Op::kCancelWait),
};

constexpr std::array<int, 18> kV2Codes = {
    kNoOp,
    static_cast<int>(Op::kSet),
    static_cast<int>(Op::kCompareSet),
    static_cast<int>(Op::kGet),
    static_cast<int>(Op::kAdd),
    static_cast<int>(Op::kCheck),
    static_cast<int>(Op::kWait),
    static_cast<int>(Op::kGetNumKeys),
    static_cast<int>(Op::kDeleteKey),
    static_cast<int>(Op::kAppend),
    static_cast<int>(Op::kMultiGet),
    static_cast<int>(Op::kMultiSet),
    static_cast<int>(Op::kCancelWait),
    static_cast<int>(Op::kPing),
    static_cast<int>(Op::kQueuePush),
    static_cast<int>(Op::kQueuePop),
    static_cast<int>(Op::kQueueLen),
    static_cast<int>(Op::kListKeys),
};

template <size_t N>
bool Lookup(const std::array<int, N>& table, uint8_t code, Op* op) {
  if (code >= N || table[code] == kNoOp) return false;
  *op = static_cast<Op>(table[code]);
  return true;
}

template <size_t N>
int Reverse(const std::array<int, N>& table, Op op) {
  for (size_t code = 0; code < N; ++code) {
    if (table[code] == static_cast<int>(op)) return static_cast<int>(code);
  }
  return kNoOp;
}

}  // namespace

const char* DialectName(Dialect dialect) {
  switch (dialect) {
    case Dialect::kUndecided:
      return "undecided";
    case Dialect::kV1:
      return "PyTorch 1.x";
    case Dialect::kV2:
      return "PyTorch >= 2.2";
  }
  return "?";
}

const char* OpName(Op op) {
  switch (op) {
    case Op::kValidate:
      return "VALIDATE";
    case Op::kSet:
      return "SET";
    case Op::kCompareSet:
      return "COMPARE_SET";
    case Op::kGet:
      return "GET";
    case Op::kAdd:
      return "ADD";
    case Op::kCheck:
      return "CHECK";
    case Op::kWait:
      return "WAIT";
    case Op::kGetNumKeys:
      return "GETNUMKEYS";
    case Op::kWatchKey:
      return "WATCH_KEY";
    case Op::kDeleteKey:
      return "DELETE_KEY";
    case Op::kAppend:
      return "APPEND";
    case Op::kMultiGet:
      return "MULTI_GET";
    case Op::kMultiSet:
      return "MULTI_SET";
    case Op::kCancelWait:
      return "CANCEL_WAIT";
    case Op::kPing:
      return "PING";
    case Op::kQueuePush:
      return "QUEUE_PUSH";
    case Op::kQueuePop:
      return "QUEUE_POP";
    case Op::kQueueLen:
      return "QUEUE_LEN";
    case Op::kListKeys:
      return "LIST_KEYS";
  }
  return "?";
}

bool OpFromWire(Dialect dialect, uint8_t code, Op* op) {
  switch (dialect) {
    case Dialect::kV1:
      return Lookup(kV1Codes, code, op);
    case Dialect::kV2:
      return Lookup(kV2Codes, code, op);
    case Dialect::kUndecided:
      return false;
  }
  return false;
}

uint8_t WireCode(Dialect dialect, Op op) {
  if (dialect == Dialect::kV2 && op == Op::kValidate) return 0;
  const int code =
      dialect == Dialect::kV1 ? Reverse(kV1Codes, op) : Reverse(kV2Codes, op);
  // A caller asking for a code its dialect lacks is a programming error.
  if (code == kNoOp) std::abort();
  return static_cast<uint8_t>(code);
}

void Request::Clear() {
  op = Op::kGetNumKeys;
  keys.clear();
  values.clear();
  i64 = 0;
  u32 = 0;
}

}  // namespace torch_store
}  // namespace tplaunch
