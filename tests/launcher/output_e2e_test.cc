// End to end, the real tplaunch: every worker in its own session; no doubled
// prefix on PyTorch-style "[rankN]:" lines; --log-line-prefix-template;
// --duplicate-stdout/stderr-filters into <run>/attempt_N/filtered_*.log; and
// torchrun's per-local-rank --tee/--redirects maps.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace {

using testing::MakeTempDir;
using testing::ReadFile;
using testing::Subprocess;
using testing::Tplaunch;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

TEST_CASE("each worker leads its own session, not tplaunch's") {
  // Field 6 of /proc/PID/stat is the session id; $PPID is tplaunch.
  Subprocess p(Tplaunch(
      {"--nproc", "3", "/bin/sh", "-c",
       "set -- $(cat /proc/$$/stat); sid=$6; "
       "set -- $(cat /proc/$PPID/stat); echo \"pid $$ sid $sid parent $6\""}));
  REQUIRE(p.Wait(absl::Seconds(30)) == 0);
  const std::string out = p.out();
  INFO(out << p.err());
  std::regex line(R"(\[rank(\d)\]: pid (\d+) sid (\d+) parent (\d+))");
  int seen = 0;
  for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end;
       ++it, ++seen) {
    CHECK((*it)[2] == (*it)[3]);  // getsid() == getpid().
    CHECK((*it)[3] != (*it)[4]);  // Not tplaunch's session.
  }
  CHECK(seen == 3);
}

TEST_CASE("PyTorch's own [rankN]: lines get no second prefix") {
  Subprocess p(
      Tplaunch({"--nproc", "2", "/bin/sh", "-c",
                "echo \"[rank$RANK]: Traceback (most recent call last):\" >&2; "
                "echo \"[rank$RANK]:[W reducer.cpp:1] slow\" >&2; "
                "echo \"plain $RANK\""}));
  REQUIRE(p.Wait(absl::Seconds(30)) == 0);
  const std::string err = p.err();
  INFO(err);
  for (int r = 0; r < 2; ++r) {
    CHECK_THAT(err,
               Catch::Contains(absl::StrCat(
                   "\n[rank", r, "]: Traceback (most recent call last):")));
    CHECK_THAT(err, Catch::Contains(absl::StrCat("\n[rank", r,
                                                 "]:[W reducer.cpp:1] slow")));
    CHECK_THAT(p.out(),
               Catch::Contains(absl::StrCat("[rank", r, "]: plain ", r)));
  }
  CHECK_THAT(err, !Catch::Contains("]: [rank"));
}

TEST_CASE("--log-line-prefix-template, torchrun's fields") {
  Subprocess p(Tplaunch(
      {"--nproc", "2", "--role", "trainer", "--log-line-prefix-template",
       "[${role_name}${local_rank}/$rank]:", "/bin/sh", "-c", "echo hi"}));
  REQUIRE(p.Wait(absl::Seconds(30)) == 0);
  INFO(p.out() << p.err());
  CHECK_THAT(p.out(), Catch::Contains("[trainer0/0]: hi\n"));
  CHECK_THAT(p.out(), Catch::Contains("[trainer1/1]: hi\n"));
}

TEST_CASE("--duplicate-*-filters: matching lines of every rank, one file") {
  const std::string dir = MakeTempDir();
  Subprocess p(Tplaunch(
      {"--nproc", "2", "--log-dir", dir, "--rdzv-id", "dupjob",
       "--duplicate-stdout-filters", "loss,acc", "--duplicate-stderr-filters",
       "WARN", "--local-ranks-filter", "0,1", "/bin/sh", "-c",
       "for i in 1 2; do echo \"step $i loss 0.$i\"; echo noise; done; "
       "echo \"acc 0.9\"; echo 'WARN slow' >&2; echo 'INFO ok' >&2"}));
  REQUIRE(p.Wait(absl::Seconds(30)) == 0);
  INFO(p.err());
  const std::string attempt = dir + "/dupjob/attempt_0";
  const std::string out = ReadFile(attempt + "/filtered_stdout.log");
  const std::string err = ReadFile(attempt + "/filtered_stderr.log");
  INFO(out << err);
  for (int r = 0; r < 2; ++r) {
    CHECK_THAT(
        out, Catch::Contains(absl::StrCat("[rank", r, "]: step 2 loss 0.2\n")));
    CHECK_THAT(out, Catch::Contains(absl::StrCat("[rank", r, "]: acc 0.9\n")));
    CHECK_THAT(err,
               Catch::Contains(absl::StrCat("[rank", r, "]: WARN slow\n")));
  }
  CHECK(std::count(out.begin(), out.end(), '\n') == 6);
  CHECK(std::count(err.begin(), err.end(), '\n') == 2);
  // The console and each rank's own files are unchanged by the filters.
  CHECK_THAT(p.out(), Catch::Contains("[rank1]: noise"));
  CHECK(ReadFile(attempt + "/rank_1/stderr.log") == "WARN slow\nINFO ok\n");
}

