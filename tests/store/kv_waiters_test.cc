// KvWaiters on its own: parking, waking on the last missing key, deadlines in
// order, and every way a waiter is ended, each exactly once.
#include "store/kv_waiters.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

namespace tplaunch {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

// Records the one outcome a waiter's callback receives.
struct Outcome {
  WaiterCallback Callback() {
    return [this](absl::StatusOr<std::vector<std::string>> r) {
      ++calls;
      result = std::move(r);
    };
  }
  int calls = 0;
  absl::StatusOr<std::vector<std::string>> result;
};

void RunAll(std::vector<KvCompletion>& done) {
  for (auto& [callback, result] : done) callback(std::move(result));
  done.clear();
}

TEST_CASE("no key missing: nothing parks and the callback stays the caller's") {
  KvWaiters w;
  KvMap kv = {{"a", "1"}};
  Outcome o;
  WaiterCallback cb = o.Callback();
  CHECK(w.Park("j", kv, {"a"}, kT0, absl::Seconds(1), true, cb) == 0);
  CHECK(cb);
  CHECK(w.size() == 0);
  CHECK_FALSE(w.HasWaiters("j"));
}

TEST_CASE("a waiter completes on its last missing key, with the values") {
  KvWaiters w;
  KvMap kv = {{"a", "1"}};
  Outcome o;
  WaiterCallback cb = o.Callback();
  const WaiterId id =
      w.Park("j", kv, {"a", "b", "c"}, kT0, absl::Seconds(1), true, cb);
  REQUIRE(id != 0);
  CHECK(w.HasWaiters("j"));
  std::vector<KvCompletion> done;
  kv["b"] = "2";
  w.OnPut("j", "b", kv, done);
  CHECK(done.empty());
  kv["c"] = "3";
  w.OnPut("j", "c", kv, done);
  RunAll(done);
  REQUIRE(o.calls == 1);
  REQUIRE(o.result.ok());
  CHECK(*o.result == std::vector<std::string>{"1", "2", "3"});
  CHECK(w.size() == 0);
  CHECK_FALSE(w.HasWaiters("j"));
  CHECK_FALSE(w.Detach(id).has_value());
}

TEST_CASE("a key deleted before the last one arrives is waited for again") {
  KvWaiters w;
  KvMap kv = {{"a", "1"}};
  Outcome o;
  WaiterCallback cb = o.Callback();
  REQUIRE(w.Park("j", kv, {"a", "b"}, kT0, absl::Seconds(1), false, cb) != 0);
  kv.erase("a");  // The table deleted it; waiters are not told.
  kv["b"] = "2";
  std::vector<KvCompletion> done;
  w.OnPut("j", "b", kv, done);
  CHECK(done.empty());
  kv["a"] = "again";
  w.OnPut("j", "a", kv, done);
  RunAll(done);
  REQUIRE(o.calls == 1);
  REQUIRE(o.result.ok());
  CHECK(o.result->empty());  // Values were not asked for.
}

TEST_CASE("deadlines end waiters in order, naming what is missing") {
  KvWaiters w;
  KvMap kv;
  Outcome early, late;
  WaiterCallback e = early.Callback(), l = late.Callback();
  w.Park("j", kv, {"late"}, kT0 + absl::Seconds(2), absl::Seconds(2), false, l);
  w.Park("j", kv, {"early"}, kT0 + absl::Seconds(1), absl::Seconds(1), false,
         e);
  CHECK(w.NextDeadline() == kT0 + absl::Seconds(1));
  std::vector<KvCompletion> done;
  std::vector<std::string> jobs;
  auto lookup = [&](absl::string_view) -> const KvMap* { return &kv; };
  w.Expire(kT0 + absl::Seconds(1), lookup, done, jobs);
  RunAll(done);
  CHECK(jobs == std::vector<std::string>{"j"});
  REQUIRE(early.calls == 1);
  CHECK(absl::IsDeadlineExceeded(early.result.status()));
  CHECK_THAT(std::string(early.result.status().message()),
             Catch::Contains("early"));
  CHECK(late.calls == 0);
  CHECK(w.NextDeadline() == kT0 + absl::Seconds(2));
  CHECK(w.HasWaiters("j"));
}

TEST_CASE("Detach, EndJob and EndAll end each waiter once") {
  KvWaiters w;
  KvMap kv;
  Outcome a, b, c;
  WaiterCallback ca = a.Callback(), cb = b.Callback(), cc = c.Callback();
  const WaiterId ia = w.Park("j1", kv, {"k"}, kT0, absl::Seconds(1), false, ca);
  w.Park("j1", kv, {"k"}, kT0, absl::Seconds(1), false, cb);
  w.Park("j2", kv, {"k"}, kT0, absl::Seconds(1), false, cc);
  std::optional<KvWaiters::Detached> d = w.Detach(ia);
  REQUIRE(d.has_value());
  CHECK(d->job == "j1");
  CHECK(a.calls == 0);  // The caller runs it.
  std::vector<KvCompletion> done;
  w.EndJob("j1", absl::CancelledError("deleted"), done);
  RunAll(done);
  CHECK(b.calls == 1);
  CHECK(absl::IsCancelled(b.result.status()));
  CHECK_FALSE(w.HasWaiters("j1"));
  CHECK(w.HasWaiters("j2"));
  w.EndAll(absl::UnavailableError("shutting down"), done);
  RunAll(done);
  CHECK(c.calls == 1);
  CHECK(absl::IsUnavailable(c.result.status()));
  CHECK(w.size() == 0);
  CHECK(w.NextDeadline() == absl::InfiniteFuture());
  // A key set after everything ended wakes no one.
  kv["k"] = "v";
  w.OnPut("j2", "k", kv, done);
  CHECK(done.empty());
}

}  // namespace
}  // namespace tplaunch
