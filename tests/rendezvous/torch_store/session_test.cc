// Semantics of a TCPStore session, byte for byte against what PyTorch's servers
// answer (the 1.13 transcript from ../shared/torch-tcpstore/ and the >= 2.2
// libuv server's documented behaviour), with several sessions over one
// KvTable and notices pumped by hand.
#include "rendezvous/torch_store/session.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "rendezvous/torch_store/encoder.h"
#include "store/kv_table.h"
#include "tests/rendezvous/torch_store/wire_test_util.h"

namespace tplaunch {
namespace torch_store {
namespace {

class TestSink final : public NoticeSink {
 public:
  void Post(uint64_t session_id, Notice notice) override {
    std::lock_guard<std::mutex> lock(mu_);
    notices_.emplace_back(session_id, std::move(notice));
  }
  std::vector<std::pair<uint64_t, Notice>> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(notices_);
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<uint64_t, Notice>> notices_;
};

struct Harness {
  KvTable table;
  StoreContext context{&table, "torch", DecoderLimits{}, 1 << 20};
  std::shared_ptr<TestSink> sink = std::make_shared<TestSink>();
  std::map<uint64_t, std::unique_ptr<Session>> sessions;
  std::map<uint64_t, std::string> outputs;
  uint64_t next_id = 1;

  uint64_t Connect() {
    const uint64_t id = next_id++;
    sessions[id] = std::make_unique<Session>(&context, sink, id);
    return id;
  }

  // Feeds bytes (hex) to session `id`; returns the status.
  absl::Status Feed(uint64_t id, absl::string_view hex) {
    const std::string bytes = Hex(hex);
    absl::string_view input = bytes;
    absl::Status status =
        sessions.at(id)->Consume(&input, &outputs[id], 1 << 30);
    if (status.ok()) REQUIRE(input.empty());
    return status;
  }

  // Delivers pending notices; returns the first error (and its session).
  absl::Status Pump() {
    absl::Status first;
    for (auto& [id, notice] : sink->Take()) {
      auto it = sessions.find(id);
      if (it == sessions.end()) continue;
      absl::Status status =
          it->second->OnNotice(std::move(notice), &outputs[id]);
      if (first.ok()) first = status;
    }
    return first;
  }

  // Sends bytes, pumps notices, returns (and clears) the session's output.
  std::string Exchange(uint64_t id, absl::string_view hex) {
    REQUIRE(Feed(id, hex).ok());
    REQUIRE(Pump().ok());
    return TakeOutput(id);
  }