TEST_CASE("a restart writes its own attempt's filtered file") {
  const std::string dir = MakeTempDir();
  Subprocess p(Tplaunch({"--nproc", "1", "--log-dir", dir, "--rdzv-id",
                         "restartjob", "--max-restarts", "1",
                         "--duplicate-stdout-filters", "loss", "/bin/sh", "-c",
                         "echo \"loss in $TORCHELASTIC_RESTART_COUNT\"; "
                         "[ \"$TORCHELASTIC_RESTART_COUNT\" = 1 ]"}));
  REQUIRE(p.Wait(absl::Seconds(30)) == 0);
  INFO(p.err());
  const std::string run = dir + "/restartjob";
  CHECK(ReadFile(run + "/attempt_0/filtered_stdout.log") ==
        "[rank0]: loss in 0\n");
  CHECK(ReadFile(run + "/attempt_1/filtered_stdout.log") ==
        "[rank0]: loss in 1\n");
}

TEST_CASE("--duplicate-stdout-filters with nothing tee'd says so") {
  Subprocess p(Tplaunch({"--nproc", "1", "--duplicate-stdout-filters", "loss",
                         "/bin/sh", "-c", "echo loss 1"}));
  REQUIRE(p.Wait(absl::Seconds(30)) == 0);
  INFO(p.err());
  CHECK_THAT(p.err(),
             Catch::Contains("--duplicate-stdout-filters copy no line"));
  CHECK_THAT(p.out(), Catch::Contains("[rank0]: loss 1"));
}

TEST_CASE("per-local-rank --tee/--redirects maps, as torchrun's") {
  const std::string dir = MakeTempDir();
  // Rank 0: stdout to its file only; rank 1: both streams to files only;
  // rank 2: not in either map, so console only; rank 3: tee'd stdout.
  Subprocess p(Tplaunch({"--nproc", "4", "--redirects", "0:1,1:3", "--tee",
                         "3:1", "--rdzv-id", "mapjob", "/bin/sh", "-c",
                         "echo out$LOCAL_RANK; echo err$LOCAL_RANK >&2"}),
               {{"TMPDIR", dir}});
  REQUIRE(p.Wait(absl::Seconds(30)) == 0);
  const std::string out = p.out();
  const std::string err = p.err();
  INFO(out << err);
  std::smatch m;
  REQUIRE(std::regex_search(err, m, std::regex(R"(logs go to (\S+))")));
  const std::string root = m[1];
  CHECK(absl::StartsWith(root, dir + "/tplaunch-logs-"));
  CHECK_THAT(out, !Catch::Contains("out0"));
  CHECK_THAT(err, Catch::Contains("[rank0]: err0"));
  CHECK_THAT(out + err, !Catch::Contains("out1"));
  CHECK_THAT(out + err, !Catch::Contains("err1"));
  CHECK_THAT(out, Catch::Contains("[rank2]: out2"));
  CHECK_THAT(err, Catch::Contains("[rank2]: err2"));
  CHECK_THAT(out, Catch::Contains("[rank3]: out3"));
  const std::string a = root + "/attempt_0";
  CHECK(ReadFile(a + "/rank_0/stdout.log") == "out0\n");
  CHECK_FALSE(Exists(a + "/rank_0/stderr.log"));
  CHECK(ReadFile(a + "/rank_1/stdout.log") == "out1\n");
  CHECK(ReadFile(a + "/rank_1/stderr.log") == "err1\n");
  CHECK_FALSE(Exists(a + "/rank_2/stdout.log"));
  CHECK(ReadFile(a + "/rank_3/stdout.log") == "out3\n");
  CHECK_FALSE(Exists(a + "/rank_3/stderr.log"));
}

}  // namespace
}  // namespace tplaunch
