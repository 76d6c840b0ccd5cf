#include "store/kv_table.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace {

class FakeClock final : public Clock {
 public:
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1'000'000);
};

// Records the single outcome a waiter callback receives; counts calls to catch
// repeats. Declare it before the KvTable: the table's destructor releases the
// waiters still parked, and their callbacks must find the Outcome alive.
struct Outcome {
  int calls = 0;
  std::optional<absl::StatusOr<std::vector<std::string>>> result;

  WaiterCallback Callback() {
    return [this](absl::StatusOr<std::vector<std::string>> r) {
      ++calls;
      result = std::move(r);
    };
  }
};

struct Fixture {
  FakeClock clock;
  KvTableOptions Options() {
    KvTableOptions options;
    options.clock = &clock;
    return options;
  }
};

TEST_CASE("KvTable Set/TryGet/Check/DeleteKey/NumKeys", "[kv_table]") {
  Fixture f;
  KvTable table(f.Options());
  REQUIRE(table.Set("job", "a", "1").ok());
  REQUIRE(table.Set("job", "b", std::string("\0x", 2)).ok());
  CHECK(*table.TryGet("job", "a") == "1");
  CHECK(*table.TryGet("job", "b") == std::string("\0x", 2));
  CHECK(absl::IsNotFound(table.TryGet("job", "c").status()));
  CHECK(absl::IsNotFound(table.TryGet("other", "a").status()));
  CHECK(*table.Check("job", {"a", "b"}));
  CHECK_FALSE(*table.Check("job", {"a", "c"}));
  CHECK(*table.Check("job", {}));
  CHECK(*table.NumKeys("job") == 2);
  CHECK(*table.NumKeys("other") == 0);
  CHECK(*table.DeleteKey("job", "a"));
  CHECK_FALSE(*table.DeleteKey("job", "a"));
  CHECK(*table.NumKeys("job") == 1);
  CHECK(table.Stats().keys == 1);
  CHECK(table.Stats().jobs == 1);
}

TEST_CASE("KvTable jobs are separate namespaces", "[kv_table]") {
  Fixture f;
  KvTable table(f.Options());
  REQUIRE(table.Set("j1", "k", "one").ok());
  REQUIRE(table.Set("j2", "k", "two").ok());
  CHECK(*table.TryGet("j1", "k") == "one");
  CHECK(*table.TryGet("j2", "k") == "two");
  CHECK(*table.DeleteJob("j1") == 1);
  CHECK(absl::IsNotFound(table.TryGet("j1", "k").status()));
  CHECK(*table.TryGet("j2", "k") == "two");
  CHECK(*table.DeleteJob("missing") == 0);
  CHECK(table.Stats().jobs == 1);
  CHECK(absl::IsInvalidArgument(table.Set("", "k", "v")));
}

TEST_CASE("KvTable Add", "[kv_table]") {
  Fixture f;
  KvTable table(f.Options());
  CHECK(*table.Add("j", "n", 5) == 5);
  CHECK(*table.Add("j", "n", -7) == -2);
  CHECK(*table.TryGet("j", "n") == "-2");
  REQUIRE(table.Set("j", "s", "12").ok());
  CHECK(*table.Add("j", "s", 1) == 13);
  REQUIRE(table.Set("j", "text", "abc").ok());
  absl::Status bad = table.Add("j", "text", 1).status();
  CHECK(absl::IsFailedPrecondition(bad));
  CHECK(absl::StrContains(bad.message(), "'text'"));
  CHECK(*table.TryGet("j", "text") == "abc");
  REQUIRE(table.Set("j", "big", "9223372036854775807").ok());
  CHECK(absl::IsOutOfRange(table.Add("j", "big", 1).status()));
}

