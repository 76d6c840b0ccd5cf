// KvTable with a KvJournal: what each operation hands the journal, that
// replies and woken waiters wait for durability, and that a failed journal
// closes the table.
#include <catch2/catch.hpp>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "store/kv_journal.h"
#include "store/kv_table.h"

namespace tplaunch {
namespace {

class FakeClock final : public Clock {
 public:
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1'000'000);
};

// Keeps every mutation as text ("put job key=value", ...), one entry per
// Record call; AwaitDurable answers with `failure` (OK by default) and
// remembers the tickets it was asked for.
class FakeJournal final : public KvJournal {
 public:
  uint64_t Record(absl::Span<const KvMutation> mutations) override {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> call;
    for (const KvMutation& m : mutations) {
      switch (m.kind) {
        case KvMutation::Kind::kPut:
          call.push_back(absl::StrCat("put ", m.job, " ", m.key, "=", m.value));
          break;
        case KvMutation::Kind::kDeleteKey:
          call.push_back(absl::StrCat("delete ", m.job, " ", m.key));
          break;
        case KvMutation::Kind::kDeleteJob:
          call.push_back(absl::StrCat("delete-job ", m.job));
          break;
        case KvMutation::Kind::kTouch:
          call.push_back(absl::StrCat("touch ", m.job));
          break;
      }
      times.push_back(m.time);
    }
    calls.push_back(std::move(call));
    return calls.size();
  }

  absl::Status AwaitDurable(uint64_t ticket) override {
    std::lock_guard<std::mutex> lock(mu);
    awaited.push_back(ticket);
    if (before_durable) before_durable();
    return failure;
  }

