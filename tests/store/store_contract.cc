#include "tests/store/store_contract.h"

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tplaunch {
namespace store_contract {
namespace {

// Long enough never to fire on a loaded 2-core CI machine; a test that reaches
// it has hung and fails with a message instead of blocking the suite.
constexpr absl::Duration kLongWait = absl::Seconds(30);
// Short timeouts for the calls meant to time out.
constexpr absl::Duration kShortWait = absl::Milliseconds(200);
// How late a timeout may fire on a busy machine and still count as "on time".
constexpr absl::Duration kLateness = absl::Seconds(3);
// gRPC and condition variables round deadlines to milliseconds.
constexpr absl::Duration kEarliness = absl::Milliseconds(5);

// Counts threads that reached a point, so the test thread can wait for all of
// them.
class Arrivals {
 public:
  void Arrive() {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_;
    cv_.notify_all();
  }
  bool AwaitAtLeast(int n, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                        [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

std::unique_ptr<Store> Fresh(const StoreFactory& make) {
  std::unique_ptr<Store> store = make();
  REQUIRE(store != nullptr);
  const absl::StatusOr<int64_t> keys = store->NumKeys();
  REQUIRE(keys.ok());
  REQUIRE(*keys == 0);
  return store;
}

void RequireTimedOut(const absl::Status& status, absl::Duration elapsed,
                     absl::Duration timeout, absl::string_view missing_key) {
  INFO(status.ToString());
  REQUIRE(status.code() == absl::StatusCode::kDeadlineExceeded);
  // The error names what was waited for and for how long (each store words the
  // duration its own way: the timeout given or the time measured).
  CHECK(absl::StrContains(status.message(), missing_key));
  CHECK(absl::StrContains(status.message(), "timed out after "));
  CHECK(elapsed >= timeout - kEarliness);
  CHECK(elapsed < timeout + kLateness);
}

}  // namespace

void SetGetTryGet(const StoreFactory& make) {
  auto store = Fresh(make);
  REQUIRE(store->Set("a", "1").ok());
  REQUIRE(store->Get("a", kLongWait).value() == "1");
  REQUIRE(store->TryGet("a").value() == "1");

  REQUIRE(store->Set("a", "2").ok());
  REQUIRE(store->TryGet("a").value() == "2");

  // Bytes, not C strings: NULs and high bytes survive, in keys and values.
  const std::string binary_key("k\0\xff", 3);
  const std::string binary_value("\0\x01\xfe\xff v", 6);
  REQUIRE(store->Set(binary_key, binary_value).ok());
  REQUIRE(store->Get(binary_key, kLongWait).value() == binary_value);

  // An empty value is a value: the key exists.
  REQUIRE(store->Set("empty", "").ok());
  REQUIRE(store->TryGet("empty").value().empty());
  REQUIRE(store->Get("empty", kLongWait).value().empty());

  const absl::StatusOr<std::string> missing = store->TryGet("missing");
  INFO(missing.status().ToString());
  REQUIRE(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK(absl::StrContains(missing.status().message(), "missing"));

  // A zero timeout still returns a key that exists.
  REQUIRE(store->Get("a", absl::ZeroDuration()).value() == "2");
}

void CheckReportsPresence(const StoreFactory& make) {
  auto store = Fresh(make);
  REQUIRE(store->Set("a", "1").ok());
  REQUIRE(store->Set("b", "").ok());
  REQUIRE(store->Check({"a"}).value());
  REQUIRE(store->Check({"a", "b"}).value());
  REQUIRE_FALSE(store->Check({"c"}).value());
  REQUIRE_FALSE(store->Check({"a", "c"}).value());
  // Check never creates what it looks for.
  REQUIRE(store->TryGet("c").status().code() == absl::StatusCode::kNotFound);
}

void AddCounts(const StoreFactory& make) {
  auto store = Fresh(make);
  REQUIRE(store->Add("n", 5).value() == 5);  // Missing counts as 0.
  REQUIRE(store->Add("n", 3).value() == 8);
  REQUIRE(store->Add("n", -10).value() == -2);
  REQUIRE(store->Add("n", 0).value() == -2);
  // Stored as ASCII decimal, as TCPStore does, so Get and Set interoperate.
  REQUIRE(store->Get("n", kLongWait).value() == "-2");
  REQUIRE(store->Set("m", "40").ok());
  REQUIRE(store->Add("m", 2).value() == 42);

  REQUIRE(store->Set("text", "abc").ok());
  const absl::StatusOr<int64_t> bad = store->Add("text", 1);
  INFO(bad.status().ToString());
  REQUIRE(bad.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(bad.status().message(), "text"));
  REQUIRE(store->TryGet("text").value() == "abc");
}

void CompareSetSemantics(const StoreFactory& make) {
  auto store = Fresh(make);
  // Missing key, empty expected: sets desired.
  REQUIRE(store->CompareSet("k", "", "first").value() == "first");
  REQUIRE(store->TryGet("k").value() == "first");
  // Hit: current == expected sets desired and returns it.
  REQUIRE(store->CompareSet("k", "first", "second").value() == "second");
  REQUIRE(store->TryGet("k").value() == "second");
  // Miss: current != expected sets nothing and returns the current value.
  REQUIRE(store->CompareSet("k", "first", "third").value() == "second");
  REQUIRE(store->TryGet("k").value() == "second");
  // Missing key, non-empty expected: sets nothing, returns expected (TCPStore).
  REQUIRE(store->CompareSet("absent", "x", "y").value() == "x");
  REQUIRE(store->TryGet("absent").status().code() ==
          absl::StatusCode::kNotFound);
  // Existing empty value matches an empty expected.
  REQUIRE(store->Set("e", "").ok());
  REQUIRE(store->CompareSet("e", "", "filled").value() == "filled");
}

void GetBlocksAndTimesOut(const StoreFactory& make) {
  auto store = Fresh(make);

  absl::StatusOr<std::string> got = absl::UnknownError("not run");
  Arrivals started;
  std::thread getter([&] {
    started.Arrive();
    got = store->Get("late", kLongWait);
  });
  REQUIRE(started.AwaitAtLeast(1, kLongWait));
  REQUIRE(store->Set("late", "here").ok());
  getter.join();
  INFO(got.status().ToString());
  REQUIRE(got.value() == "here");

  const absl::Time start = absl::Now();
  const absl::StatusOr<std::string> timed_out = store->Get("never", kShortWait);
  RequireTimedOut(timed_out.status(), absl::Now() - start, kShortWait, "never");

  // A zero timeout on a missing key fails at once, as a timeout.
  const absl::StatusOr<std::string> at_once =
      store->Get("never", absl::ZeroDuration());
  REQUIRE(at_once.status().code() == absl::StatusCode::kDeadlineExceeded);
}

void WaitBlocksAndTimesOut(const StoreFactory& make) {
  auto store = Fresh(make);
  REQUIRE(store->Set("ready", "1").ok());
  REQUIRE(store->Wait({"ready"}, kLongWait).ok());
  REQUIRE(store->Wait({"ready"}, absl::ZeroDuration()).ok());

  absl::Status waited = absl::UnknownError("not run");
  Arrivals started;
  std::thread waiter([&] {
    started.Arrive();
    waited = store->Wait({"ready", "x", "y"}, kLongWait);
  });
  REQUIRE(started.AwaitAtLeast(1, kLongWait));
  REQUIRE(store->Set("x", "1").ok());
  REQUIRE(store->Set("y", "2").ok());
  waiter.join();
  INFO(waited.ToString());
  REQUIRE(waited.ok());

  // The timeout names the key still missing.
  const absl::Time start = absl::Now();
  const absl::Status timed_out =
      store->Wait({"ready", "absent_key"}, kShortWait);
  RequireTimedOut(timed_out, absl::Now() - start, kShortWait, "absent_key");
}

void DeleteKeyRemoves(const StoreFactory& make) {
  auto store = Fresh(make);
  REQUIRE(store->Set("a", "1").ok());
  REQUIRE(store->DeleteKey("a").value());
  REQUIRE_FALSE(store->DeleteKey("a").value());
  REQUIRE_FALSE(store->DeleteKey("never").value());
  REQUIRE(store->TryGet("a").status().code() == absl::StatusCode::kNotFound);
  REQUIRE_FALSE(store->Check({"a"}).value());
  // A deleted key can be set again and blocks readers until it is.
  REQUIRE(store->Get("a", absl::Milliseconds(20)).status().code() ==
          absl::StatusCode::kDeadlineExceeded);
  REQUIRE(store->Set("a", "again").ok());
  REQUIRE(store->Get("a", kLongWait).value() == "again");
}

void NumKeysCounts(const StoreFactory& make) {
  auto store = Fresh(make);
  REQUIRE(store->Set("a", "1").ok());
  REQUIRE(store->NumKeys().value() == 1);
  REQUIRE(store->Set("a", "2").ok());  // Overwriting adds no key.
  REQUIRE(store->NumKeys().value() == 1);
  REQUIRE(store->Add("n", 1).ok());
  REQUIRE(store->Append("s", "x").ok());
  REQUIRE(store->CompareSet("c", "", "v").ok());
  REQUIRE(store->NumKeys().value() == 4);
  REQUIRE(store->MultiSet({{"m1", "1"}, {"m2", "2"}}).ok());
  REQUIRE(store->NumKeys().value() == 6);
  REQUIRE(store->DeleteKey("a").value());
  REQUIRE(store->NumKeys().value() == 5);
  // Reads and failed compare_sets create nothing.
  (void)store->TryGet("nothing");
  (void)store->Check({"nothing"});
  (void)store->CompareSet("nothing", "x", "y");
  REQUIRE(store->NumKeys().value() == 5);
}

void AppendConcatenates(const StoreFactory& make) {
  auto store = Fresh(make);
  REQUIRE(store->Append("s", "ab").ok());  // Creates.
  REQUIRE(store->Append("s", "cd").ok());
  REQUIRE(store->Append("s", std::string("\0", 1)).ok());
  REQUIRE(store->TryGet("s").value() == std::string("abcd\0", 5));

  // Append wakes a reader waiting for the key to appear.
  absl::StatusOr<std::string> got = absl::UnknownError("not run");
  Arrivals started;
  std::thread getter([&] {
    started.Arrive();
    got = store->Get("later", kLongWait);
  });
  REQUIRE(started.AwaitAtLeast(1, kLongWait));
  REQUIRE(store->Append("later", "x").ok());
  getter.join();
  REQUIRE(got.value() == "x");
}

void MultiGetBlocksAndTimesOut(const StoreFactory& make) {
  auto store = Fresh(make);
  REQUIRE(store->MultiSet({{"a", "1"}, {"b", "2"}}).ok());
  const std::vector<std::string> in_order = {"b", "a", "b"};
  REQUIRE(store->MultiGet(in_order, kLongWait).value() ==
          std::vector<std::string>{"2", "1", "2"});

  absl::StatusOr<std::vector<std::string>> got = absl::UnknownError("not run");
  Arrivals started;
  std::thread getter([&] {
    started.Arrive();
    got = store->MultiGet({"a", "c"}, kLongWait);
  });
  REQUIRE(started.AwaitAtLeast(1, kLongWait));
  REQUIRE(store->Set("c", "3").ok());
  getter.join();
  INFO(got.status().ToString());
  REQUIRE(got.value() == std::vector<std::string>{"1", "3"});

  const absl::Time start = absl::Now();
  const absl::StatusOr<std::vector<std::string>> timed_out =
      store->MultiGet({"a", "missing_one"}, kShortWait);
  RequireTimedOut(timed_out.status(), absl::Now() - start, kShortWait,
                  "missing_one");
}

void MultiSetSetsAll(const StoreFactory& make) {
  auto store = Fresh(make);
  REQUIRE(store->Set("a", "old").ok());
  REQUIRE(store->MultiSet({{"a", "1"}, {"b", std::string("\0", 1)}, {"c", ""}})
              .ok());
  REQUIRE(store->TryGet("a").value() == "1");
  REQUIRE(store->TryGet("b").value() == std::string("\0", 1));
  REQUIRE(store->TryGet("c").value().empty());

  // MultiSet wakes a reader waiting on several of its keys.
  absl::Status waited = absl::UnknownError("not run");
  Arrivals started;
  std::thread waiter([&] {
    started.Arrive();
    waited = store->Wait({"x", "y"}, kLongWait);
  });
  REQUIRE(started.AwaitAtLeast(1, kLongWait));
  REQUIRE(store->MultiSet({{"x", "1"}, {"y", "2"}}).ok());
  waiter.join();
  REQUIRE(waited.ok());
}

void ListKeysFiltersAndSorts(const StoreFactory& make) {
  auto store = Fresh(make);
  REQUIRE(store->ListKeys("").value().empty());
  for (const char* key : {"rank_2", "rank_0", "other", "rank_1", "rank"}) {
    REQUIRE(store->Set(key, "v").ok());
  }
  REQUIRE(store->ListKeys("rank_").value() ==
          std::vector<std::string>{"rank_0", "rank_1", "rank_2"});
  REQUIRE(
      store->ListKeys("").value() ==
      std::vector<std::string>{"other", "rank", "rank_0", "rank_1", "rank_2"});
  REQUIRE(store->ListKeys("zzz").value().empty());
}

void ManyGettersReleasedByOneSet(const StoreFactory& make) {
  constexpr int kGetters = 32;
  auto store = Fresh(make);
  std::vector<absl::StatusOr<std::string>> got(kGetters,
                                               absl::UnknownError("not run"));
  Arrivals started;
  std::vector<std::thread> getters;
  for (int i = 0; i < kGetters; ++i) {
    getters.emplace_back([&, i] {
      started.Arrive();
      got[i] = store->Get("go", kLongWait);
    });
  }
  REQUIRE(started.AwaitAtLeast(kGetters, kLongWait));
  const absl::Time set_at = absl::Now();
  REQUIRE(store->Set("go", "now").ok());
  for (std::thread& getter : getters) getter.join();
  const absl::Duration released_in = absl::Now() - set_at;
  for (int i = 0; i < kGetters; ++i) {
    INFO("getter " << i << ": " << got[i].status().ToString());
    REQUIRE(got[i].value() == "now");
  }
  CHECK(released_in < kLateness);
}

void AddIsAtomicUnderContention(const StoreFactory& make) {
  constexpr int kThreads = 8;
  constexpr int kAddsPerThread = 200;
  auto store = Fresh(make);
  std::vector<std::vector<int64_t>> seen(kThreads);
  std::vector<absl::Status> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAddsPerThread; ++i) {
        absl::StatusOr<int64_t> value = store->Add("counter", 1);
        if (!value.ok()) {
          errors[t] = value.status();
          return;
        }
        seen[t].push_back(*value);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& error : errors) {
    INFO(error.ToString());
    REQUIRE(error.ok());
  }
  constexpr int64_t kTotal = kThreads * kAddsPerThread;
  REQUIRE(store->Add("counter", 0).value() == kTotal);
  // Every add saw a different intermediate value: exactly 1..N*M.
  std::set<int64_t> distinct;
  for (const auto& values : seen) distinct.insert(values.begin(), values.end());
  REQUIRE(distinct.size() == static_cast<size_t>(kTotal));
  REQUIRE(*distinct.begin() == 1);
  REQUIRE(*distinct.rbegin() == kTotal);
}

void CompareSetHasOneWinner(const StoreFactory& make) {
  constexpr int kRounds = 10;
  constexpr int kThreads = 12;
  auto store = Fresh(make);
  for (int round = 0; round < kRounds; ++round) {
    const std::string key = absl::StrCat("leader_", round);
    std::vector<absl::StatusOr<std::string>> got(kThreads,
                                                 absl::UnknownError("not run"));
    // Everyone claims the missing key at once; TCPStore's semantics make
    // exactly one claim succeed and show the others the winner's value.
    std::mutex mu;
    std::condition_variable cv;
    bool go = false;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return go; });
        }
        got[t] = store->CompareSet(key, "", absl::StrCat("candidate_", t));
      });
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      go = true;
    }
    cv.notify_all();
    for (std::thread& thread : threads) thread.join();

    const std::string stored = store->TryGet(key).value();
    int winners = 0;
    for (int t = 0; t < kThreads; ++t) {
      INFO("round " << round << " thread " << t << ": "
                    << got[t].status().ToString());
      REQUIRE(got[t].ok());
      REQUIRE(*got[t] ==
              stored);  // Winner and losers all see the winner's value.
      if (stored == absl::StrCat("candidate_", t)) ++winners;
    }
    REQUIRE(winners == 1);
  }

  // compare_set as a CAS loop: concurrent increments lose none. Values carry
  // the writer ("<count>/<thread>") so a lost race is never mistaken for a win.
  constexpr int kIncrementers = 4;
  constexpr int kIncrements = 25;
  REQUIRE(store->Set("cas", "0/init").ok());
  std::vector<absl::Status> errors(kIncrementers);
  std::vector<std::thread> incrementers;
  for (int t = 0; t < kIncrementers; ++t) {
    incrementers.emplace_back([&, t] {
      for (int done = 0; done < kIncrements;) {
        absl::StatusOr<std::string> current = store->TryGet("cas");
        if (!current.ok()) {
          errors[t] = current.status();
          return;
        }
        const int64_t count =
            std::stoll(current->substr(0, current->find('/')));
        const std::string next = absl::StrCat(count + 1, "/", t);
        absl::StatusOr<std::string> after =
            store->CompareSet("cas", *current, next);
        if (!after.ok()) {
          errors[t] = after.status();
          return;
        }
        if (*after == next) ++done;
      }
    });
  }
  for (std::thread& thread : incrementers) thread.join();
  for (const absl::Status& error : errors) REQUIRE(error.ok());
  const std::string final_value = store->TryGet("cas").value();
  REQUIRE(final_value.substr(0, final_value.find('/')) ==
          absl::StrCat(kIncrementers * kIncrements));
}

}  // namespace store_contract
}  // namespace tplaunch
