// Byte-level tests of the TCPStore codec: every 1.x request from the captures
// of the real PyTorch 1.13 client (../shared/torch-tcpstore/), every >= 2.2
// request from PyTorch's documented layout, chunking, and bad input.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "rendezvous/torch_store/decoder.h"
#include "rendezvous/torch_store/encoder.h"
#include "rendezvous/torch_store/protocol.h"
#include "tests/rendezvous/torch_store/wire_test_util.h"

namespace tplaunch {
namespace torch_store {
namespace {

// Decodes `chunks` in order with one decoder; fails the test on an error.
std::vector<Request> DecodeAll(RequestDecoder& decoder,
                               const std::vector<std::string>& chunks) {
  std::vector<Request> requests;
  for (const std::string& chunk : chunks) {
    absl::string_view input = chunk;
    while (true) {
      Request request;
      absl::StatusOr<bool> done = decoder.Next(&input, &request);
      REQUIRE(done.ok());
      if (!*done) break;
      requests.push_back(request);
    }
    REQUIRE(input.empty());
  }
  return requests;
}

std::vector<std::string> OneBytePerChunk(const std::string& bytes) {
  std::vector<std::string> chunks;
  for (char c : bytes) chunks.emplace_back(1, c);
  return chunks;
}

// The request `bytes` decodes to, fed whole and one byte at a time.
Request DecodeOne(const std::string& bytes, Dialect dialect_before) {
  for (bool bytewise : {false, true}) {
    RequestDecoder decoder;
    if (dialect_before == Dialect::kV2) {
      DecodeAll(decoder, {Hex("00 cef7853c")});
    }
    std::vector<Request> requests =
        DecodeAll(decoder, bytewise ? OneBytePerChunk(bytes)
                                    : std::vector<std::string>{bytes});
    REQUIRE(requests.size() == 1);
    REQUIRE_FALSE(decoder.mid_request());
    if (!bytewise) return requests[0];
  }
  FAIL("unreachable");
  return {};
}

void RequireEqual(const Request& got, const Request& want) {
  CHECK(OpName(got.op) == std::string(OpName(want.op)));
  CHECK(got.keys == want.keys);
  CHECK(got.values == want.values);
  CHECK(got.i64 == want.i64);
  CHECK(got.u32 == want.u32);
}

struct Capture {
  const char* name;
  const char* hex;
  Request want;
};

TEST_CASE("decodes every 1.x request captured from the PyTorch 1.13 client") {
  const std::vector<Capture> captures = {
      {"set", "0005000000000000002f6b657931040000000000000076616c31",
       MakeRequest(Op::kSet, {"/key1"}, {"val1"})},
      {"wait", "05010000000000000005000000000000002f6b657931",
       MakeRequest(Op::kWait, {"/key1"})},
      {"get", "0205000000000000002f6b657931", MakeRequest(Op::kGet, {"/key1"})},
      {"add 5", "0304000000000000002f6374720500000000000000",
       MakeRequest(Op::kAdd, {"/ctr"}, {}, 5)},
      {"add -2", "0304000000000000002f637472feffffffffffffff",
       MakeRequest(Op::kAdd, {"/ctr"}, {}, -2)},
      {"compare_set",
       "0105000000000000002f6b657931040000000000000076616c310400000000000000766"
       "1"
       "6c32",
       MakeRequest(Op::kCompareSet, {"/key1"}, {"val1", "val2"})},
      {"compare_set empty expected",
       "0107000000000000002f6e65776b6579000000000000000005000000000000006672657"
       "368",
       MakeRequest(Op::kCompareSet, {"/newkey"}, {"", "fresh"})},
      {"wait two keys",
       "05020000000000000005000000000000002f6b65793104000000000000002f637472",
       MakeRequest(Op::kWait, {"/key1", "/ctr"})},
      {"num_keys", "06", MakeRequest(Op::kGetNumKeys)},
      {"delete_key", "0805000000000000002f6b657931",
       MakeRequest(Op::kDeleteKey, {"/key1"})},
      {"add init/ without prefix",
       "030500000000000000696e69742f0100000000000000",
       MakeRequest(Op::kAdd, {"init/"}, {}, 1)},
      {"check", "04010000000000000003000000000000002f636b",
       MakeRequest(Op::kCheck, {"/ck"})},
      {"check two keys",
       "04020000000000000003000000000000002f636b06000000000000002f6e6f6b6579",
       MakeRequest(Op::kCheck, {"/ck", "/nokey"})},
      {"watch_key", "0703000000000000002f776b",
       MakeRequest(Op::kWatchKey, {"/wk"})},
  };
  for (const Capture& capture : captures) {
    SECTION(capture.name) {
      RequestDecoder decoder;
      Request got = DecodeOne(Hex(capture.hex), Dialect::kUndecided);
      RequireEqual(got, capture.want);
      // Re-encoding gives the captured bytes back.
      CHECK(ToHex(EncodeRequest(Dialect::kV1, capture.want)) ==
            ToHex(Hex(capture.hex)));
    }
  }
}

TEST_CASE("a 1.x type byte sent in its own segment, as the C++ client does") {
  RequestDecoder decoder;
  // From the capture: "check({ck, nokey})" arrived as 04 then 33 bytes, and
  // "set(wk, w1)" as 00 then 21 bytes on an established connection.
  std::vector<Request> requests = DecodeAll(
      decoder, {Hex("04"),
                Hex("020000000000000003000000000000002f636b06000000000000002f6e"
                    "6f6b6579"),
                Hex("00"), Hex("03000000000000002f776b02000000000000007731")});
  REQUIRE(requests.size() == 2);
  RequireEqual(requests[0], MakeRequest(Op::kCheck, {"/ck", "/nokey"}));
  RequireEqual(requests[1], MakeRequest(Op::kSet, {"/wk"}, {"w1"}));
  CHECK(decoder.dialect() == Dialect::kV1);
}

TEST_CASE("a connection's first SET sent as 00 then the rest is 1.x") {
  RequestDecoder decoder;
  std::vector<Request> requests = DecodeAll(
      decoder,
      {Hex("00"), Hex("030000"), Hex("00000000002f776b02000000000000007731")});
  REQUIRE(requests.size() == 1);
  RequireEqual(requests[0], MakeRequest(Op::kSet, {"/wk"}, {"w1"}));
  CHECK(decoder.dialect() == Dialect::kV1);
}

TEST_CASE("several requests in one chunk, and a 2000-byte value") {
  RequestDecoder decoder;
  const std::string big(2000, 'B');
  std::string bytes =
      EncodeRequest(Dialect::kV1, MakeRequest(Op::kSet, {"/big"}, {big}));
  bytes += Hex("06");
  bytes += Hex("0205000000000000002f6b657931");
  std::vector<Request> requests = DecodeAll(decoder, {bytes});
  REQUIRE(requests.size() == 3);
  RequireEqual(requests[0], MakeRequest(Op::kSet, {"/big"}, {big}));
  RequireEqual(requests[1], MakeRequest(Op::kGetNumKeys));
  RequireEqual(requests[2], MakeRequest(Op::kGet, {"/key1"}));
}

TEST_CASE(
    "1.x appended ops: APPEND 9, MULTI_GET 10, MULTI_SET 11, CANCEL_WAIT 12") {
  RequireEqual(DecodeOne(Hex("09 0100000000000000 61 0200000000000000 7879"),
                         Dialect::kUndecided),
               MakeRequest(Op::kAppend, {"a"}, {"xy"}));
  RequireEqual(DecodeOne(Hex("0a 0200000000000000 0100000000000000 61 "
                             "0100000000000000 62"),
                         Dialect::kUndecided),
               MakeRequest(Op::kMultiGet, {"a", "b"}));
  RequireEqual(
      DecodeOne(
          Hex("0b 0200000000000000 0100000000000000 61 0100000000000000 31"
              " 0100000000000000 62 0000000000000000"),
          Dialect::kUndecided),
      MakeRequest(Op::kMultiSet, {"a", "b"}, {"1", ""}));
  RequireEqual(DecodeOne(Hex("0c"), Dialect::kUndecided),
               MakeRequest(Op::kCancelWait));
}

TEST_CASE("PyTorch >= 2.2: VALIDATE then every op at its shifted code") {
  SECTION("VALIDATE is the first message and selects the dialect") {
    RequestDecoder decoder;
    std::vector<Request> requests = DecodeAll(decoder, {Hex("00 ce f7 85 3c")});
    REQUIRE(requests.size() == 1);
    RequireEqual(requests[0],
                 MakeRequest(Op::kValidate, {}, {}, 0, kValidateMagic));
    CHECK(decoder.dialect() == Dialect::kV2);
  }
  SECTION("VALIDATE split across segments") {
    RequestDecoder decoder;
    std::vector<Request> requests =
        DecodeAll(decoder, {Hex("00"), Hex("ce f7"), Hex("85"), Hex("3c 06")});
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].op == Op::kValidate);
    // 6 is WAIT in 2.x (GETNUMKEYS in 1.x): it needs its count next.
    CHECK(decoder.mid_request());
  }
  struct V2Case {
    const char* name;
    const char* hex;
    Request want;
  };
  const std::vector<V2Case> cases = {
      {"SET 1", "01 0200000000000000 2f6b 0100000000000000 76",
       MakeRequest(Op::kSet, {"/k"}, {"v"})},
      {"COMPARE_SET 2",
       "02 0200000000000000 2f6b 0000000000000000 0100000000000000 64",
       MakeRequest(Op::kCompareSet, {"/k"}, {"", "d"})},
      {"GET 3", "03 0200000000000000 2f6b", MakeRequest(Op::kGet, {"/k"})},
      {"ADD 4", "04 0200000000000000 2f6b 0700000000000000",
       MakeRequest(Op::kAdd, {"/k"}, {}, 7)},
      {"CHECK 5", "05 0100000000000000 0200000000000000 2f6b",
       MakeRequest(Op::kCheck, {"/k"})},
      {"WAIT 6", "06 0100000000000000 0200000000000000 2f6b",
       MakeRequest(Op::kWait, {"/k"})},
      {"GETNUMKEYS 7", "07", MakeRequest(Op::kGetNumKeys)},
      {"DELETE_KEY 8", "08 0200000000000000 2f6b",
       MakeRequest(Op::kDeleteKey, {"/k"})},
      {"APPEND 9", "09 0200000000000000 2f6b 0100000000000000 76",
       MakeRequest(Op::kAppend, {"/k"}, {"v"})},
      {"MULTI_GET 10",
       "0a 0200000000000000 0200000000000000 2f61 0200000000000000 2f62",
       MakeRequest(Op::kMultiGet, {"/a", "/b"})},
      {"MULTI_SET 11",
       "0b 0100000000000000 0200000000000000 2f61 0100000000000000 31",
       MakeRequest(Op::kMultiSet, {"/a"}, {"1"})},
      {"CANCEL_WAIT 12", "0c", MakeRequest(Op::kCancelWait)},
      {"PING 13", "0d 78563412", MakeRequest(Op::kPing, {}, {}, 0, 0x12345678)},
      {"QUEUE_PUSH 14", "0e 0200000000000000 2f71 0100000000000000 78",
       MakeRequest(Op::kQueuePush, {"/q"}, {"x"})},
      {"QUEUE_POP 15", "0f 0200000000000000 2f71",
       MakeRequest(Op::kQueuePop, {"/q"})},
      {"QUEUE_LEN 16", "10 0200000000000000 2f71",
       MakeRequest(Op::kQueueLen, {"/q"})},
      {"LIST_KEYS 17", "11", MakeRequest(Op::kListKeys)},
  };
  for (const V2Case& c : cases) {
    SECTION(c.name) {
      RequireEqual(DecodeOne(Hex(c.hex), Dialect::kV2), c.want);
      CHECK(ToHex(EncodeRequest(Dialect::kV2, c.want)) == ToHex(Hex(c.hex)));
    }
  }
}

// The error a fresh decoder returns for `bytes`, fed whole and bytewise (the
// same message either way).
std::string DecodeError(const std::string& bytes, DecoderLimits limits = {}) {
  std::string message;
  for (bool bytewise : {false, true}) {
    RequestDecoder decoder(limits);
    std::vector<std::string> chunks =
        bytewise ? OneBytePerChunk(bytes) : std::vector<std::string>{bytes};
    absl::Status error;
    for (const std::string& chunk : chunks) {
      absl::string_view input = chunk;
      Request request;
      while (error.ok()) {
        absl::StatusOr<bool> done = decoder.Next(&input, &request);
        if (!done.ok()) {
          error = done.status();
        } else if (!*done) {
          break;
        }
      }
      if (!error.ok()) break;
    }
    REQUIRE_FALSE(error.ok());
    CHECK(error.code() == absl::StatusCode::kInvalidArgument);
    // Failed decoders stay failed.
    absl::string_view more = "\x06";
    Request request;
    CHECK(decoder.Next(&more, &request).status() == error);
    if (!bytewise) {
      message = std::string(error.message());
    } else {
      CHECK(std::string(error.message()) == message);
    }
  }
  return message;
}

TEST_CASE("bad input is an error that names the reason") {
  SECTION("an HTTP request (port scanner)") {
    const std::string message = DecodeError("GET / HTTP/1.1\r\n\r\n");
    CHECK(absl::StrContains(message, "unknown request type 71 ('G')"));
    CHECK(absl::StrContains(message, "offset 0"));
  }
  SECTION("a TLS ClientHello") {
    CHECK(absl::StrContains(DecodeError(Hex("16 03 01 02 00 01")),
                            "unknown request type 22"));
  }
  SECTION("a 2.x-only op without the handshake") {
    CHECK(absl::StrContains(DecodeError(Hex("0d 78563412")),
                            "starts with VALIDATE"));
  }
  SECTION("VALIDATE again after the handshake") {
    CHECK(absl::StrContains(DecodeError(Hex("00 cef7853c 00 cef7853c")),
                            "unknown request type 0 at stream offset 5"));
  }
  SECTION("WATCH_KEY's code 7 is GETNUMKEYS in 2.x; 18 is unknown") {
    CHECK(absl::StrContains(DecodeError(Hex("00 cef7853c 12")),
                            "unknown request type 18"));
  }
  SECTION("a key length over the limit, before any key byte arrives") {
    const std::string message =
        DecodeError(Hex("02 0120000000000000"));  // 8193-byte key
    CHECK(absl::StrContains(message, "key length 8193"));
    CHECK(absl::StrContains(message, "max_key_bytes=8192"));
    CHECK(absl::StrContains(message, "GET"));
  }
  SECTION("a 2^64-1 key length") {
    CHECK(absl::StrContains(DecodeError(Hex("02 ffffffffffffffff")),
                            "key length 18446744073709551615"));
  }
  SECTION("a value length over the limit") {
    const std::string message =
        DecodeError(Hex("00 0100000000000000 61 0100800000000000"));
    CHECK(absl::StrContains(message, "value length 8388609"));
    CHECK(absl::StrContains(message, "max_value_bytes=8388608"));
    CHECK(absl::StrContains(message, "SET"));
  }
  SECTION("too many keys in a WAIT") {
    const std::string message = DecodeError(Hex("05 0100020000000000"));
    CHECK(absl::StrContains(message, "names 131073 keys"));
    CHECK(absl::StrContains(message, "max_keys_per_request=131072"));
  }
  SECTION("a MULTI_SET over the request size limit") {
    DecoderLimits limits;
    limits.max_request_bytes = 10;
    const std::string message = DecodeError(
        Hex("0b 0200000000000000 0100000000000000 61 0800000000000000 "
            "3132333435363738 0100000000000000 62 0100000000000000"),
        limits);
    CHECK(absl::StrContains(message, "max_request_bytes=10"));
  }
}

TEST_CASE("a truncated request stays pending, holding only what arrived") {
  RequestDecoder decoder;
  absl::string_view input = "\x00\x05\x00\x00\x00\x00\x00\x00\x00/k";
  input = absl::string_view(input.data(), 11);
  Request request;
  absl::StatusOr<bool> done = decoder.Next(&input, &request);
  REQUIRE(done.ok());
  CHECK_FALSE(*done);
  CHECK(decoder.mid_request());
  CHECK(decoder.offset() == 11);
}

TEST_CASE("reply encoders match the bytes the 1.13 server sent") {
  std::string out;
  AppendBlob(&out, "val1");
  CHECK(ToHex(out) == "040000000000000076616c31");
  out.clear();
  AppendI64(&out, 5);
  CHECK(ToHex(out) == "0500000000000000");
  out.clear();
  AppendI64(&out, -2);
  CHECK(ToHex(out) == "feffffffffffffff");
  out.clear();
  AppendU8(&out, static_cast<uint8_t>(WatchReply::kCallbackRegistered));
  CHECK(ToHex(out) == "03");
  out.clear();
  AppendWatchEvent(&out, WatchReply::kKeyCreated, "/wk", "", "w1");
  CHECK(ToHex(out) ==
        "01"
        "03000000000000002f776b000000000000000002000000000000007731");
  out.clear();
  AppendU32(&out, 0x12345678);
  CHECK(ToHex(out) == "78563412");
}

}  // namespace
}  // namespace torch_store
}  // namespace tplaunch
