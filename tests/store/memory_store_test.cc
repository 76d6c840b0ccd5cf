// MemoryStore-specific checks with real threads (the shared Store contract
// suite lives in tests/store/). Also the daemon's core under concurrency, for
// ThreadSanitizer runs.
#include "store/memory_store.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "store/kv_table.h"

namespace tplaunch {
namespace {

TEST_CASE("MemoryStore Get times out naming the key and the time waited",
          "[memory_store]") {
  auto store = NewMemoryStore();
  const absl::Time before = absl::Now();
  absl::StatusOr<std::string> value =
      store->Get("rank_3", absl::Milliseconds(50));
  CHECK(absl::Now() - before >= absl::Milliseconds(50));
  REQUIRE(absl::IsDeadlineExceeded(value.status()));
  CHECK(absl::StrContains(value.status().message(), "'rank_3'"));
  CHECK(absl::StrContains(value.status().message(), "ms"));
  absl::Status wait = store->Wait({"a", "b"}, absl::ZeroDuration());
  CHECK(absl::IsDeadlineExceeded(wait));
  CHECK(absl::StrContains(wait.message(), "'b'"));
}

TEST_CASE("MemoryStore releases many blocked threads with one Set",
          "[memory_store]") {
  auto store = NewMemoryStore();
  constexpr int kThreads = 32;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      if (i % 2 == 0) {
        auto values = store->MultiGet({"go"}, absl::Seconds(30));
        if (values.ok() && *values == std::vector<std::string>{"now"}) ++ok;
      } else {
        auto value = store->Get("go", absl::Seconds(30));
        if (value.ok() && *value == "now") ++ok;
      }
    });
  }
  REQUIRE(store->Set("go", "now").ok());
  for (auto& t : threads) t.join();
  CHECK(ok == kThreads);
}

TEST_CASE("MemoryStore Add is atomic under contention", "[memory_store]") {
  auto store = NewMemoryStore();
  constexpr int kThreads = 8;
  constexpr int kAdds = 500;
  // Catch2 v2 assertions are not thread-safe: threads only count failures.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kAdds; ++j) {
        if (!store->Add("n", 1).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(*store->Add("n", 0) == kThreads * kAdds);
}

TEST_CASE("KvTable waiters race with Set, cancel and expiry",
          "[kv_table][race]") {
  KvTable table;
  std::atomic<int> callbacks{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  constexpr int kRounds = 200;
  threads.emplace_back([&] {
    for (int i = 0; i < kRounds; ++i) {
      auto start = table.StartWait(
          "j", {std::to_string(i)}, absl::Now() + absl::Milliseconds(1), true,
          [&](absl::StatusOr<std::vector<std::string>>) { ++callbacks; });
      if (!start.ok()) {
        ++failures;
        ++callbacks;
      } else if (!start->ready) {
        if (i % 3 == 0) table.CancelWaiter(start->id);
      } else {
        ++callbacks;
      }
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; i < kRounds; ++i) {
      if (!table.Set("j", std::to_string(i), "v").ok()) ++failures;
    }
  });
  threads.emplace_back([&] {
    while (callbacks < kRounds) table.ExpireDeadlines(absl::Now());
  });
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(callbacks == kRounds);
  CHECK(table.Stats().waiters == 0);
}

}  // namespace
}  // namespace tplaunch