  std::string TakeOutput(uint64_t id) {
    std::string out = ToHex(outputs[id]);
    outputs[id].clear();
    return out;
  }
};

const char kValidate[] = "00cef7853c";

TEST_CASE("the PyTorch 1.13 transcript, reply for reply") {
  Harness h;
  const uint64_t a = h.Connect();
  // set('key1', b'val1'): no reply.
  CHECK(h.Exchange(a, "0005000000000000002f6b657931040000000000000076616c31") ==
        "");
  // get('key1') = WAIT then GET.
  CHECK(h.Exchange(a, "05010000000000000005000000000000002f6b657931") == "00");
  CHECK(h.Exchange(a, "0205000000000000002f6b657931") ==
        "040000000000000076616c31");
  // add('ctr', 5) -> 5; add('ctr', -2) -> 3; get -> b'3'.
  CHECK(h.Exchange(a, "0304000000000000002f6374720500000000000000") ==
        "0500000000000000");
  CHECK(h.Exchange(a, "0304000000000000002f637472feffffffffffffff") ==
        "0300000000000000");
  CHECK(h.Exchange(a, "0204000000000000002f637472") == "010000000000000033");
  // compare_set hit, miss, missing+empty expected, missing+non-empty expected.
  CHECK(
      h.Exchange(
          a,
          "0105000000000000002f6b657931040000000000000076616c310400000000000000"
          "76616c32") == "040000000000000076616c32");
  CHECK(
      h.Exchange(
          a,
          "0105000000000000002f6b65793104000000000000006e6f70650400000000000000"
          "76616c33") == "040000000000000076616c32");
  CHECK(h.Exchange(
            a,
            "0107000000000000002f6e65776b657900000000000000000500000000000000"
            "6672657368") == "05000000000000006672657368");
  CHECK(h.Exchange(
            a,
            "0107000000000000002f6e6f6b6579320100000000000000780100000000000000"
            "79") == "010000000000000078");
  // wait on existing keys.
  CHECK(h.Exchange(a,
                   "05020000000000000005000000000000002f6b657931040000000000000"
                   "02f637472") == "00");
  // num_keys: /key1, /ctr, /newkey.
  CHECK(h.Exchange(a, "06") == "0300000000000000");
  // delete_key existing, missing.
  CHECK(h.Exchange(a, "0805000000000000002f6b657931") == "0100000000000000");
  CHECK(h.Exchange(a, "0808000000000000002f6d697373696e67") ==
        "0000000000000000");
  // init/ without the prefix.
  CHECK(h.Exchange(a, "030500000000000000696e69742f0100000000000000") ==
        "0100000000000000");
  // check true / false.
  CHECK(h.Exchange(a, "0003000000000000002f636b02000000000000006376") == "");
  CHECK(h.Exchange(a, "04010000000000000003000000000000002f636b") == "00");
  CHECK(h.Exchange(a,
                   "04020000000000000003000000000000002f636b06000000000000002f6"
                   "e6f6b6579") == "01");
}

TEST_CASE("a parked WAIT answers when another client sets the key") {
  Harness h;
  const uint64_t a = h.Connect();
  const uint64_t b = h.Connect();
  CHECK(h.Exchange(a, "05010000000000000005000000000000002f6c617465") == "");
  CHECK(h.sessions[a]->parked_waits() == 1);
  CHECK(h.Exchange(b, "0005000000000000002f6c61746502000000000000004c38") ==
        "");
  CHECK(h.TakeOutput(a) == "00");
  CHECK(h.Exchange(a, "0205000000000000002f6c617465") ==
        "02000000000000004c38");
  CHECK(h.sessions[a]->parked_waits() == 0);
}

TEST_CASE("a gRPC-side Set in the same job releases a TCPStore WAIT") {
  Harness h;
  const uint64_t a = h.Connect();
  CHECK(h.Exchange(a, "05010000000000000002000000000000002f78") == "");
  REQUIRE(h.table.Set("torch", "/x", "1").ok());
  REQUIRE(h.Pump().ok());
  CHECK(h.TakeOutput(a) == "00");
  // Another job's keys are invisible.
  REQUIRE(h.table.Set("other", "/y", "1").ok());
  CHECK(h.Exchange(a, "04010000000000000002000000000000002f79") == "01");
}

TEST_CASE("requests after a parked WAIT are answered at once, in order") {
  Harness h;
  const uint64_t a = h.Connect();
  CHECK(h.Exchange(a,
                   "05010000000000000002000000000000002f78"
                   "06") == "0000000000000000");
}

TEST_CASE(
    "GET of a missing key: 1.x drops the connection, >= 2.2 answers empty") {
  Harness h;
  const uint64_t v1 = h.Connect();
  absl::Status status = h.Feed(v1, "0205000000000000002f6e6f6e65");
  CHECK(absl::IsNotFound(status));
  CHECK(absl::StrContains(status.message(), "GET '/none'"));
  const uint64_t v2 = h.Connect();
  CHECK(
      h.Exchange(v2, std::string(kValidate) + "0305000000000000002f6e6f6e65") ==
      "0000000000000000");
}

TEST_CASE("ADD on a value that is not a number drops the connection") {
  Harness h;
  const uint64_t a = h.Connect();
  CHECK(h.Exchange(a, "0002000000000000002f7802000000000000006162") == "");
  absl::Status status = h.Feed(a, "0302000000000000002f780100000000000000");
  CHECK(absl::IsFailedPrecondition(status));
  CHECK(absl::StrContains(status.message(), "ADD '/x'"));
}

TEST_CASE(">= 2.2: CANCEL_WAIT, with and without a release racing it") {
  Harness h;
  const uint64_t a = h.Connect();
  const uint64_t b = h.Connect();
  CHECK(h.Exchange(a, std::string(kValidate) +
                          "06010000000000000002000000000000002f78") == "");
  SECTION("nothing released: WAIT_CANCELED only") {
    CHECK(h.Exchange(a, "0c") == "01");
    CHECK(h.sessions[a]->parked_waits() == 0);
    // A later set does not reach the cancelled wait.
    CHECK(h.Exchange(b,
                     "0002000000000000002f780100000000000000"
                     "31") == "");
    CHECK(h.TakeOutput(a) == "");
  }
  SECTION("released but not yet delivered: STOP_WAITING then WAIT_CANCELED") {
    REQUIRE(h.table.Set("torch", "/x", "1").ok());
    REQUIRE(h.Feed(a, "0c").ok());
    CHECK(h.TakeOutput(a) == "0001");
    REQUIRE(h.Pump().ok());
    CHECK(h.TakeOutput(a) == "");
  }
}

TEST_CASE(
    "1.x WAIT timeout: the client sends nothing, a late release still "
    "answers") {
  // PyTorch 1.x leaves the wait parked; its STOP_WAITING arrives later, as with
  // the real 1.13 server.
  Harness h;
  const uint64_t a = h.Connect();
  CHECK(h.Exchange(a, "05010000000000000006000000000000002f6e65766572") == "");
  REQUIRE(h.table.Set("torch", "/never", "x").ok());
  REQUIRE(h.Pump().ok());
  CHECK(h.TakeOutput(a) == "00");
}

TEST_CASE(">= 2.2: PING, APPEND, MULTI_SET/GET, LIST_KEYS, DELETE, NUMKEYS") {
  Harness h;
  const uint64_t a = h.Connect();
  CHECK(h.Exchange(a, std::string(kValidate) + "0d78563412") == "78563412");
  CHECK(h.Exchange(a,
                   "09 0200000000000000 2f61 0100000000000000 78"
                   "09 0200000000000000 2f61 0100000000000000 79") == "");
  CHECK(h.Exchange(a, "03 0200000000000000 2f61") ==
        "0200000000000000"
        "7879");
  CHECK(
      h.Exchange(a,
                 "0b 0200000000000000 0200000000000000 2f62 0100000000000000 31"
                 "0200000000000000 2f63 0000000000000000") == "");
  CHECK(h.Exchange(
            a,
            "0a 0300000000000000 0200000000000000 2f62 0200000000000000 2f63"
            "0200000000000000 2f7a") ==
        "0100000000000000"
        "31"
        "0000000000000000"
        "0000000000000000");
  CHECK(h.Exchange(a, "11") ==
        "0300000000000000"
        "0200000000000000"
        "2f61"
        "0200000000000000"
        "2f62"
        "0200000000000000"
        "2f63");
  CHECK(h.Exchange(a, "07") == "0300000000000000");
  CHECK(h.Exchange(a, "08 0200000000000000 2f61") == "0100000000000000");
  CHECK(h.Exchange(a, "07") == "0200000000000000");
}

TEST_CASE("1.x MULTI_GET of a missing key drops the connection") {
  Harness h;
  const uint64_t a = h.Connect();
  CHECK(
      absl::IsNotFound(h.Feed(a, "0a 0100000000000000 0200000000000000 2f7a")));
}

TEST_CASE(">= 2.2 queues: push, len, pop, blocking pop via WAIT, CHECK") {
  Harness h;
  const uint64_t a = h.Connect();
  const uint64_t b = h.Connect();
  REQUIRE(h.Exchange(a, kValidate) == "");
  REQUIRE(h.Exchange(b, kValidate) == "");
  // Empty queue: len 0, pop answers length 0 and no value, CHECK not ready.
  CHECK(h.Exchange(a, "10 0200000000000000 2f71") == "0000000000000000");
  CHECK(h.Exchange(a, "0f 0200000000000000 2f71") == "0000000000000000");
  CHECK(h.Exchange(a, "05 0100000000000000 0200000000000000 2f71") == "01");
  // Blocking pop: WAIT parks until b pushes.
  CHECK(h.Exchange(a, "06 0100000000000000 0200000000000000 2f71") == "");
  CHECK(h.Exchange(b,
                   "0e 0200000000000000 2f71 0100000000000000 78"
                   "0e 0200000000000000 2f71 0100000000000000 79") == "");
  CHECK(h.TakeOutput(a) == "00");
  CHECK(h.Exchange(a, "05 0100000000000000 0200000000000000 2f71") == "00");
  CHECK(h.Exchange(a, "10 0200000000000000 2f71") == "0200000000000000");
  CHECK(h.Exchange(a, "0f 0200000000000000 2f71") ==
        "0200000000000000"
        "0100000000000000"
        "78");
  CHECK(h.Exchange(a, "0f 0200000000000000 2f71") ==
        "0100000000000000"
        "0100000000000000"
        "79");
  // Queues are not keys.
  CHECK(h.Exchange(a, "07") == "0000000000000000");
}

TEST_CASE(">= 2.2: a push releases one wait per item") {
  Harness h;
  const uint64_t a = h.Connect();
  const uint64_t b = h.Connect();
  const uint64_t c = h.Connect();
  for (uint64_t id : {a, b, c}) REQUIRE(h.Exchange(id, kValidate) == "");
  CHECK(h.Exchange(a, "06 0100000000000000 0200000000000000 2f71") == "");
  CHECK(h.Exchange(b, "06 0100000000000000 0200000000000000 2f71") == "");
  CHECK(h.Exchange(c, "0e 0200000000000000 2f71 0100000000000000 78") == "");
  CHECK(h.TakeOutput(a) == "00");
  CHECK(h.TakeOutput(b) == "");
  CHECK(h.Exchange(c, "0e 0200000000000000 2f71 0100000000000000 79") == "");
  CHECK(h.TakeOutput(b) == "00");
}

TEST_CASE(">= 2.2: a WAIT on a queue key and a plain key needs both") {
  Harness h;
  const uint64_t a = h.Connect();
  const uint64_t b = h.Connect();
  for (uint64_t id : {a, b}) REQUIRE(h.Exchange(id, kValidate) == "");
  CHECK(h.Exchange(a,
                   "06 0200000000000000 0200000000000000 2f71"
                   "0200000000000000 2f6b") == "");
  CHECK(h.Exchange(b, "0e 0200000000000000 2f71 0100000000000000 78") == "");
  CHECK(h.TakeOutput(a) == "");
  CHECK(h.Exchange(b, "01 0200000000000000 2f6b 0100000000000000 76") == "");
  CHECK(h.TakeOutput(a) == "00");
}

TEST_CASE("1.x WATCH_KEY: registered, then told of changes made via TCPStore") {
  Harness h;
  const uint64_t main = h.Connect();
  const uint64_t callback = h.Connect();
  CHECK(h.Exchange(callback, "0703000000000000002f776b") == "03");
  CHECK(h.Exchange(main, "0003000000000000002f776b02000000000000007731") == "");
  // Exactly the bytes the 1.13 server sent on the callback connection.
  CHECK(h.TakeOutput(callback) ==
        "01"
        "03000000000000002f776b000000000000000002000000000000007731");
  CHECK(h.Exchange(main, "0003000000000000002f776b02000000000000007732") == "");
  CHECK(h.TakeOutput(callback) ==
        "00"
        "03000000000000002f776b"
        "02000000000000007731"
        "02000000000000007732");
  CHECK(h.Exchange(main, "0803000000000000002f776b") == "0100000000000000");
  CHECK(h.TakeOutput(callback) ==
        "02"
        "03000000000000002f776b"
        "02000000000000007732"
        "0000000000000000");
  // A closed callback connection is forgotten.
  h.sessions.erase(callback);
  CHECK(h.context.watches.Empty());
}

TEST_CASE("a closed session's parked waits leave the KvTable") {
  Harness h;
  const uint64_t a = h.Connect();
  CHECK(h.Exchange(a, "05010000000000000002000000000000002f78") == "");
  CHECK(h.table.Stats().waiters == 1);
  h.sessions.erase(a);
  CHECK(h.table.Stats().waiters == 0);
  REQUIRE(h.Pump().ok());
}

TEST_CASE("a parked WAIT ended by DeleteJob is an error for its connection") {
  Harness h;
  const uint64_t a = h.Connect();
  CHECK(h.Exchange(a, "05010000000000000002000000000000002f78") == "");
  REQUIRE(h.table.DeleteJob("torch").ok());
  absl::Status status = h.Pump();
  CHECK(absl::IsCancelled(status));
  CHECK(absl::StrContains(status.message(), "parked WAIT ended"));
}

TEST_CASE("Consume stops once the output reaches its limit") {
  Harness h;
  const uint64_t a = h.Connect();
  const std::string bytes = Hex("06 06 06");
  absl::string_view input = bytes;
  std::string out;
  REQUIRE(h.sessions[a]->Consume(&input, &out, 8).ok());
  CHECK(out.size() == 8);
  CHECK(input.size() == 2);
}

TEST_CASE("a KvTable limit closes the connection with the reason") {
  KvTableOptions options;
  options.max_keys_per_job = 1;
  KvTable table(options);
  StoreContext context(&table, "torch", DecoderLimits{}, 1 << 20);
  Session session(&context, std::make_shared<TestSink>(), 1);
  const std::string bytes =
      Hex("0002000000000000002f610000000000000000"
          "0002000000000000002f620000000000000000");
  absl::string_view input = bytes;
  std::string out;
  absl::Status status = session.Consume(&input, &out, 1 << 20);
  CHECK(absl::IsResourceExhausted(status));
  CHECK(absl::StrContains(status.message(), "SET '/b'"));
}

}  // namespace
}  // namespace torch_store
}  // namespace tplaunch