TEST_CASE("KvTable CompareSet follows TCPStore", "[kv_table]") {
  Fixture f;
  KvTable table(f.Options());
  // Missing key, empty expected: sets desired.
  CHECK(*table.CompareSet("j", "fresh", "", "new") == "new");
  CHECK(*table.TryGet("j", "fresh") == "new");
  // Missing key, non-empty expected: sets nothing, returns expected.
  CHECK(*table.CompareSet("j", "nokey", "x", "y") == "x");
  CHECK(absl::IsNotFound(table.TryGet("j", "nokey").status()));
  // Match: sets desired and returns it.
  REQUIRE(table.Set("j", "k", "v1").ok());
  CHECK(*table.CompareSet("j", "k", "v1", "v2") == "v2");
  // Mismatch: returns the current value, unchanged.
  CHECK(*table.CompareSet("j", "k", "nope", "v3") == "v2");
  CHECK(*table.TryGet("j", "k") == "v2");
}

TEST_CASE("KvTable Append, MultiSet, ListKeys", "[kv_table]") {
  Fixture f;
  KvTable table(f.Options());
  REQUIRE(table.Append("j", "log", "a").ok());
  REQUIRE(table.Append("j", "log", "bc").ok());
  CHECK(*table.TryGet("j", "log") == "abc");
  std::vector<std::pair<std::string, std::string>> entries = {
      {"p/2", "two"}, {"p/1", "one"}, {"q", "other"}};
  REQUIRE(table.MultiSet("j", entries).ok());
  CHECK(*table.ListKeys("j", "p/") == std::vector<std::string>{"p/1", "p/2"});
  CHECK(*table.ListKeys("j", "") ==
        std::vector<std::string>{"log", "p/1", "p/2", "q"});
  CHECK(table.ListKeys("none", "")->empty());
}

TEST_CASE("KvTable waiter completes when its keys appear", "[kv_table]") {
  Fixture f;
  Outcome out;
  KvTable table(f.Options());
  auto start =
      table.StartWait("j", {"a", "b"}, f.clock.Now() + absl::Seconds(5),
                      /*want_values=*/true, out.Callback());
  REQUIRE(start.ok());
  REQUIRE_FALSE(start->ready);
  CHECK(table.Stats().waiters == 1);
  REQUIRE(table.Set("j", "b", "B").ok());
  CHECK(out.calls == 0);
  REQUIRE(table.Set("j", "a", "A").ok());
  REQUIRE(out.calls == 1);
  REQUIRE(out.result->ok());
  CHECK(**out.result == std::vector<std::string>{"A", "B"});
  CHECK(table.Stats().waiters == 0);
  // Later activity never re-runs the callback.
  REQUIRE(table.Set("j", "a", "again").ok());
  table.ExpireDeadlines(f.clock.Now() + absl::Hours(1));
  CHECK(out.calls == 1);
}

TEST_CASE("KvTable StartWait on existing keys answers inline", "[kv_table]") {
  Fixture f;
  KvTable table(f.Options());
  REQUIRE(table.Set("j", "k", "v").ok());
  Outcome out;
  auto start = table.StartWait("j", {"k"}, f.clock.Now(), true, out.Callback());
  REQUIRE(start.ok());
  CHECK(start->ready);
  CHECK(start->values == std::vector<std::string>{"v"});
  CHECK(out.calls == 0);
  CHECK(table.Stats().waiters == 0);
}

TEST_CASE("KvTable TryGetAll never parks", "[kv_table]") {
  Fixture f;
  KvTable table(f.Options());
  REQUIRE(table.Set("j", "a", "A").ok());
  auto partial = table.TryGetAll("j", {"a", "b"}, true);
  REQUIRE(partial.ok());
  CHECK_FALSE(partial->has_value());
  CHECK(table.Stats().waiters == 0);
  REQUIRE(table.Set("j", "b", "B").ok());
  auto all = table.TryGetAll("j", {"b", "a"}, true);
  REQUIRE(all.ok());
  REQUIRE(all->has_value());
  CHECK(**all == std::vector<std::string>{"B", "A"});
  CHECK(absl::IsInvalidArgument(table.TryGetAll("", {"a"}, true).status()));
}

