// StateStore over a temporary directory: a KvTable journaled into it, the
// store closed, then reopened and recovered into a fresh table.
#include "rendezvous/state_store.h"

#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/kv_table.h"
#include "tests/testing/files.h"

namespace tplaunch {
namespace {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time now) : now_(now) {}
  absl::Time Now() const override { return now_; }
  void Set(absl::Time now) { now_ = now; }

 private:
  absl::Time now_;
};

std::unique_ptr<StateStore> Open(const std::string& dir) {
  StateStoreOptions options;
  options.dir = dir;
  absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(options);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return *std::move(store);
}

KvTableOptions Journaled(KvJournal* journal, const Clock* clock = nullptr) {
  KvTableOptions options;
  options.journal = journal;
  options.clock = clock;
  return options;
}

TEST_CASE("StateStore recovers keys, counters and deletions", "[state_store]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  std::string incarnation;
  {
    std::unique_ptr<StateStore> store = Open(dir);
    incarnation = store->incarnation();
    KvTable table(Journaled(store.get()));
    REQUIRE(table.Set("run1", "a", std::string("\0bytes", 6)).ok());
    REQUIRE(table.Set("run1", "empty", "").ok());
    REQUIRE(*table.Add("run1", "exit_barrier", 1) == 1);
    REQUIRE(*table.Add("run1", "exit_barrier", 1) == 2);
    REQUIRE(table.Append("run1", "log", "x").ok());
    REQUIRE(table.Append("run1", "log", "y").ok());
    REQUIRE(table.MultiSet("run1", {{"m1", "1"}, {"m2", "2"}}).ok());
    REQUIRE(*table.DeleteKey("run1", "m1"));
    REQUIRE(table.Set("run2", "k", "gone").ok());
    REQUIRE(*table.DeleteJob("run2") == 1);
    REQUIRE(table.Set("run3", "only", "1").ok());
    REQUIRE(*table.DeleteKey("run3", "only"));
    CHECK(store->stats().calls == 12);
  }
  std::unique_ptr<StateStore> store = Open(dir);
  // The state survived, so its incarnation did too.
  CHECK(store->incarnation() == incarnation);
  KvTable table(Journaled(store.get()));
  absl::StatusOr<StateRecovery> recovered = store->Recover(table, absl::Now());
  REQUIRE(recovered.ok());
  CHECK(recovered->jobs == 1);
  CHECK(recovered->keys == 5);
  CHECK(*table.TryGet("run1", "a") == std::string("\0bytes", 6));
  CHECK(*table.TryGet("run1", "empty") == "");
  CHECK(*table.TryGet("run1", "log") == "xy");
  CHECK(*table.TryGet("run1", "m2") == "2");
  CHECK(absl::IsNotFound(table.TryGet("run1", "m1").status()));
  CHECK(*table.NumKeys("run2") == 0);
  CHECK(*table.NumKeys("run3") == 0);
  // Counters continue where they stood.
  CHECK(*table.Add("run1", "exit_barrier", 1) == 3);
}

TEST_CASE("StateStore incarnations differ between state dirs",
          "[state_store]") {
  const std::string base = testing::MakeTempDir();
  std::unique_ptr<StateStore> a = Open(base + "/a");
  std::unique_ptr<StateStore> b = Open(base + "/b");
  CHECK(a->incarnation().size() == 32);
  CHECK(a->incarnation() != b->incarnation());
}

TEST_CASE("StateStore resumes each job's idle clock, not counting downtime",
          "[state_store]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  const absl::Time now = absl::Now();
  {
    std::unique_ptr<StateStore> store = Open(dir);
    FakeClock clock(now - absl::Hours(20));
    KvTable table(Journaled(store.get(), &clock));
    REQUIRE(table.Set("old", "k", "v").ok());
    clock.Set(now);
    REQUIRE(table.Set("fresh", "k", "v").ok());
  }
  std::unique_ptr<StateStore> store = Open(dir);
  // Three days later.
  const absl::Time restart = now + absl::Hours(72);
  FakeClock clock(restart);
  KvTableOptions options = Journaled(store.get(), &clock);
  options.job_idle_ttl = absl::Hours(24);
  KvTable table(options);
  REQUIRE(store->Recover(table, restart).ok());
  CHECK(table.Stats().jobs == 2);
  // "old" had been idle 20 h of its 24: it expires 4 h after the restart (a
  // minute of slack for the real time the commits took), "fresh" does not.
  CHECK(table.ExpireIdleJobs(restart + absl::Hours(4) - absl::Minutes(1)) == 0);
  CHECK(table.ExpireIdleJobs(restart + absl::Hours(4) + absl::Minutes(1)) == 1);
  CHECK(table.Stats().jobs == 1);
  CHECK(table.TryGet("fresh", "k").ok());
}

