// EtcdStore on a real three-member etcd while members die: a killed leader
// (calls retried on the survivors, each Add applied once, a parked Get
// released), a stopped member (calls move on after one attempt's time), and a
// lost quorum (calls fail within their deadline, naming etcd and the
// endpoints, never hang).
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/etcd/etcd_store.h"
#include "tests/store/etcd/connect.h"
#include "tests/store/etcd/etcd_cluster.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

constexpr absl::Duration kLong = absl::Seconds(60);

// Member `first` first in the list, so the store's calls start on it.
EtcdStoreOptions OptionsStartingAt(const testing::EtcdCluster& etcd, int first,
                                   const std::string& run) {
  EtcdStoreOptions options;
  options.endpoints.push_back(etcd.endpoints()[first]);
  for (int i = 0; i < etcd.size(); ++i) {
    if (i != first) options.endpoints.push_back(etcd.endpoints()[i]);
  }
  options.run_id = run;
  options.attempt_timeout = absl::Seconds(1);
  return options;
}

TEST_CASE("EtcdStore rides through a SIGKILLed leader", "[etcd][failover]") {
  testing::EtcdCluster etcd(3);
  const int leader = etcd.Leader();
  REQUIRE(leader >= 0);
  auto store =
      testing::ConnectOrFail(OptionsStartingAt(etcd, leader, "kill-leader"));
  auto other = testing::ConnectOrFail(
      OptionsStartingAt(etcd, (leader + 1) % 3, "kill-leader"));

  // A Get parked on the leader's watch before the kill, released after it.
  absl::StatusOr<std::string> parked = absl::UnknownError("not run");
  std::atomic<bool> parked_started{false};
  std::thread getter([&] {
    parked_started = true;
    parked = store->Get("late", kLong);
  });

  // Sets, Gets and Adds in a loop across the kill.
  constexpr int kRounds = 60;
  std::atomic<int> done{0};
  absl::Status failure;
  std::thread worker([&] {
    for (int i = 0; i < kRounds; ++i) {
      const std::string key = absl::StrCat("k", i);
      absl::Status s = store->Set(key, absl::StrCat(i));
      absl::StatusOr<std::string> got = store->Get(key, kLong);
      if (s.ok() && !got.ok()) s = got.status();
      if (s.ok() && *got != absl::StrCat(i)) s = absl::InternalError(*got);
      absl::StatusOr<int64_t> added = store->Add("counter", 1);
      if (s.ok() && !added.ok()) s = added.status();
      if (s.ok() && *added != i + 1) {
        s = absl::InternalError(absl::StrCat("Add ", i, " returned ", *added));
      }
      if (!s.ok()) {
        failure = s;
        return;
      }
      done = i + 1;
    }
  });

  REQUIRE(
      testing::WaitFor([&] { return done >= 10 && parked_started; }, kLong));
  etcd.Signal(leader, SIGKILL);
  worker.join();
  INFO(failure.ToString());
  REQUIRE(failure.ok());
  REQUIRE(done == kRounds);

  // Every Add counted once, as the survivors see it.
  REQUIRE(other->TryGet("counter").value() == absl::StrCat(kRounds));
  REQUIRE(other->Set("late", "here").ok());
  getter.join();
  INFO(parked.status().ToString());
  REQUIRE(parked.ok());
  REQUIRE(*parked == "here");
}

TEST_CASE("EtcdStore moves on from a SIGSTOPped member", "[etcd][failover]") {
  testing::EtcdCluster etcd(3);
  const int leader = etcd.Leader();
  REQUIRE(leader >= 0);
  auto store =
      testing::ConnectOrFail(OptionsStartingAt(etcd, leader, "stop-leader"));
  REQUIRE(store->Set("before", "1").ok());

  etcd.Signal(leader, SIGSTOP);
  // Longer than the election timeout: the other two have elected a leader.
  const int next = etcd.Leader(kLong, leader);
  REQUIRE(next >= 0);
  REQUIRE(next != leader);
  const absl::Time start = absl::Now();
  REQUIRE(store->Set("during", "2").ok());
  REQUIRE(store->Add("n", 1).value() == 1);
  REQUIRE(store->Get("before", kLong).value() == "1");
  // One attempt's time on the stopped member, then the others.
  CHECK(absl::Now() - start < absl::Seconds(20));

  etcd.Signal(leader, SIGCONT);
  REQUIRE(testing::WaitFor([&] { return etcd.Healthy(); }, kLong));
  REQUIRE(store->Get("during", kLong).value() == "2");
  REQUIRE(store->Add("n", 1).value() == 2);
}

TEST_CASE("EtcdStore fails within its deadline when two of three are dead",
          "[etcd][failover]") {
  testing::EtcdCluster etcd(3);
  EtcdStoreOptions options = OptionsStartingAt(etcd, 0, "no-quorum");
  options.rpc_timeout = absl::Seconds(3);
  auto store = testing::ConnectOrFail(options);
  REQUIRE(store->Set("a", "1").ok());
  etcd.Signal(1, SIGKILL);
  etcd.Signal(2, SIGKILL);

  const auto require_clear_failure = [&](const absl::Status& status,
                                         absl::Time start,
                                         absl::Duration deadline) {
    const absl::Duration took = absl::Now() - start;
    INFO(status.ToString() << " after " << absl::FormatDuration(took));
    REQUIRE(status.code() == absl::StatusCode::kUnavailable);
    CHECK(absl::StrContains(status.message(), "etcd"));
    CHECK(absl::StrContains(status.message(), "no-quorum"));
    CHECK(absl::StrContains(status.message(), etcd.endpoints()[0].ToString()));
    CHECK(absl::StrContains(status.message(), "no etcd member answered"));
    CHECK(took < deadline + absl::Seconds(2));
  };
  absl::Time start = absl::Now();
  require_clear_failure(store->Set("b", "2"), start, options.rpc_timeout);
  start = absl::Now();
  require_clear_failure(store->Add("n", 1).status(), start,
                        options.rpc_timeout);
  start = absl::Now();
  // A blocking call: its own timeout, or one attempt's time when shorter.
  require_clear_failure(store->Get("a", absl::Seconds(2)).status(), start,
                        absl::Seconds(2));
}

}  // namespace
}  // namespace tplaunch
