// End to end, the real tplaunch: logs that cannot be written are never a
// silent exit 0, a TMPDIR that cannot be written does not silently drop
// TORCHELASTIC_ERROR_FILE, and --nproc 256 starts under a 1024 soft descriptor
// limit.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::MakeTempDir;
using testing::Runfile;
using testing::Subprocess;
using testing::Tplaunch;

constexpr int kLogsLostExit = 125;

TEST_CASE("a log file that cannot be written: reported, and not exit 0") {
  const std::string dir = MakeTempDir();
  // The layout is <log-dir>/<run id>/attempt_0/rank_0/stdout.log; point that
  // file at /dev/full, where every write fails with ENOSPC, as on a full disk.
  const std::string rank_dir = dir + "/fulljob/attempt_0/rank_0";
  REQUIRE(system(absl::StrCat("mkdir -p ", rank_dir).c_str()) == 0);
  REQUIRE(symlink("/dev/full", (rank_dir + "/stdout.log").c_str()) == 0);
  Subprocess p(Tplaunch({"--nproc", "1", "--log-dir", dir, "--rdzv-id",
                         "fulljob", "/bin/sh", "-c",
                         "echo first; echo second; echo to-stderr >&2"}));
  REQUIRE(p.Wait(absl::Seconds(30)) == kLogsLostExit);
  const std::string err = p.err();
  INFO(err);
  CHECK_THAT(err, Catch::Contains("No space left on device"));
  CHECK_THAT(err, Catch::Contains("logs lost: 13 bytes of rank 0"));
  CHECK_THAT(err, Catch::Contains(rank_dir + "/stdout.log"));
  // The console still got everything; stderr's log file is whole.
  CHECK_THAT(p.out(), Catch::Contains("second"));
  CHECK(testing::ReadFile(rank_dir + "/stderr.log") == "to-stderr\n");
}

TEST_CASE("a full tmpfs --log-dir: reported, and not exit 0") {
  // A real full file system: a 64 KiB tmpfs in a private mount namespace
  // (root only; the case says so and passes without one).
  if (geteuid() != 0 || system("unshare -m true 2>/dev/null") != 0) {
    WARN("needs root and unshare -m; not run");
    return;
  }
  const std::string dir = MakeTempDir();
  Subprocess p({"/usr/bin/unshare", "-m", "/bin/sh", "-c",
                absl::StrCat("mount -t tmpfs -o size=64k tplaunch-test ", dir,
                             " && exec \"$0\" \"$@\""),
                Runfile("launcher/tplaunch"), "--nproc", "1", "--log-dir", dir,
                "/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\000' x"});
  REQUIRE(p.Wait(absl::Seconds(60)) == kLogsLostExit);
  INFO(p.err());
  CHECK_THAT(p.err(), Catch::Contains("No space left on device"));
  CHECK_THAT(p.err(), Catch::Contains("logs lost"));
}

TEST_CASE("an unwritable --log-dir has its own exit code, not 126") {
  const std::string dir = MakeTempDir();
  // Under a regular file: mkdir fails with ENOTDIR, whoever runs the test
  // (permission bits do not stop root).
  const std::string file = dir + "/a-file";
  int fd = open(file.c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  close(fd);
  Subprocess p(
      Tplaunch({"--nproc", "1", "--log-dir", file + "/logs", "/bin/true"}));
  REQUIRE(p.Wait(absl::Seconds(30)) == kLogsLostExit);
  INFO(p.err());
  CHECK_THAT(p.err(), Catch::Contains("--log-dir"));
  CHECK_THAT(p.err(), Catch::Contains("Not a directory"));
}

TEST_CASE("an unwritable TMPDIR still gives workers TORCHELASTIC_ERROR_FILE") {
  Subprocess p(Tplaunch({"--nproc", "1", "/bin/sh", "-c",
                         "echo \"error_file=$TORCHELASTIC_ERROR_FILE\""}),
               {{"TMPDIR", "/nonexistent-tplaunch-tmp"}});
  REQUIRE(p.Wait(absl::Seconds(30)) == 0);
  INFO(p.out() << p.err());
  CHECK_THAT(p.out(), !Catch::Contains("error_file=\n"));
  CHECK_THAT(p.out(), Catch::Contains("error_file=/tmp/tplaunch-"));
  CHECK_THAT(p.err(), Catch::Contains("/nonexistent-tplaunch-tmp"));
}

TEST_CASE("--nproc 256 starts under a 1024 soft descriptor limit") {
  rlimit limit{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_max <= 4096) {
    WARN("the hard descriptor limit is " << limit.rlim_max
                                         << ": nothing to raise; not run");
    return;
  }
  Subprocess p({"/bin/bash", "-c", "ulimit -Sn 1024 && exec \"$0\" \"$@\"",
                Runfile("launcher/tplaunch"), "--nproc", "256", "/bin/true"});
  REQUIRE(p.Wait(absl::Seconds(120)) == 0);
  INFO(p.err());
  CHECK_THAT(p.err(),
             Catch::Contains("raised the soft descriptor limit from 1024"));
}

}  // namespace
}  // namespace tplaunch
