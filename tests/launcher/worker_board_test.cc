// WorkerBoard: what the live view shows of a launcher's workers, with a real
// child process as the worker (its /proc entry, then its exit).
#include "launcher/worker_board.h"

#include <signal.h>

#include <catch2/catch.hpp>

#include "tests/testing/processes.h"

namespace tplaunch {
namespace {

TEST_CASE("a worker's pid, /proc state, RSS, last line, then its exit") {
  WorkerBoard board;
  CHECK(board.RunIds().empty());
  board.StartAttempt("job1", 2);
  std::shared_ptr<LastLine> line0 = board.AddWorker(4, 0);
  std::shared_ptr<LastLine> line1 = board.AddWorker(5, 1);
  testing::Subprocess child({"/bin/sleep", "60"});
  board.SetPids({child.pid(), 0});
  line0->Set("step 10 loss 0.5");
  CHECK(board.RunIds() == std::vector<std::string>{"job1"});

  rendezvous::v1::LiveJob job;
  job.set_state("store_only");
  board.Fill("job1", job);
  REQUIRE(job.workers_size() == 2);
  const auto& w = job.workers(0);
  CHECK(w.rank() == 4);
  CHECK(w.local_rank() == 0);
  CHECK(w.pid() == child.pid());
  CHECK((w.state() == "sleeping" || w.state() == "running"));
  CHECK(w.rss_bytes() > 0);
  CHECK(w.last_line() == "step 10 loss 0.5");
  CHECK(job.workers(1).state() == "starting");
  CHECK(job.state() == "running");
  CHECK(job.attempt() == 2);

  child.Kill(SIGKILL);
  CHECK(child.Wait(absl::Seconds(10)).has_value());
  board.Exited(child.pid(), 128 + SIGKILL);
  rendezvous::v1::LiveJob after;
  board.Fill("job1", after);
  CHECK(after.workers(0).state() == "exited");
  CHECK(after.workers(0).exit_code() == 137);
  CHECK(after.state() == "ended_failed");
  CHECK(after.root_cause().exit_code() == 137);
  CHECK(after.root_cause().reason().find("rank 4") != std::string::npos);

  // Another job's page gets nothing; a table-backed state is kept.
  rendezvous::v1::LiveJob other;
  board.Fill("job2", other);
  CHECK(other.workers_size() == 0);
  rendezvous::v1::LiveJob tabled;
  tabled.set_state("running");
  board.Fill("job1", tabled);
  CHECK(tabled.state() == "running");
  CHECK(tabled.workers_size() == 2);
}

}  // namespace
}  // namespace tplaunch
