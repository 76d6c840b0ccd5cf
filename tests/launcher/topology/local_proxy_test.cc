// RemoveStaleProxyDirs: a proxy directory is in use while someone holds the
// flock on its lock file, whatever its name's pid says (launchers in other pid
// namespaces share /tmp: the pid-based check removed a live launcher's socket
// in CI).
#include "launcher/topology/local_proxy.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"
#include "tests/testing/files.h"

namespace tplaunch {
namespace {

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A proxy directory named after a pid no process has here (above any
// pid_max), as a launcher in another pid namespace names its own.
std::string MakeProxyDir(const std::string& base, const std::string& suffix) {
  const std::string dir =
      absl::StrCat(base, "/tplaunch-proxy-999999999-", suffix);
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  return dir;
}

// Opens dir/lock and takes its flock; the fd holds it.
int HoldLock(const std::string& dir) {
  const std::string lock = dir + "/lock";
  const int fd = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(flock(fd, LOCK_EX | LOCK_NB) == 0);
  return fd;
}

TEST_CASE("a locked proxy directory is in use, whatever its pid says") {
  const std::string base = testing::MakeTempDir();
  const std::string dir = MakeProxyDir(base, "locked");
  const int fd = HoldLock(dir);
  CHECK(RemoveStaleProxyDirs(base) == 0);
  CHECK(IsDir(dir));
  // Its launcher died: the kernel dropped the lock with the descriptor.
  close(fd);
  CHECK(RemoveStaleProxyDirs(base) == 1);
  CHECK_FALSE(IsDir(dir));
}

TEST_CASE("a proxy directory without a lock file is left for a minute") {
  const std::string base = testing::MakeTempDir();
  const std::string dir = MakeProxyDir(base, "new");
  CHECK(RemoveStaleProxyDirs(base) == 0);
  CHECK(IsDir(dir));
  // Made two minutes ago and never locked: a launcher killed in between.
  struct timeval old[2];
  gettimeofday(&old[0], nullptr);
  old[0].tv_sec -= 120;
  old[1] = old[0];
  REQUIRE(utimes(dir.c_str(), old) == 0);
  CHECK(RemoveStaleProxyDirs(base) == 1);
  CHECK_FALSE(IsDir(dir));
}

TEST_CASE("directories that are not proxy directories are not touched") {
  const std::string base = testing::MakeTempDir();
  const std::string other = base + "/tplaunch-proxy-notapid";
  REQUIRE(mkdir(other.c_str(), 0700) == 0);
  const std::string unrelated = base + "/something-else";
  REQUIRE(mkdir(unrelated.c_str(), 0700) == 0);
  CHECK(RemoveStaleProxyDirs(base) == 0);
  CHECK(IsDir(other));
  CHECK(IsDir(unrelated));
}

}  // namespace
}  // namespace tplaunch
