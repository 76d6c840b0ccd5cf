// CallTable, the proxy's pure coalescing core, with made-up times.
#include "store/proxy/call_table.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace tplaunch {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);
constexpr absl::Duration kGrace = absl::Seconds(2);

// Records what each caller was answered.
struct Recorder {
  std::vector<CallResult> results;
  CallDone Done() {
    return [this](CallResult result) { results.push_back(std::move(result)); };
  }
};

void RunAll(std::vector<CallTable::Answer> answers, const CallResult& result) {
  for (CallTable::Answer& answer : answers) answer.done(result);
}

TEST_CASE("CallTable: the first caller starts the call, the rest join",
          "[store][proxy]") {
  CallTable table(kGrace);
  Recorder r;
  CHECK(table.Join("Get|1:k", kT0, kT0 + absl::Seconds(5), r.Done())
            .start_upstream);
  CHECK_FALSE(table.Join("Get|1:k", kT0, kT0 + absl::Seconds(9), r.Done())
                  .start_upstream);
  CHECK(table.Join("Get|1:j", kT0, kT0 + absl::Seconds(1), r.Done())
            .start_upstream);
  CHECK(table.pending_calls() == 2);
  CHECK(table.callers() == 3);
  CHECK(*table.StartUpstream("Get|1:k", kT0, absl::Hours(1)) ==
        kT0 + absl::Seconds(9));
  CHECK(*table.StartUpstream("Get|1:k", kT0, absl::Seconds(3)) ==
        kT0 + absl::Seconds(3));
  // The first caller of j is covered by j's upstream call: its grace too.
  CHECK(*table.NextDeadline() == kT0 + absl::Seconds(1) + kGrace);

  const CallResult value = std::vector<std::string>{"v"};
  CallTable::Finished finished =
      table.Finish("Get|1:k", value, kT0 + absl::Seconds(2));
  CHECK_FALSE(finished.restart);
  CHECK(finished.expired.empty());
  REQUIRE(finished.answered.size() == 2);
  RunAll(std::move(finished.answered), value);
  REQUIRE(r.results.size() == 2);
  CHECK((*r.results[0])[0] == "v");
  CHECK(table.pending_calls() == 1);
  CHECK(table.callers() == 1);
}

TEST_CASE("CallTable: an early deadline expires one caller, not the call",
          "[store][proxy]") {
  CallTable table(kGrace);
  Recorder r;
  table.Join("Get|1:k", kT0, kT0 + absl::Seconds(10), r.Done());
  table.Join("Get|1:k", kT0, kT0 + absl::Seconds(1), r.Done());
  CHECK(table.ExpireDue(kT0 + absl::Milliseconds(999)).empty());
  std::vector<CallTable::Answer> due = table.ExpireDue(kT0 + absl::Seconds(1));
  REQUIRE(due.size() == 1);
  CHECK(due[0].call_key == "Get|1:k");
  CHECK(due[0].deadline == kT0 + absl::Seconds(1));
  CHECK(table.callers() == 1);
  CHECK(table.pending_calls() == 1);
  // A newcomer joins the running call even when every caller had left.
  std::vector<CallTable::Answer> rest = table.ExpireDue(kT0 + absl::Hours(1));
  CHECK(rest.size() == 1);
  CHECK(table.pending_calls() == 1);
  CHECK_FALSE(table.Join("Get|1:k", kT0, kT0 + absl::Hours(2), r.Done())
                  .start_upstream);
}

TEST_CASE(
    "CallTable: an upstream timeout restarts the call for callers "
    "with time left",
    "[store][proxy]") {
  CallTable table(kGrace);
  Recorder r;
  table.Join("Wait|1:a", kT0, kT0 + absl::Seconds(1), r.Done());
  table.Join("Wait|1:a", kT0, kT0 + absl::Seconds(30), r.Done());
  const CallResult timed_out = absl::DeadlineExceededError("upstream slice");
  CallTable::Finished finished =
      table.Finish("Wait|1:a", timed_out, kT0 + absl::Seconds(5));
  CHECK(finished.restart);
  CHECK(finished.answered.empty());
  CHECK(finished.expired.size() == 1);  // Its own deadline had passed.
  CHECK(table.callers() == 1);
  CHECK(*table.StartUpstream("Wait|1:a", kT0 + absl::Seconds(5),
                             absl::Hours(1)) == kT0 + absl::Seconds(30));

  finished = table.Finish("Wait|1:a", timed_out, kT0 + absl::Seconds(30));
  CHECK_FALSE(finished.restart);
  CHECK(finished.expired.size() == 1);
  CHECK(table.pending_calls() == 0);
}

TEST_CASE("CallTable: a caller the upstream call covers waits for its answer",
          "[store][proxy]") {
  CallTable table(kGrace);
  Recorder r;
  // timeout 0: the upstream is asked whether the key is there now, and its
  // answer, not the caller's deadline, decides.
  table.Join("Get|1:k", kT0, kT0, r.Done());
  CHECK(table.ExpireDue(kT0 + absl::Milliseconds(10)).empty());
  CallTable::Finished finished = table.Finish(
      "Get|1:k", std::vector<std::string>{"v"}, kT0 + absl::Milliseconds(10));
  CHECK(finished.answered.size() == 1);
  // A stuck upstream still lets the caller go, kGrace later.
  table.Join("Get|1:j", kT0, kT0, r.Done());
  CHECK(table.ExpireDue(kT0 + kGrace).size() == 1);
}

TEST_CASE("CallTable: an upstream error goes to every caller",
          "[store][proxy]") {
  CallTable table(kGrace);
  Recorder r;
  for (int i = 0; i < 3; ++i) {
    table.Join("Get|1:k", kT0, kT0 + absl::Seconds(60), r.Done());
  }
  const CallResult lost = absl::UnavailableError("daemon gone");
  CallTable::Finished finished = table.Finish("Get|1:k", lost, kT0);
  CHECK_FALSE(finished.restart);
  CHECK(finished.answered.size() == 3);
  CHECK(table.callers() == 0);
  CHECK(table.pending_calls() == 0);
}

TEST_CASE("CallTable: a caller that left is not answered", "[store][proxy]") {
  CallTable table(kGrace);
  Recorder r;
  const uint64_t a =
      table.Join("Get|1:k", kT0, kT0 + absl::Seconds(60), r.Done()).caller;
  table.Join("Get|1:k", kT0, kT0 + absl::Seconds(60), r.Done());
  CHECK(table.Leave("Get|1:k", a));
  CHECK_FALSE(table.Leave("Get|1:k", a));
  CHECK(table.callers() == 1);
  CallTable::Finished finished =
      table.Finish("Get|1:k", std::vector<std::string>{"v"}, kT0);
  CHECK(finished.answered.size() == 1);
  CHECK(table.TakeAll().empty());
}

TEST_CASE("CallTable: TakeAll empties the table of callers", "[store][proxy]") {
  CallTable table(kGrace);
  Recorder r;
  table.Join("Get|1:k", kT0, kT0 + absl::Seconds(60), r.Done());
  table.Join("MultiGet|1:a|1:b", kT0, kT0 + absl::Seconds(60), r.Done());
  CHECK(table.TakeAll().size() == 2);
  CHECK(table.callers() == 0);
  CHECK_FALSE(table.NextDeadline().has_value());
  // The running calls end later and find nobody.
  CHECK(table.Finish("Get|1:k", absl::UnavailableError("x"), kT0)
            .answered.empty());
  CHECK(table.pending_calls() == 1);
}

}  // namespace
}  // namespace tplaunch