TEST_CASE("KvTable waiter re-waits for a key deleted meanwhile", "[kv_table]") {
  Fixture f;
  Outcome out;
  KvTable table(f.Options());
  REQUIRE(table
              .StartWait("j", {"a", "b"}, f.clock.Now() + absl::Seconds(5),
                         true, out.Callback())
              .ok());
  REQUIRE(table.Set("j", "a", "A").ok());
  REQUIRE(*table.DeleteKey("j", "a"));
  REQUIRE(table.Set("j", "b", "B").ok());
  CHECK(out.calls == 0);
  REQUIRE(table.Set("j", "a", "A2").ok());
  REQUIRE(out.calls == 1);
  CHECK(**out.result == std::vector<std::string>{"A2", "B"});
}

TEST_CASE("KvTable Add, Append, MultiSet and CompareSet wake waiters",
          "[kv_table]") {
  Fixture f;
  Outcome add, append, multi, cas;
  KvTable table(f.Options());
  const absl::Time deadline = f.clock.Now() + absl::Seconds(5);
  REQUIRE(table.StartWait("j", {"n"}, deadline, true, add.Callback()).ok());
  REQUIRE(table.StartWait("j", {"l"}, deadline, true, append.Callback()).ok());
  REQUIRE(table.StartWait("j", {"m1", "m2"}, deadline, false, multi.Callback())
              .ok());
  REQUIRE(table.StartWait("j", {"c"}, deadline, true, cas.Callback()).ok());
  REQUIRE(table.Add("j", "n", 3).ok());
  REQUIRE(table.Append("j", "l", "x").ok());
  std::vector<std::pair<std::string, std::string>> entries = {{"m1", "1"},
                                                              {"m2", "2"}};
  REQUIRE(table.MultiSet("j", entries).ok());
  REQUIRE(table.CompareSet("j", "c", "", "C").ok());
  CHECK(**add.result == std::vector<std::string>{"3"});
  CHECK(**append.result == std::vector<std::string>{"x"});
  CHECK(multi.result->ok());
  CHECK((*multi.result)->empty());
  CHECK(**cas.result == std::vector<std::string>{"C"});
}

TEST_CASE("KvTable deadline names the missing keys, job and time waited",
          "[kv_table]") {
  Fixture f;
  KvTable table(f.Options());
  REQUIRE(table.Set("job7", "here", "1").ok());
  Outcome out;
  REQUIRE(table
              .StartWait("job7", {"here", "gone1", "gone2"},
                         f.clock.Now() + absl::Seconds(3), false,
                         out.Callback())
              .ok());
  CHECK(table.NextDeadline() == f.clock.Now() + absl::Seconds(3));
  f.clock.Advance(absl::Seconds(2));
  table.ExpireDeadlines(f.clock.Now());
  CHECK(out.calls == 0);
  f.clock.Advance(absl::Seconds(1));
  table.ExpireDeadlines(f.clock.Now());
  REQUIRE(out.calls == 1);
  const absl::Status status = out.result->status();
  CHECK(absl::IsDeadlineExceeded(status));
  const std::string message(status.message());
  CHECK(absl::StrContains(message, "'gone1'"));
  CHECK(absl::StrContains(message, "'gone2'"));
  CHECK_FALSE(absl::StrContains(message, "'here'"));
  CHECK(absl::StrContains(message, "job7"));
  CHECK(absl::StrContains(message, "3s"));
  CHECK(table.Stats().waiters == 0);
  CHECK(table.NextDeadline() == absl::InfiniteFuture());
}

TEST_CASE("KvTable wait for a timeout names that timeout, not the time seen",
          "[kv_table]") {
  Fixture f;
  Outcome out;
  KvTable table(f.Options());
  std::vector<std::string> keys;
  for (int i = 0; i < 70; ++i) keys.push_back(absl::StrCat("r", i));
  REQUIRE(table.Set("j", "r0", "here").ok());
  REQUIRE(
      table.StartWait("j", keys, absl::Milliseconds(300), false, out.Callback())
          .ok());
  CHECK(table.NextDeadline() == f.clock.Now() + absl::Milliseconds(300));
  // The owner's timer runs late: the message still says 300ms.
  f.clock.Advance(absl::Milliseconds(345));
  table.ExpireDeadlines(f.clock.Now());
  REQUIRE(out.calls == 1);
  // Only the first 64 keys are looked at.
  CHECK(out.result->status().message() ==
        "timed out after 300ms waiting for 70 keys (at least 63 missing: 'r1', "
        "'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8' and 55 more) in job 'j'");
}

