#include "store/grpc/incarnation.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tplaunch {
namespace {

TEST_CASE("IncarnationTracker keeps the first incarnation as reference",
          "[incarnation]") {
  IncarnationTracker tracker;
  CHECK(absl::IsNotFound(tracker.First().status()));
  CHECK(tracker.Latest().empty());
  tracker.Observe("");  // A daemon that sends none changes nothing.
  CHECK(absl::IsNotFound(tracker.First().status()));
  tracker.Observe("a");
  tracker.Observe("a");
  CHECK(*tracker.First() == "a");
  CHECK(tracker.Latest() == "a");
  CHECK_FALSE(tracker.Changed());
}

TEST_CASE("IncarnationTracker reports a change once and keeps it",
          "[incarnation]") {
  std::vector<std::pair<std::string, std::string>> changes;
  IncarnationTracker tracker(
      [&](const std::string& first, const std::string& now) {
        changes.emplace_back(first, now);
      });
  tracker.Observe("a");
  CHECK(changes.empty());
  tracker.Observe("b");
  tracker.Observe("c");
  tracker.Observe("a");
  CHECK(tracker.Changed());
  CHECK(*tracker.First() == "a");
  CHECK(tracker.Latest() == "a");
  REQUIRE(changes.size() == 1);
  CHECK(changes[0] == std::make_pair(std::string("a"), std::string("b")));
}

TEST_CASE("IncarnationTracker calls back once under concurrent replies",
          "[incarnation]") {
  std::atomic<int> calls{0};
  IncarnationTracker tracker(
      [&](const std::string&, const std::string&) { ++calls; });
  tracker.Observe("first");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) tracker.Observe(t % 2 ? "x" : "y");
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(calls == 1);
  CHECK(tracker.Changed());
  CHECK(*tracker.First() == "first");
}

}  // namespace
}  // namespace tplaunch
