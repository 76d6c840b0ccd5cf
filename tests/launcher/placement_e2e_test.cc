// End to end, the real tplaunch: --virtual-local-rank's environment,
// --numa-binding's CPU affinity as each worker's /proc/self/status shows it,
// and the file timer (TORCHELASTIC_ENABLE_FILE_TIMER) killing and naming a
// worker that misses its deadline while sparing one that released in time.
#include <dirent.h>
#include <sched.h>

#include <catch2/catch.hpp>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "launcher/host_topology.h"
#include "launcher/numa_binding.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace {

using testing::MakeTempDir;
using testing::ReadFile;
using testing::Runfile;
using testing::Subprocess;
using testing::Tplaunch;

// Each worker writes "$LOCAL_RANK $CUDA_VISIBLE_DEVICES $LOCAL_WORLD_SIZE"
// to $D/env$RANK and its Cpus_allowed_list to $D/cpus$RANK.
const char kReport[] =
    "echo \"$LOCAL_RANK ${CUDA_VISIBLE_DEVICES-unset} $LOCAL_WORLD_SIZE\" "
    "> $D/env$RANK; sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "
    "/proc/self/status > $D/cpus$RANK";

std::string Line(const std::string& path) {
  return std::string(absl::StripAsciiWhitespace(ReadFile(path)));
}

TEST_CASE("--virtual-local-rank: LOCAL_RANK 0 and the worker's own device") {
  const std::string dir = MakeTempDir();
  Subprocess p(Tplaunch({"--nproc", "2", "--virtual-local-rank", "/bin/sh",
                         "-c", kReport}),
               {{"D", dir}, {"CUDA_VISIBLE_DEVICES", "3,5"}});
  REQUIRE(p.Wait(absl::Seconds(30)) == 0);
  CHECK(Line(dir + "/env0") == "0 3 2");
  CHECK(Line(dir + "/env1") == "0 5 2");

  // Unset: each worker's device is its local rank.
  testing::SubprocessOptions unset;
  unset.env = {{"D", dir}};
  unset.unset_prefixes = {"CUDA_VISIBLE_DEVICES"};
  Subprocess q(Tplaunch({"--nproc", "2", "--virtual_local_rank", "/bin/sh",
                         "-c", kReport}),
               unset);
  REQUIRE(q.Wait(absl::Seconds(30)) == 0);
  CHECK(Line(dir + "/env0") == "0 0 2");
  CHECK(Line(dir + "/env1") == "0 1 2");
}

TEST_CASE("--virtual-local-rank with fewer devices than workers fails first") {
  const std::string dir = MakeTempDir();
  Subprocess p(Tplaunch({"--nproc", "3", "--virtual-local-rank", "/bin/sh",
                         "-c", kReport}),
               {{"D", dir}, {"CUDA_VISIBLE_DEVICES", "GPU-aaaa,MIG-bbbb"}});
  REQUIRE(p.Wait(absl::Seconds(30)) == 1);
  INFO(p.err());
  CHECK_THAT(p.err(), Catch::Contains("local rank 2 has no device") &&
                          Catch::Contains("GPU-aaaa,MIG-bbbb"));
  // No worker started.
  CHECK(ReadFile(dir + "/env0").empty());
}

TEST_CASE("--numa-binding: each worker runs on the CPUs of the plan") {
  auto topology = ReadHostTopology({});
  REQUIRE(topology.ok());
  for (NumaBinding mode :
       {NumaBinding::kNode, NumaBinding::kSocket, NumaBinding::kExclusive,
        NumaBinding::kCoreComplex}) {
    const std::string name = NumaBindingName(mode);
    INFO(name);
    auto plan = PlanNumaBinding(*topology, mode, 2);
    if (!plan.ok()) {
      WARN(name << " cannot place 2 workers here: " << plan.status());
      continue;
    }
    const std::string dir = MakeTempDir();
    Subprocess p(Tplaunch({"--nproc", "2", "--numa-binding", name, "/bin/sh",
                           "-c", kReport}),
                 {{"D", dir}});
    REQUIRE(p.Wait(absl::Seconds(30)) == 0);
    INFO(p.err());
    for (int lr = 0; lr < 2; ++lr) {
      CHECK(Line(absl::StrCat(dir, "/cpus", lr)) ==
            FormatCpuList(plan->cpus[lr]));
    }
    if (plan->by_local_rank) {
      CHECK_THAT(p.err(), Catch::Contains("binding workers by local rank"));
    }
    CHECK_THAT(p.err(), Catch::Contains("local rank 1 -> CPUs " +
                                        FormatCpuList(plan->cpus[1])));
  }
}