TEST_CASE("KvTable CancelWaiter ends the wait with Cancelled once",
          "[kv_table]") {
  Fixture f;
  Outcome out;
  KvTable table(f.Options());
  auto start = table.StartWait("j", {"k"}, f.clock.Now() + absl::Seconds(5),
                               true, out.Callback());
  REQUIRE(start.ok());
  CHECK(table.CancelWaiter(start->id));
  REQUIRE(out.calls == 1);
  CHECK(absl::IsCancelled(out.result->status()));
  CHECK_FALSE(table.CancelWaiter(start->id));
  REQUIRE(table.Set("j", "k", "v").ok());
  CHECK(out.calls == 1);
  CHECK(table.Stats().waiters == 0);
}

TEST_CASE("KvTable DeleteJob cancels the job's waiters only", "[kv_table]") {
  Fixture f;
  Outcome mine, other;
  KvTable table(f.Options());
  const absl::Time deadline = f.clock.Now() + absl::Seconds(5);
  REQUIRE(table.StartWait("j", {"k"}, deadline, true, mine.Callback()).ok());
  REQUIRE(table.StartWait("j2", {"k"}, deadline, true, other.Callback()).ok());
  REQUIRE(table.DeleteJob("j").ok());
  REQUIRE(mine.calls == 1);
  CHECK(absl::IsCancelled(mine.result->status()));
  CHECK(other.calls == 0);
  CHECK(table.Stats().waiters == 1);
}

TEST_CASE("KvTable Shutdown releases waiters with Unavailable", "[kv_table]") {
  Fixture f;
  Outcome a, b;
  KvTable table(f.Options());
  const absl::Time deadline = f.clock.Now() + absl::Seconds(5);
  REQUIRE(table.StartWait("j", {"k"}, deadline, true, a.Callback()).ok());
  REQUIRE(table.StartWait("j", {"k", "l"}, deadline, false, b.Callback()).ok());
  table.Shutdown();
  table.Shutdown();
  REQUIRE(a.calls == 1);
  REQUIRE(b.calls == 1);
  CHECK(absl::IsUnavailable(a.result->status()));
  CHECK(absl::IsUnavailable(b.result->status()));
  CHECK(absl::IsUnavailable(table.Set("j", "k", "v")));
  CHECK(absl::IsUnavailable(
      table.StartWait("j", {"k"}, deadline, true, a.Callback()).status()));
}

TEST_CASE("KvTable callbacks may re-enter the table", "[kv_table]") {
  Fixture f;
  KvTable table(f.Options());
  int calls = 0;
  REQUIRE(table
              .StartWait("j", {"k"}, f.clock.Now() + absl::Seconds(5), true,
                         [&](absl::StatusOr<std::vector<std::string>> r) {
                           ++calls;
                           REQUIRE(r.ok());
                           REQUIRE(table.Set("j", "echo", r->front()).ok());
                         })
              .ok());
  REQUIRE(table.Set("j", "k", "hello").ok());
  CHECK(calls == 1);
  CHECK(*table.TryGet("j", "echo") == "hello");
}

