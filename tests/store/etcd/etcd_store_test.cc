// EtcdStore's own behaviour beyond the Store contract, on a real one-member
// etcd: where keys live, etcd's limits as clear errors, the end of a run
// (DeleteEtcdRun) and the lease that removes an abandoned run.
#include "store/etcd/etcd_store.h"

#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "store/etcd/gen/rpc.grpc.pb.h"
#include "tests/store/etcd/connect.h"
#include "tests/store/etcd/etcd_cluster.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

namespace pb = ::etcdserverpb;

testing::EtcdCluster& SharedEtcd() {
  static testing::EtcdCluster etcd(1);
  return etcd;
}

EtcdStoreOptions Options(const std::string& run) {
  EtcdStoreOptions options;
  options.endpoints = SharedEtcd().endpoints();
  options.run_id = run;
  return options;
}

// Every etcd key under `prefix`, read past the store.
std::vector<std::string> RawKeys(const std::string& prefix) {
  auto kv = pb::KV::NewStub(
      grpc::CreateChannel(SharedEtcd().endpoints()[0].ToString(),
                          grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  pb::RangeRequest request;
  request.set_key(prefix);
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  request.set_range_end(end);
  request.set_keys_only(true);
  pb::RangeResponse response;
  REQUIRE(kv->Range(&context, request, &response).ok());
  std::vector<std::string> keys;
  for (const auto& kv : response.kvs()) keys.push_back(kv.key());
  return keys;
}

TEST_CASE("EtcdStore keeps a run's keys under /tplaunch/v1/<run_id>/",
          "[etcd]") {
  auto store = testing::ConnectOrFail(Options("layout"));
  REQUIRE(store->Set("a", "1").ok());
  REQUIRE(store->Add("n", 2).ok());
  const std::vector<std::string> keys = RawKeys("/tplaunch/v1/layout/");
  // a, n, the lease key and the Add's request record.
  REQUIRE(keys.size() == 4);
  CHECK(keys[0] == "/tplaunch/v1/layout/k/a");
  CHECK(keys[1] == "/tplaunch/v1/layout/k/n");
  CHECK(keys[2] == "/tplaunch/v1/layout/m/lease");
  CHECK(absl::StartsWith(keys[3], "/tplaunch/v1/layout/r/"));
  // Only the Store's keys count.
  REQUIRE(store->NumKeys().value() == 2);
}

TEST_CASE("EtcdStore rejects bad runs and endpoints", "[etcd]") {
  EtcdStoreOptions options = Options("a/b");
  REQUIRE(ConnectEtcdStore(options).status().code() ==
          absl::StatusCode::kInvalidArgument);
  options.run_id = "";
  REQUIRE(ConnectEtcdStore(options).status().code() ==
          absl::StatusCode::kInvalidArgument);
  options.run_id = "ok";
  options.endpoints.clear();
  REQUIRE(ConnectEtcdStore(options).status().code() ==
          absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ConnectEtcdStore fails in time when no member is up", "[etcd]") {
  // Port 1 on loopback: nothing listens there (it needs root to bind).
  EtcdStoreOptions options = Options("nobody");
  options.endpoints = {{"127.0.0.1", 1}, {"127.0.0.2", 1}};
  options.rpc_timeout = absl::Seconds(1);
  const absl::Time start = absl::Now();
  const absl::Status status = ConnectEtcdStore(options).status();
  const absl::Duration took = absl::Now() - start;
  INFO(status.ToString());
  REQUIRE(status.code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(status.message(), "127.0.0.1:1"));
  CHECK(absl::StrContains(status.message(), "127.0.0.2:1"));
  CHECK(absl::StrContains(status.message(), "no etcd member answered within"));
  CHECK(took < absl::Seconds(5));
}

TEST_CASE("EtcdStore reports etcd's limits as InvalidArgument naming them",
          "[etcd]") {
  auto store = testing::ConnectOrFail(Options("limits"));
  const std::string big(2 * 1024 * 1024, 'x');
  const absl::Status too_big = store->Set("big", big);
  INFO(too_big.ToString());
  REQUIRE(too_big.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(too_big.message(), "--max-request-bytes"));
  CHECK(absl::StrContains(too_big.message(), "'big'"));

  // A client that believes in a larger limit than the member enforces gets
  // etcd's own refusal, worded the same way.
  EtcdStoreOptions generous = Options("limits");
  generous.max_request_bytes = 8 * 1024 * 1024;
  auto naive = testing::ConnectOrFail(generous);
  const absl::Status refused = naive->Set("big", big);
  INFO(refused.ToString());
  REQUIRE(refused.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(refused.message(), "--max-request-bytes"));

  std::vector<std::pair<std::string, std::string>> entries;
  for (int i = 0; i < 129; ++i) entries.emplace_back(absl::StrCat(i), "v");
  const absl::Status too_many = store->MultiSet(entries);
  INFO(too_many.ToString());
  REQUIRE(too_many.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(too_many.message(), "--max-txn-ops"));
}

TEST_CASE("EtcdStore MultiGet reads more keys than one Txn holds", "[etcd]") {
  auto store = testing::ConnectOrFail(Options("many"));
  std::vector<std::string> keys;
  std::vector<std::string> want;
  for (int i = 0; i < 300; ++i) {
    keys.push_back(absl::StrCat("k", i));
    want.push_back(absl::StrCat(i));
  }
  for (int first = 0; first < 300; first += 100) {
    std::vector<std::pair<std::string, std::string>> entries;
    for (int i = first; i < first + 100; ++i) {
      entries.emplace_back(keys[i], want[i]);
    }
    REQUIRE(store->MultiSet(entries).ok());
  }
  REQUIRE(store->MultiGet(keys, absl::Seconds(30)).value() == want);
  REQUIRE(store->Check(keys).value());
  REQUIRE(store->NumKeys().value() == 300);
}

TEST_CASE("DeleteEtcdRun removes every key of the run and no other", "[etcd]") {
  auto store = testing::ConnectOrFail(Options("ending"));
  auto neighbour = testing::ConnectOrFail(Options("ending-not"));
  REQUIRE(store->Set("a", "1").ok());
  REQUIRE(store->Add("n", 1).ok());
  REQUIRE(neighbour->Set("a", "2").ok());
  REQUIRE(DeleteEtcdRun(Options("ending")).ok());
  REQUIRE(RawKeys("/tplaunch/v1/ending/").empty());
  REQUIRE(neighbour->TryGet("a").value() == "2");
  // Nothing left to delete is not an error.
  REQUIRE(DeleteEtcdRun(Options("ending")).ok());
}

TEST_CASE("A read-only EtcdStore reads a run and writes nothing into it",
          "[etcd]") {
  auto writer = testing::ConnectOrFail(Options("looked-at"));
  REQUIRE(writer->Set("a", "1").ok());
  REQUIRE(writer->Add("n", 3).ok());
  const std::vector<std::string> before = RawKeys("/tplaunch/v1/looked-at/");
  EtcdStoreOptions options = Options("looked-at");
  options.read_only = true;
  auto reader = testing::ConnectOrFail(options);
  CHECK(reader->TryGet("a").value() == "1");
  CHECK(reader->Get("n", absl::Seconds(5)).value() == "3");
  CHECK(reader->NumKeys().value() == 2);
  const absl::Status set = reader->Set("b", "2");
  CHECK(set.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(set.message()),
             Catch::Contains("Set(b) on run looked-at") &&
                 Catch::Contains("read-only"));
  CHECK(reader->Add("n", 1).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(reader->DeleteKey("a").status().code() ==
        absl::StatusCode::kFailedPrecondition);
  // Nothing changed, and the reader added no lease key of its own.
  CHECK(RawKeys("/tplaunch/v1/looked-at/") == before);
  // A run with no keys at all: reading grants no lease either.
  EtcdStoreOptions empty = Options("never-written");
  empty.read_only = true;
  auto nobody = testing::ConnectOrFail(empty);
  CHECK(absl::IsNotFound(nobody->TryGet("a").status()));
  CHECK(RawKeys("/tplaunch/v1/never-written/").empty());
}

TEST_CASE("An abandoned run's keys expire with its lease", "[etcd]") {
  EtcdStoreOptions options = Options("abandoned");
  options.lease_ttl = absl::Seconds(2);
  {
    auto store = testing::ConnectOrFail(options);
    REQUIRE(store->Set("a", "1").ok());
    // Kept alive while the store lives: still there after more than a TTL.
    const absl::Time until = absl::Now() + absl::Seconds(3);
    REQUIRE_FALSE(testing::WaitFor(
        [&] { return RawKeys("/tplaunch/v1/abandoned/").empty(); },
        until - absl::Now()));
    REQUIRE(store->TryGet("a").value() == "1");
  }
  // No store keeps it alive any more: etcd deletes the run within the TTL
  // (plus etcd's own lease-checking slack).
  REQUIRE(testing::WaitFor(
      [&] { return RawKeys("/tplaunch/v1/abandoned/").empty(); },
      absl::Seconds(30)));
}

}  // namespace
}  // namespace tplaunch