TEST_CASE("StateStore keeps every acknowledged write of concurrent writers",
          "[state_store]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  constexpr int kThreads = 8;
  constexpr int kWrites = 50;
  {
    std::unique_ptr<StateStore> store = Open(dir);
    KvTable table(Journaled(store.get()));
    // Catch2's assertions are not thread-safe: each writer records its first
    // error, checked after the join.
    std::vector<absl::Status> errors(kThreads);
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&table, &errors, t] {
        for (int i = 0; i < kWrites && errors[t].ok(); ++i) {
          errors[t] = table.Set("j", absl::StrCat(t, "/", i), "v");
          if (errors[t].ok()) errors[t] = table.Add("j", "count", 1).status();
        }
      });
    }
    for (std::thread& w : writers) w.join();
    for (const absl::Status& e : errors) REQUIRE(e.ok());
    const StateStoreStats stats = store->stats();
    CHECK(stats.calls == 2 * kThreads * kWrites);
    CHECK(stats.commits <= stats.calls);
  }
  std::unique_ptr<StateStore> store = Open(dir);
  KvTable table(Journaled(store.get()));
  REQUIRE(store->Recover(table, absl::Now()).ok());
  CHECK(*table.NumKeys("j") == kThreads * kWrites + 1);
  CHECK(*table.TryGet("j", "count") == absl::StrCat(kThreads * kWrites));
}

TEST_CASE(
    "StateStore fails stop when the disk refuses a write, losing no "
    "acknowledged change",
    "[state_store]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  int acked = 0;
  {
    std::unique_ptr<StateStore> store = Open(dir);
    KvTable table(Journaled(store.get()));
    // A file size limit makes the next growing write fail with EFBIG (the
    // signal it would raise is ignored), as a full disk would.
    rlimit saved;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    signal(SIGXFSZ, SIG_IGN);
    rlimit low = saved;
    low.rlim_cur = 1 << 20;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &low) == 0);
    const std::string value(64 * 1024, 'v');
    absl::Status failed;
    for (int i = 0; i < 64 && failed.ok(); ++i) {
      failed = table.Set("j", absl::StrCat(i), value);
      if (failed.ok()) ++acked;
    }
    REQUIRE(setrlimit(RLIMIT_FSIZE, &saved) == 0);
    signal(SIGXFSZ, SIG_DFL);
    INFO(failed.ToString());
    REQUIRE(absl::IsUnavailable(failed));
    CHECK(absl::StrContains(failed.message(), dir));
    CHECK(acked > 0);
    // Everything after the failure is refused, reads included.
    CHECK(absl::IsUnavailable(table.TryGet("j", "0").status()));
    CHECK(absl::IsUnavailable(table.Set("j", "later", "v")));
  }
  std::unique_ptr<StateStore> store = Open(dir);
  KvTable table(Journaled(store.get()));
  REQUIRE(store->Recover(table, absl::Now()).ok());
  for (int i = 0; i < acked; ++i) {
    INFO("key " << i);
    CHECK(table.TryGet("j", absl::StrCat(i)).ok());
  }
  CHECK(absl::IsNotFound(table.TryGet("j", "later").status()));
}

TEST_CASE("StateStore refuses a state dir another store holds",
          "[state_store]") {
  const std::string dir = testing::MakeTempDir() + "/state";
  std::unique_ptr<StateStore> first = Open(dir);
  StateStoreOptions options;
  options.dir = dir;
  absl::StatusOr<std::unique_ptr<StateStore>> second = OpenStateStore(options);
  REQUIRE_FALSE(second.ok());
  INFO(second.status().ToString());
  CHECK(absl::IsFailedPrecondition(second.status()));
  CHECK(absl::StrContains(second.status().message(), "in use"));
}

TEST_CASE("StateStore rejects a file that is not a state file",
          "[state_store]") {
  const std::string dir = testing::MakeTempDir();
  {
    std::ofstream out(dir + "/tprdzvd.sqlite3");
    out << std::string(8192, 'x');
  }
  StateStoreOptions options;
  options.dir = dir;
  absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(options);
  REQUIRE_FALSE(store.ok());
  INFO(store.status().ToString());
  CHECK(absl::IsDataLoss(store.status()));
  CHECK(absl::StrContains(store.status().message(), "tprdzvd.sqlite3"));
}

TEST_CASE("StateStore names a state dir it cannot create", "[state_store]") {
  StateStoreOptions options;
  options.dir = "/proc/self/no/such/dir";
  absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(options);
  REQUIRE_FALSE(store.ok());
  CHECK(absl::IsUnavailable(store.status()));
  CHECK(absl::StrContains(store.status().message(), options.dir));
  options.dir = "";
  CHECK(absl::IsInvalidArgument(OpenStateStore(options).status()));
}

}  // namespace
}  // namespace tplaunch