TEST_CASE("KvTable limits name the limit and the size", "[kv_table]") {
  Fixture f;
  KvTableOptions options = f.Options();
  options.max_key_bytes = 4;
  options.max_value_bytes = 8;
  options.max_keys_per_job = 2;
  options.max_keys_per_request = 3;
  KvTable table(options);

  absl::Status key = table.Set("j", "toolong", "v");
  CHECK(absl::IsInvalidArgument(key));
  CHECK(absl::StrContains(key.message(), "7 bytes"));
  CHECK(absl::StrContains(key.message(), "max_key_bytes=4"));

  absl::Status value = table.Set("j", "k", "123456789");
  CHECK(absl::IsInvalidArgument(value));
  CHECK(absl::StrContains(value.message(), "9 bytes"));
  CHECK(absl::StrContains(value.message(), "max_value_bytes=8"));

  REQUIRE(table.Append("j", "k", "12345").ok());
  CHECK(absl::IsInvalidArgument(table.Append("j", "k", "6789")));
  CHECK(*table.TryGet("j", "k") == "12345");
  CHECK(absl::IsInvalidArgument(
      table.CompareSet("j", "k", "12345", "123456789").status()));

  REQUIRE(table.Set("j", "k2", "v").ok());
  absl::Status quota = table.Set("j", "k3", "v");
  CHECK(absl::IsResourceExhausted(quota));
  CHECK(absl::StrContains(quota.message(), "max_keys_per_job=2"));
  CHECK(absl::IsResourceExhausted(table.Add("j", "k3", 1).status()));
  // Overwriting an existing key is not a new key.
  CHECK(table.Set("j", "k2", "w").ok());
  // MultiSet is all or nothing.
  REQUIRE(*table.DeleteKey("j", "k2"));
  std::vector<std::pair<std::string, std::string>> two_new = {{"a", "1"},
                                                              {"b", "2"}};
  CHECK(absl::IsResourceExhausted(table.MultiSet("j", two_new)));
  CHECK(*table.NumKeys("j") == 1);
  std::vector<std::pair<std::string, std::string>> bad_value = {
      {"a", "1"}, {"k", "123456789"}};
  CHECK(absl::IsInvalidArgument(table.MultiSet("j", bad_value)));
  CHECK(absl::IsNotFound(table.TryGet("j", "a").status()));

  absl::Status many = table.Check("j", {"a", "b", "c", "d"}).status();
  CHECK(absl::IsInvalidArgument(many));
  CHECK(absl::StrContains(many.message(), "max_keys_per_request=3"));
  Outcome out;
  CHECK(absl::IsInvalidArgument(
      table.StartWait("j", {"toolong"}, f.clock.Now(), true, out.Callback())
          .status()));
  CHECK(table.Stats().waiters == 0);
}

TEST_CASE("KvTable expires idle jobs after the TTL", "[kv_table]") {
  Fixture f;
  KvTableOptions options = f.Options();
  options.job_idle_ttl = absl::Minutes(10);
  KvTable table(options);
  REQUIRE(table.Set("old", "k", "v").ok());
  REQUIRE(table.Set("busy", "k", "v").ok());
  Outcome out;
  REQUIRE(table
              .StartWait("old", {"never"}, f.clock.Now() + absl::Hours(1), true,
                         out.Callback())
              .ok());
  f.clock.Advance(absl::Minutes(6));
  REQUIRE(table.TryGet("busy", "k").ok());  // Reads count as activity.
  f.clock.Advance(absl::Minutes(5));
  CHECK(table.ExpireIdleJobs(f.clock.Now()) == 1);
  CHECK(absl::IsNotFound(table.TryGet("old", "k").status()));
  CHECK(table.TryGet("busy", "k").ok());
  REQUIRE(out.calls == 1);
  CHECK(absl::IsCancelled(out.result->status()));
  CHECK(absl::StrContains(out.result->status().message(), "expired"));
  const KvTableStats stats = table.Stats();
  CHECK(stats.jobs == 1);
  CHECK(stats.keys == 1);
  CHECK(stats.waiters == 0);
}

TEST_CASE("KvTable never expires the jobs exempt from the TTL", "[kv_table]") {
  Fixture f;
  KvTableOptions options = f.Options();
  options.job_idle_ttl = absl::Minutes(10);
  options.jobs_without_idle_ttl = {"torch"};
  Outcome out;
  KvTable table(options);
  REQUIRE(table.Set("torch", "/k", "v").ok());
  REQUIRE(table.Set("other", "k", "v").ok());
  REQUIRE(table
              .StartWait("torch", {"/never"}, f.clock.Now() + absl::Hours(100),
                         true, out.Callback())
              .ok());
  f.clock.Advance(absl::Hours(48));
  CHECK(table.ExpireIdleJobs(f.clock.Now()) == 1);
  CHECK(table.TryGet("torch", "/k").ok());
  CHECK(absl::IsNotFound(table.TryGet("other", "k").status()));
  CHECK(out.calls == 0);
  CHECK(table.Stats().waiters == 1);
}

}  // namespace
}  // namespace tplaunch
