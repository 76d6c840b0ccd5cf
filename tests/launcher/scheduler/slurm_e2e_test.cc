// End to end under a real Slurm (slurm_cluster.h: slurmctld and two slurmd
// nodes, each in its own network/UTS namespace): the real tplaunch started by
// srun and sbatch with nothing but what Slurm sets, self-hosting the
// rendezvous. Catch2 2.13 has no SKIP: where slurm-wlm is not installed each
// case WARNs and returns (CI installs it, scripts/setup.sh).
#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/launcher/scheduler/slurm_cluster.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::MakeTempDir;
using testing::ReadFile;
using testing::Runfile;
using testing::SlurmCluster;
using testing::Subprocess;
using testing::WaitFor;
using testing::WriteFile;

const char kWorker[] = "tests/launcher/scheduler/slurm_worker.sh";
const char kSkip[] =
    "skipped: slurm-wlm is not installed (no /usr/sbin/slurmctld); "
    "scripts/setup.sh installs it";

// One cluster for every case (started by the first, stopped at exit): each
// case is its own job.
SlurmCluster* Cluster() {
  static std::unique_ptr<SlurmCluster> cluster;
  static std::string error;
  if (cluster == nullptr && error.empty()) {
    auto c = SlurmCluster::Start();
    if (c.ok()) {
      cluster = std::move(*c);
    } else {
      error = std::string(c.status().message());
    }
  }
  INFO(error);
  REQUIRE(cluster != nullptr);
  return cluster.get();
}

// srun on node 0 with `srun_args`, running tplaunch `tplaunch_args` worker;
// `env` reaches every task (srun's --export=ALL).
std::unique_ptr<Subprocess> Srun(SlurmCluster* c,
                                 std::vector<std::string> srun_args,
                                 const std::vector<std::string>& tplaunch_args,
                                 std::map<std::string, std::string> env = {}) {
  std::vector<std::string> argv = {"/usr/bin/srun", "--label"};
  argv.insert(argv.end(), srun_args.begin(), srun_args.end());
  argv.push_back(Runfile("launcher/tplaunch"));
  argv.insert(argv.end(), tplaunch_args.begin(), tplaunch_args.end());
  argv.push_back(Runfile(kWorker));
  for (const auto& [k, v] : c->env()) env[k] = v;
  return std::make_unique<Subprocess>(c->OnNode(0, argv), env);
}

