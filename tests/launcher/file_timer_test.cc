// The file timer's request parser and timer table (the pure core of
// TORCHELASTIC_ENABLE_FILE_TIMER), with requests as FileTimerClient writes
// them.
#include "launcher/file_timer.h"

#include <signal.h>

#include <catch2/catch.hpp>

namespace tplaunch {
namespace {

TimerRequest Req(pid_t pid, const std::string& scope, double t, int sig) {
  TimerRequest r;
  r.pid = pid;
  r.scope_id = scope;
  r.expiration_time = t;
  r.signal = sig;
  return r;
}

absl::Time At(double seconds) {
  return absl::FromUnixMicros(static_cast<int64_t>(seconds * 1e6));
}

TEST_CASE("FileTimerClient's requests parse") {
  // json.dumps of FileTimerRequest.to_json, acquire and release.
  auto a = ParseTimerRequest(
      R"({"version": 1, "pid": 4242, "scope_id": "train_step", )"
      R"("expiration_time": 1700000000.25, "signal": 9})");
  REQUIRE(a.ok());
  CHECK(a->pid == 4242);
  CHECK(a->scope_id == "train_step");
  CHECK(a->expiration_time == 1700000000.25);
  CHECK(a->signal == SIGKILL);
  CHECK_FALSE(a->is_release());
  CHECK(a->deadline() == At(1700000000.25));
  auto r = ParseTimerRequest(
      R"({"version": 1, "pid": 4242, "scope_id": "train_step", )"
      R"("expiration_time": -1, "signal": 0})");
  REQUIRE(r.ok());
  CHECK(r->is_release());
  // Escapes, as json.dumps writes a non-ASCII or quoted scope.
  auto e = ParseTimerRequest(
      R"({"pid": 1, "scope_id": "a\"b\u00e9", "expiration_time": 1e9, "signal": 15})");
  REQUIRE(e.ok());
  CHECK(e->scope_id == "a\"b\xc3\xa9");
}

TEST_CASE("malformed requests are rejected with the reason") {
  struct Row {
    std::string line;
    std::string reason;
  };
  std::vector<Row> rows = {
      {"not json", "expected a JSON object"},
      {R"({"pid": 1, "scope_id": "s", "expiration_time": 5})",
       "missing field \"signal\""},
      {R"({"pid": "1", "scope_id": "s", "expiration_time": 5, "signal": 9})",
       "\"pid\" must be an integer"},
      {R"({"pid": 0, "scope_id": "s", "expiration_time": 5, "signal": 9})",
       "must be a process id"},
      {R"({"pid": 1, "scope_id": 3, "expiration_time": 5, "signal": 9})",
       "\"scope_id\" must be a string"},
      {R"({"pid": 1, "scope_id": "s", "expiration_time": "soon", "signal": 9})",
       "\"expiration_time\" must be a number"},
      {R"({"pid": 1, "scope_id": "s", "expiration_time": 5, "signal": 99})",
       "is not a signal"},
      {R"({"version": 2, "pid": 1, "scope_id": "s", "expiration_time": 5, "signal": 9})",
       "version 2 is not supported"},
      {R"({"pid": 1, "scope_id": "s", "expiration_time": 5, "signal": 9} x)",
       "text after the object"},
      {R"({"pid": 1, "scope_id": "s)", "bad string"},
      {std::string(5000, ' '), "over the 4096-byte limit"},
  };
  for (const Row& row : rows) {
    INFO(row.line);
    auto r = ParseTimerRequest(row.line);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(r.status().message()), Catch::Contains(row.reason));
  }
}

TEST_CASE("timers expire per pid; the earliest with a signal decides") {
  FileTimerTable t;
  REQUIRE(t.Apply(Req(10, "outer", 100, 0)).ok());
  REQUIRE(t.Apply(Req(10, "inner", 105, SIGTERM)).ok());
  REQUIRE(t.Apply(Req(11, "step", 200, SIGKILL)).ok());
  CHECK(*t.NextDeadline() == At(100));
  CHECK(t.TakeExpired(At(99)).empty());
  // At 100 only pid 10's "outer" (no signal) has expired.
  auto first = t.TakeExpired(At(100));
  REQUIRE(first.size() == 1);
  CHECK(first[0].pid == 10);
  CHECK(first[0].scope_id == "outer");
  CHECK(first[0].signal == 0);
  // Every timer of an expired pid is gone, its unexpired ones too.
  CHECK(t.size() == 1);

  REQUIRE(t.Apply(Req(12, "a", 300, 0)).ok());
  REQUIRE(t.Apply(Req(12, "b", 301, SIGUSR1)).ok());
  auto both = t.TakeExpired(At(400));
  REQUIRE(both.size() == 2);
  CHECK(both[0].pid == 11);
  CHECK(both[0].signal == SIGKILL);
  CHECK(both[1].pid == 12);
  CHECK(both[1].scope_id == "b");
  CHECK(both[1].signal == SIGUSR1);
  CHECK(both[1].deadline == At(301));
  CHECK_FALSE(t.NextDeadline().has_value());
}

TEST_CASE("release removes, re-acquire replaces, the table is bounded") {
  FileTimerTableOptions o;
  o.max_timers = 2;
  FileTimerTable t(o);
  REQUIRE(t.Apply(Req(1, "s", 100, SIGKILL)).ok());
  REQUIRE(t.Apply(Req(1, "s", 500, SIGKILL)).ok());  // Same key: replaced.
  CHECK(t.size() == 1);
  CHECK(t.TakeExpired(At(200)).empty());
  REQUIRE(t.Apply(Req(1, "s", -1, 0)).ok());  // Released.
  CHECK(t.size() == 0);
  REQUIRE(t.Apply(Req(1, "a", 100, SIGKILL)).ok());
  REQUIRE(t.Apply(Req(2, "a", 100, SIGKILL)).ok());
  absl::Status full = t.Apply(Req(3, "a", 100, SIGKILL));
  CHECK(full.code() == absl::StatusCode::kResourceExhausted);
  CHECK(t.Apply(Req(2, "a", 150, SIGKILL)).ok());  // An existing key is fine.
  t.Forget(1);
  CHECK(t.size() == 1);
  CHECK(t.TakeExpired(At(1000)).at(0).pid == 2);
}

}  // namespace
}  // namespace tplaunch
