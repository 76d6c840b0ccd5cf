// End to end with real processes and env://: examples/train started N times
// with the launcher's environment against a real rendezvous server (what
// tplaunch does, without tplaunch). Covers 2/4/8 ranks, a rank that never
// arrives, a rank that crashes mid-allreduce, a restarted attempt next to a
// crashed one's keys, and env errors.
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rendezvous/server.h"
#include "tests/testing/processes.h"
#include "tests/worker_lib/worker_processes.h"

namespace tplaunch {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Runfile;

std::map<std::string, std::string> RankEnv(const std::string& endpoint,
                                           const std::string& run_id,
                                           int attempt, int rank, int n) {
  return {{"RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(n)},
          {"LOCAL_RANK", std::to_string(rank)},
          {"TPLAUNCH_RDZV_ENDPOINT", endpoint},
          {"TPLAUNCH_RUN_ID", run_id},
          {"TPLAUNCH_ATTEMPT", std::to_string(attempt)},
          {"TPLAUNCH_LOCAL_ADDR", "127.0.0.1"}};
}

std::unique_ptr<RendezvousServer> StartServer() {
  ServerOptions options;
  options.port = 0;
  auto server = StartRendezvousServer(options);
  REQUIRE(server.ok());
  return std::move(server).value();
}

std::vector<std::string> TrainArgs(std::vector<std::string> extra) {
  std::vector<std::string> argv = {Runfile("examples/train"), "--steps", "20"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST_CASE("examples/train over env:// at 2, 4 and 8 processes") {
  const int n = GENERATE(2, 4, 8);
  auto server = StartServer();
  WorkerProcesses workers;
  for (int r = 0; r < n; ++r) {
    workers.Start(TrainArgs({"--timeout", "30"}),
                  RankEnv(server->address(), "ok", 0, r, n));
  }
  std::vector<WorkerResult> results =
      workers.WaitAll(Clock::now() + std::chrono::seconds(60));
  for (int r = 0; r < n; ++r) {
    INFO("rank " << r << " stderr: " << results[r].err);
    CHECK(results[r].exit_code == 0);
  }
  CHECK_THAT(
      results[0].out,
      Catch::Contains(absl::StrCat("backend=gloo world_size=", n)) &&
          Catch::Contains(absl::StrCat("bit-identical on all ", n, " ranks")));
}

TEST_CASE(
    "a rank that never arrives: every other process names it within the "
    "timeout") {
  auto server = StartServer();
  WorkerProcesses workers;
  const auto start = Clock::now();
  for (int r = 0; r < 3; ++r) {  // Rank 3 of 4 never starts.
    workers.Start(TrainArgs({"--timeout", "2"}),
                  RankEnv(server->address(), "missing", 0, r, 4));
  }
  std::vector<WorkerResult> results =
      workers.WaitAll(start + std::chrono::seconds(30));
  CHECK(Clock::now() - start < std::chrono::seconds(10));
  for (int r = 0; r < 3; ++r) {
    INFO("rank " << r << " stderr: " << results[r].err);
    CHECK(results[r].exit_code == 1);
    CHECK_THAT(results[r].err, Catch::Contains("DEADLINE_EXCEEDED") &&
                                   Catch::Contains("rank(s) 3 of 4"));
  }
}

TEST_CASE("a rank crashing mid-allreduce: the others fail, nothing hangs") {
  auto server = StartServer();
  WorkerProcesses workers;
  const auto start = Clock::now();
  for (int r = 0; r < 4; ++r) {
    // A long timeout: the failure must come from the broken connections.
    workers.Start(TrainArgs({"--timeout", "120", "--crash-rank", "2",
                             "--crash-step", "5", "-v"}),
                  RankEnv(server->address(), "crash", 0, r, 4));
  }
  std::vector<WorkerResult> results =
      workers.WaitAll(start + std::chrono::seconds(40));
  CHECK(Clock::now() - start < std::chrono::seconds(30));
  INFO("rank 2 stderr: " << results[2].err);
  CHECK(results[2].exit_code == 3);
  for (int r : {0, 1, 3}) {
    INFO("rank " << r << " stderr: " << results[r].err);
    CHECK(results[r].exit_code == 1);
    CHECK_THAT(results[r].err, Catch::Contains("allreduce"));
  }
}

TEST_CASE("a restarted attempt ignores the crashed attempt's keys") {
  auto server = StartServer();
  {
    WorkerProcesses workers;
    for (int r = 0; r < 3; ++r) {
      workers.Start(TrainArgs({"--timeout", "60", "--crash-rank", "0",
                               "--crash-step", "1"}),
                    RankEnv(server->address(), "restart", 0, r, 3));
    }
    std::vector<WorkerResult> results =
        workers.WaitAll(Clock::now() + std::chrono::seconds(60));
    REQUIRE(results[0].exit_code == 3);
  }
  WorkerProcesses workers;
  for (int r = 0; r < 3; ++r) {
    workers.Start(TrainArgs({"--timeout", "30"}),
                  RankEnv(server->address(), "restart", 1, r, 3));
  }
  std::vector<WorkerResult> results =
      workers.WaitAll(Clock::now() + std::chrono::seconds(60));
  for (int r = 0; r < 3; ++r) {
    INFO("rank " << r << " stderr: " << results[r].err);
    CHECK(results[r].exit_code == 0);
  }
}

TEST_CASE("a garbled variable stops the worker with its name and value") {
  WorkerProcesses workers;
  auto env = RankEnv("127.0.0.1:1", "bad", 0, 0, 1);
  env["WORLD_SIZE"] = "four";
  workers.Start(TrainArgs({}), env);
  std::vector<WorkerResult> results =
      workers.WaitAll(Clock::now() + std::chrono::seconds(20));
  CHECK(results[0].exit_code == 1);
  CHECK_THAT(results[0].err, Catch::Contains("WORLD_SIZE='four'"));
}

TEST_CASE("a bad command line is a usage error, exit 2") {
  WorkerProcesses workers;
  workers.Start({Runfile("examples/train"), "--steps", "zero"}, {});
  workers.Start({Runfile("examples/train"), "--backend", "mpi"}, {});
  std::vector<WorkerResult> results =
      workers.WaitAll(Clock::now() + std::chrono::seconds(20));
  CHECK(results[0].exit_code == 2);
  CHECK(results[1].exit_code == 2);
}

}  // namespace
}  // namespace tplaunch