TEST_CASE(
    "--numa-binding: a bad mode is a usage error, too many workers fail") {
  Subprocess bad(Tplaunch({"--numa-binding", "everywhere", "/bin/true"}));
  REQUIRE(bad.Wait(absl::Seconds(30)) == 2);
  CHECK_THAT(bad.err(), Catch::Contains("--numa-binding 'everywhere'") &&
                            Catch::Contains("node, socket, exclusive"));

  // More workers than one node's physical cores under exclusive.
  auto topology = ReadHostTopology({});
  REQUIRE(topology.ok());
  int nproc = 1;
  while (PlanNumaBinding(*topology, NumaBinding::kExclusive, nproc).ok() &&
         nproc < 4096) {
    ++nproc;
  }
  Subprocess many(Tplaunch({"--nproc", std::to_string(nproc), "--numa-binding",
                            "exclusive", "/bin/true"}));
  REQUIRE(many.Wait(absl::Seconds(30)) == 1);
  CHECK_THAT(many.err(), Catch::Contains("physical core(s)"));
}

// Files left in `dir` whose names start with `prefix`.
int CountFiles(const std::string& dir, const std::string& prefix) {
  int n = 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  while (struct dirent* e = readdir(d)) {
    if (absl::StartsWith(e->d_name, prefix)) ++n;
  }
  closedir(d);
  return n;
}

TEST_CASE("file timer: a worker past its deadline is killed and named") {
  const std::string tmp = MakeTempDir();
  Subprocess p(
      Tplaunch({"--nproc", "2", "--grace-period", "5s", "/usr/bin/python3",
                Runfile("tests/launcher/file_timer_worker.py"), "1"}),
      {{"TORCHELASTIC_ENABLE_FILE_TIMER", "1"}, {"TMPDIR", tmp}});
  // SIGKILL, the signal FileTimerClient asks for by default.
  REQUIRE(p.Wait(absl::Seconds(60)) == 128 + 9);
  const std::string err = p.err();
  INFO(err);
  CHECK_THAT(
      err, Catch::Contains("file timer (TORCHELASTIC_ENABLE_FILE_TIMER=1) on " +
                           tmp));
  CHECK_THAT(err, Catch::Contains("the file timer sent SIGKILL to rank 1") &&
                      Catch::Contains("scope 'hang_step' missed its deadline"));
  CHECK_THAT(err, Catch::Contains("worker failed: rank 1"));
  CHECK_THAT(err, Catch::Contains("error      : the file timer sent SIGKILL"));
  CHECK(CountFiles(tmp, "tplaunch_timer_") == 0);  // The FIFO is gone.
}

TEST_CASE("file timer: a worker that released in time is not killed") {
  const std::string tmp = MakeTempDir();
  const std::string fifo = tmp + "/my_timer";
  Subprocess p(Tplaunch({"--nproc", "1", "/usr/bin/python3",
                         Runfile("tests/launcher/file_timer_worker.py"), "-1"}),
               {{"TORCHELASTIC_ENABLE_FILE_TIMER", "1"},
                {"TORCHELASTIC_TIMER_FILE", fifo}});
  REQUIRE(p.Wait(absl::Seconds(60)) == 0);
  INFO(p.err());
  CHECK_THAT(p.err(), Catch::Contains("on " + fifo));
  CHECK_THAT(p.out(), Catch::Contains("released in time"));
  CHECK_THAT(p.err(), !Catch::Contains("file timer sent"));
  CHECK(CountFiles(tmp, "my_timer") == 0);
}

}  // namespace
}  // namespace tplaunch