// What rank `rank` of a 2x2 job prints: ranks 0,1 on node0, 2,3 on node1,
// MASTER_ADDR node0's address.
std::string Worker(SlurmCluster* c, int rank) {
  return absl::StrCat("worker host=", c->name(rank / 2), " RANK=", rank,
                      " LOCAL_RANK=", rank % 2,
                      " WORLD_SIZE=4 LOCAL_WORLD_SIZE=2 GROUP_RANK=", rank / 2,
                      " MASTER_ADDR=", c->address(0), "\n");
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

void CheckFourWorkers(SlurmCluster* c, const std::string& all) {
  for (int r = 0; r < 4; ++r) {
    CHECK(Count(all, Worker(c, r)) == 1);
  }
  CHECK(Count(all, "worker host=") == 4);
}

TEST_CASE("srun -N2 --ntasks-per-node=1 tplaunch --nproc 2: 2 nodes x 2") {
  if (!testing::SlurmInstalled()) {
    WARN(kSkip);
    return;
  }
  SlurmCluster* c = Cluster();
  auto srun = Srun(c, {"-N2", "--ntasks-per-node=1"}, {"--nproc", "2"});
  const std::optional<int> rc = srun->Wait(absl::Seconds(60));
  const std::string all = srun->out() + srun->err();
  INFO(all << c->Logs());
  REQUIRE(rc == std::optional<int>(0));
  CheckFourWorkers(c, all);
  // Task 0 (node0) hosts the endpoint the inference derived from the job.
  CHECK_THAT(all, Catch::Contains("0: [tplaunch I] hosting the rendezvous "
                                  "endpoint node0:"));
  CHECK(Count(all, "hosting the rendezvous endpoint") == 1);
  CHECK_THAT(all, Catch::Contains("2 nodes, node rank 1, endpoint node0:"));
}

TEST_CASE("srun -N2 --ntasks-per-node=2 tplaunch: one worker per task") {
  if (!testing::SlurmInstalled()) {
    WARN(kSkip);
    return;
  }
  SlurmCluster* c = Cluster();
  auto srun = Srun(c, {"-N2", "--ntasks-per-node=2"}, {});
  const std::optional<int> rc = srun->Wait(absl::Seconds(60));
  const std::string all = srun->out() + srun->err();
  INFO(all << c->Logs());
  REQUIRE(rc == std::optional<int>(0));
  CheckFourWorkers(c, all);
  // Task 0 hosts; task 1, on the same node, does not race it for the port.
  CHECK(Count(all, "hosting the rendezvous endpoint") == 1);
  CHECK_THAT(all, Catch::Contains("0: [tplaunch I] hosting the rendezvous "
                                  "endpoint node0:"));
  CHECK_THAT(all, Catch::Contains("task 3 of 4, one worker per task (local "
                                  "rank 1 of 2, node 1 of 2)"));
}

TEST_CASE("srun: a failing rank stops every task, root cause printed once") {
  if (!testing::SlurmInstalled()) {
    WARN(kSkip);
    return;
  }
  SlurmCluster* c = Cluster();
  const absl::Time start = absl::Now();
  // The other ranks would sleep 300 s: srun ending sooner means tplaunch
  // stopped them.
  auto srun = Srun(c, {"-N2", "--ntasks-per-node=2"}, {}, {{"FAIL_RANK", "2"}});
  const std::optional<int> rc = srun->Wait(absl::Seconds(90));
  const std::string all = srun->out() + srun->err();
  INFO(all << c->Logs());
  REQUIRE(rc.has_value());
  CHECK(*rc != 0);
  CHECK(absl::Now() - start < absl::Seconds(90));
  CHECK(Count(all, "root cause (first failure)") == 1);
  CHECK_THAT(all, Catch::Contains("2:     rank       : 2 (local rank 0)"));
  CHECK_THAT(all, Catch::Contains("rank 2 fails on purpose"));
  // (Not every other worker need have started before the stop reached it.)
}

// srun of a 2x2 job whose workers wait for a signal, once all four are
// ready in `ready` (a fresh directory).
std::unique_ptr<Subprocess> ReadyJob(SlurmCluster* c,
                                     const std::string& ready) {
  auto srun = Srun(c, {"-N2", "--ntasks-per-node=1"}, {"--nproc", "2"},
                   {{"READY_DIR", ready}});
  const bool all_ready = WaitFor(
      [&] {
        for (int r = 0; r < 4; ++r) {
          if (!std::filesystem::exists(absl::StrCat(ready, "/ready.", r))) {
            return false;
          }
        }
        return true;
      },
      absl::Seconds(60));
  INFO(srun->out() << srun->err());
  REQUIRE(all_ready);
  return srun;
}

// The running job's id (one job at a time in this cluster).
std::string RunningJob(SlurmCluster* c) {
  auto jobs = c->Run({"/usr/bin/squeue", "-h", "-o", "%i"});
  REQUIRE(jobs.ok());
  const std::string job(absl::StripAsciiWhitespace(*jobs));
  REQUIRE(!job.empty());
  return job;
}

TEST_CASE("scancel --signal=USR1 reaches every worker") {
  if (!testing::SlurmInstalled()) {
    WARN(kSkip);
    return;
  }
  SlurmCluster* c = Cluster();
  auto srun = ReadyJob(c, MakeTempDir());
  REQUIRE(c->Run({"/usr/bin/scancel", "--signal=USR1", RunningJob(c)}).ok());
  const std::optional<int> rc = srun->Wait(absl::Seconds(60));
  const std::string all = srun->out() + srun->err();
  INFO(all);
  REQUIRE(rc == std::optional<int>(0));
  for (int r = 0; r < 4; ++r) {
    CHECK_THAT(all, Catch::Contains(absl::StrCat("rank ", r, " got SIGUSR1")));
  }
}

TEST_CASE("scancel's SIGTERM lets every worker's handler finish") {
  // What a time limit or preemption does: slurmstepd sends SIGCONT and
  // SIGTERM (more than once) and SIGKILLs only after KillWait (30 s here).
  if (!testing::SlurmInstalled()) {
    WARN(kSkip);
    return;
  }
  SlurmCluster* c = Cluster();
  const std::string ready = MakeTempDir();
  auto srun = ReadyJob(c, ready);
  REQUIRE(c->Run({"/usr/bin/scancel", RunningJob(c)}).ok());
  const bool all_handled = WaitFor(
      [&] {
        for (int r = 0; r < 4; ++r) {
          if (!std::filesystem::exists(absl::StrCat(ready, "/term.", r))) {
            return false;
          }
        }
        return true;
      },
      absl::Seconds(25));
  srun->Wait(absl::Seconds(60));
  INFO(srun->out() << srun->err());
  for (int r = 0; r < 4; ++r) {
    CHECK(std::filesystem::exists(absl::StrCat(ready, "/term.", r)));
  }
  CHECK(all_handled);
}

// docs/ has no BUILD package to export the page from: the worker's runfile is
// a symlink into the source tree, whose docs/schedulers.md this is.
std::string DocsPage() {
  std::error_code error;
  const std::filesystem::path worker =
      std::filesystem::canonical(Runfile(kWorker), error);
  if (error) return "";
  return ReadFile(
      worker.parent_path().parent_path().parent_path().parent_path() /
      "docs/schedulers.md");
}

// The first ```bash block of docs/schedulers.md that starts with an #SBATCH
// line after its #!.
std::string DocsSbatchScript() {
  const std::string doc = DocsPage();
  const std::string open = "```bash\n#!/bin/bash\n#SBATCH";
  const size_t at = doc.find(open);
  if (at == std::string::npos) return "";
  const size_t begin = at + strlen("```bash\n");
  const size_t end = doc.find("```", begin);
  return end == std::string::npos ? "" : doc.substr(begin, end - begin);
}

TEST_CASE("docs/schedulers.md's sbatch script works as written") {
  if (!testing::SlurmInstalled()) {
    WARN(kSkip);
    return;
  }
  SlurmCluster* c = Cluster();
  const std::string script = DocsSbatchScript();
  INFO("docs/schedulers.md next to " << Runfile(kWorker));
  REQUIRE_THAT(script, Catch::Contains("srun tplaunch"));
  const std::string dir = MakeTempDir();
  WriteFile(dir + "/job.sbatch", script);
  // The script's train.py: what it needs is its ranks.
  WriteFile(
      dir + "/train.py",
      "import os, socket\n"
      "print('train host=%s RANK=%s WORLD_SIZE=%s' % (socket.gethostname(),"
      " os.environ['RANK'], os.environ['WORLD_SIZE']), flush=True)\n");
  // tplaunch on PATH, as the script expects.
  const std::string bin =
      std::filesystem::path(Runfile("launcher/tplaunch")).parent_path();
  auto submitted =
      c->Run({"/bin/sh", "-c",
              absl::StrCat("cd ", dir, " && PATH=", bin,
                           ":$PATH exec sbatch --parsable job.sbatch")});
  INFO((submitted.ok() ? *submitted : submitted.status().ToString()));
  REQUIRE(submitted.ok());
  const std::string job(absl::StripAsciiWhitespace(*submitted));
  std::string state;
  const bool done = WaitFor(
      [&] {
        auto s = c->Run({"/usr/bin/scontrol", "show", "job", "-o", job});
        state = s.ok() ? *s : "";
        return absl::StrContains(state, "JobState=COMPLETED") ||
               absl::StrContains(state, "JobState=FAILED") ||
               absl::StrContains(state, "JobState=CANCELLED") ||
               absl::StrContains(state, "JobState=TIMEOUT");
      },
      absl::Seconds(60));
  const std::string out = ReadFile(absl::StrCat(dir, "/train-", job, ".out"));
  INFO(state << "\n" << out << c->Logs());
  REQUIRE(done);
  CHECK_THAT(state, Catch::Contains("JobState=COMPLETED"));
  for (int r = 0; r < 4; ++r) {
    CHECK_THAT(out,
               Catch::Contains(absl::StrCat("train host=", c->name(r / 2),
                                            " RANK=", r, " WORLD_SIZE=4")));
  }
}

}  // namespace
}  // namespace tplaunch
