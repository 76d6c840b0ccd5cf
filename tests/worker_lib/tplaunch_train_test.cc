// End to end through the real launcher: `tplaunch --nproc N examples/train`, a
// crash mid-allreduce (tplaunch tears everything down and reports the crash's
// exit code), and a restart whose new attempt must not read the crashed
// attempt's keys.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/processes.h"
#include "tests/worker_lib/worker_processes.h"

namespace tplaunch {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Runfile;

std::vector<std::string> Launch(int n, std::vector<std::string> launcher_flags,
                                std::vector<std::string> train_flags) {
  std::vector<std::string> argv = {Runfile("launcher/tplaunch"), "--nproc",
                                   std::to_string(n)};
  argv.insert(argv.end(), launcher_flags.begin(), launcher_flags.end());
  argv.push_back(Runfile("examples/train"));
  argv.push_back("--steps");
  argv.push_back("20");
  argv.insert(argv.end(), train_flags.begin(), train_flags.end());
  return argv;
}

TEST_CASE("tplaunch --nproc N examples/train at 2, 4 and 8") {
  const int n = GENERATE(2, 4, 8);
  WorkerProcesses launcher;
  launcher.Start(Launch(n, {}, {"--timeout", "30"}), {});
  std::vector<WorkerResult> r =
      launcher.WaitAll(Clock::now() + std::chrono::seconds(50));
  INFO("stdout: " << r[0].out << "\nstderr: " << r[0].err);
  CHECK(r[0].exit_code == 0);
  CHECK_THAT(
      r[0].out,
      Catch::Contains(absl::StrCat("train: backend=gloo world_size=", n)) &&
          Catch::Contains(absl::StrCat("bit-identical on all ", n, " ranks")));
}

TEST_CASE(
    "a rank crashing mid-allreduce under tplaunch: torn down, its exit code") {
  WorkerProcesses launcher;
  const auto start = Clock::now();
  launcher.Start(
      Launch(4, {"--grace-period", "5s"},
             {"--timeout", "120", "--crash-rank", "1", "--crash-step", "3"}),
      {});
  std::vector<WorkerResult> r =
      launcher.WaitAll(start + std::chrono::seconds(50));
  INFO("stdout: " << r[0].out << "\nstderr: " << r[0].err);
  CHECK(Clock::now() - start < std::chrono::seconds(20));
  CHECK(r[0].exit_code == 3);
  CHECK_THAT(r[0].out + r[0].err, Catch::Contains("crashing at step 3"));
}

TEST_CASE("--max-restarts 1: attempt 1 succeeds next to attempt 0's keys") {
  WorkerProcesses launcher;
  launcher.Start(Launch(3, {"--max-restarts", "1", "--grace-period", "5s"},
                        {"--timeout", "60", "--crash-rank", "0", "--crash-step",
                         "2", "--crash-attempt", "0"}),
                 {});
  std::vector<WorkerResult> r =
      launcher.WaitAll(Clock::now() + std::chrono::seconds(50));
  INFO("stdout: " << r[0].out << "\nstderr: " << r[0].err);
  CHECK(r[0].exit_code == 0);
  CHECK_THAT(r[0].out + r[0].err, Catch::Contains("crashing at step 2"));
  CHECK_THAT(r[0].out, Catch::Contains("bit-identical on all 3 ranks"));
}

}  // namespace
}  // namespace tplaunch