  std::mutex mu;
  std::vector<std::vector<std::string>> calls;
  std::vector<absl::Time> times;
  std::vector<uint64_t> awaited;
  absl::Status failure;
  std::function<void()> before_durable;
};

struct Fixture {
  FakeClock clock;
  FakeJournal journal;
  KvTableOptions Options() {
    KvTableOptions options;
    options.clock = &clock;
    options.journal = &journal;
    return options;
  }
};

using Calls = std::vector<std::vector<std::string>>;

TEST_CASE("KvTable journals the resulting state of every mutation",
          "[kv_table][journal]") {
  Fixture f;
  KvTable table(f.Options());
  REQUIRE(table.Set("j", "a", "1").ok());
  REQUIRE(*table.Add("j", "n", 2) == 2);
  REQUIRE(*table.Add("j", "n", 5) == 7);
  REQUIRE(table.Append("j", "a", "x").ok());
  REQUIRE(*table.CompareSet("j", "a", "1x", "y") == "y");
  // An unchanged CompareSet records nothing.
  REQUIRE(*table.CompareSet("j", "a", "nope", "z") == "y");
  REQUIRE(table.MultiSet("j", {{"b", "2"}, {"c", "3"}}).ok());
  REQUIRE(*table.DeleteKey("j", "b"));
  REQUIRE_FALSE(*table.DeleteKey("j", "b"));
  REQUIRE(*table.DeleteJob("j") == 3);
  CHECK(f.journal.calls == Calls{{"put j a=1"},
                                 {"put j n=2"},
                                 {"put j n=7"},
                                 {"put j a=1x"},
                                 {"put j a=y"},
                                 {"put j b=2", "put j c=3"},
                                 {"delete j b"},
                                 {"delete-job j"}});
  for (absl::Time t : f.journal.times) CHECK(t == f.clock.Now());
  // Each mutation waited for its own ticket before replying.
  CHECK(absl::c_linear_search(f.journal.awaited, uint64_t{8}));
}

TEST_CASE("KvTable wakes waiters only once their key is durable",
          "[kv_table][journal]") {
  Fixture f;
  KvTable table(f.Options());
  std::optional<absl::StatusOr<std::vector<std::string>>> outcome;
  auto start = table.StartWait(
      "j", {"k"}, f.clock.Now() + absl::Seconds(5), /*want_values=*/true,
      [&](absl::StatusOr<std::vector<std::string>> r) { outcome = r; });
  REQUIRE(start.ok());
  REQUIRE_FALSE(start->ready);
  bool woken_before_durable = true;
  f.journal.before_durable = [&] {
    woken_before_durable = outcome.has_value();
  };
  REQUIRE(table.Set("j", "k", "v").ok());
  CHECK_FALSE(woken_before_durable);
  REQUIRE(outcome.has_value());
  CHECK(**outcome == std::vector<std::string>{"v"});
}

TEST_CASE("KvTable reads wait for the state they saw to be durable",
          "[kv_table][journal]") {
  Fixture f;
  KvTable table(f.Options());
  REQUIRE(table.Set("j", "k", "v").ok());
  f.journal.awaited.clear();
  REQUIRE(*table.TryGet("j", "k") == "v");
  REQUIRE(*table.Check("j", {"k"}));
  REQUIRE(*table.NumKeys("j") == 1);
  CHECK(f.journal.awaited == std::vector<uint64_t>{1, 1, 1});
}

TEST_CASE("KvTable journals read-only activity at most every ttl/16",
          "[kv_table][journal]") {
  Fixture f;
  KvTableOptions options = f.Options();
  options.job_idle_ttl = absl::Hours(16);
  KvTable table(options);
  REQUIRE(table.Set("j", "k", "v").ok());
  f.clock.Advance(absl::Minutes(59));
  REQUIRE(table.TryGet("j", "k").ok());
  CHECK(f.journal.calls.size() == 1);
  f.clock.Advance(absl::Minutes(1));
  REQUIRE(table.TryGet("j", "k").ok());
  REQUIRE(f.journal.calls.size() == 2);
  CHECK(f.journal.calls[1] == std::vector<std::string>{"touch j"});
  CHECK(f.journal.times.back() == f.clock.Now());
}

TEST_CASE("KvTable journals idle expiry as a job deletion",
          "[kv_table][journal]") {
  Fixture f;
  KvTableOptions options = f.Options();
  options.job_idle_ttl = absl::Hours(1);
  KvTable table(options);
  REQUIRE(table.Set("j", "k", "v").ok());
  f.clock.Advance(absl::Hours(2));
  CHECK(table.ExpireIdleJobs(f.clock.Now()) == 1);
  CHECK(f.journal.calls.back() == std::vector<std::string>{"delete-job j"});
}

TEST_CASE("KvTable closes when its journal fails", "[kv_table][journal]") {
  Fixture f;
  KvTable table(f.Options());
  std::optional<absl::StatusOr<std::vector<std::string>>> outcome;
  auto start = table.StartWait(
      "j", {"k"}, f.clock.Now() + absl::Seconds(5), /*want_values=*/true,
      [&](absl::StatusOr<std::vector<std::string>> r) { outcome = r; });
  REQUIRE(start.ok());
  f.journal.failure = absl::UnavailableError("disk full");
  absl::Status set = table.Set("j", "k", "v");
  CHECK(absl::IsUnavailable(set));
  CHECK(absl::StrContains(set.message(), "disk full"));
  // The waiter the lost Set woke gets the error, not the value.
  REQUIRE(outcome.has_value());
  CHECK(absl::IsUnavailable(outcome->status()));
  f.journal.failure = absl::OkStatus();
  absl::StatusOr<std::string> later = table.TryGet("j", "k");
  CHECK(absl::IsUnavailable(later.status()));
  CHECK(absl::StrContains(later.status().message(), "journal failed"));
}

TEST_CASE("KvTable::Restore loads a job without journaling it",
          "[kv_table][journal]") {
  Fixture f;
  KvTableOptions options = f.Options();
  options.job_idle_ttl = absl::Hours(10);
  KvTable table(options);
  table.Restore("j", f.clock.Now() - absl::Hours(9), {{"a", "1"}, {"b", "2"}});
  table.Restore("empty", f.clock.Now(), {});
  CHECK(f.journal.calls.empty());
  CHECK(table.Stats().keys == 2);
  CHECK(table.Stats().jobs == 1);
  CHECK(*table.TryGet("j", "b") == "2");
  // Its idle clock kept the 9 hours it was restored with (the read above
  // refreshed it, so expiry counts from now).
  CHECK(table.ExpireIdleJobs(f.clock.Now() + absl::Hours(9)) == 0);
  CHECK(table.ExpireIdleJobs(f.clock.Now() + absl::Hours(10)) == 1);
}

TEST_CASE("KvTable::Restore keeps the idle age it is given",
          "[kv_table][journal]") {
  Fixture f;
  KvTableOptions options = f.Options();
  options.job_idle_ttl = absl::Hours(10);
  KvTable table(options);
  table.Restore("j", f.clock.Now() - absl::Hours(9), {{"a", "1"}});
  CHECK(table.ExpireIdleJobs(f.clock.Now() + absl::Minutes(59)) == 0);
  CHECK(table.ExpireIdleJobs(f.clock.Now() + absl::Hours(1)) == 1);
}

}  // namespace
}  // namespace tplaunch
