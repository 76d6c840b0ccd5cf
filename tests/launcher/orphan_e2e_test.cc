// End to end: nothing a worker started outlives the job. The real tplaunch
// binary runs a worker that leaves grandchildren of every kind (a background
// job, a setsid()'d process in its own session, a double-forked orphan), and
// tplaunch ends by SIGKILL, by SIGTERM and by a normal exit. /proc must then
// show none of them, nor the watchdog: every process that inherited the test's
// tag is gone.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/launcher/tplaunch_command.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::IsAlive;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::Subprocess;
using testing::Tplaunch;
using testing::WaitFor;

constexpr char kTagVar[] = "ORPHAN_TEST_TAG";

// Every live process whose environment holds ORPHAN_TEST_TAG=tag: tplaunch,
// its watchdog, workers and whatever they started.
std::vector<pid_t> Tagged(const std::string& tag) {
  const std::string needle =
      absl::StrCat(kTagVar, "=", tag, std::string(1, '\0'));
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    pid_t pid;
    if (!absl::SimpleAtoi(e->d_name, &pid) || pid == getpid()) continue;
    std::string env = ReadFile(absl::StrCat("/proc/", pid, "/environ"));
    if (absl::StrContains(env, needle) && IsAlive(pid)) out.push_back(pid);
  }
  closedir(d);
  return out;
}

// So that a failing run leaves nothing behind.
void KillTagged(const std::string& tag) {
  for (pid_t pid : Tagged(tag)) kill(pid, SIGKILL);
}

pid_t ReadPid(const std::string& path) {
  pid_t pid = 0;
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(path)), &pid)
             ? pid
             : 0;
}

// A grandchild is still there: alive and still the `sleep` we started (not a
// reused pid).
bool StillSleeping(pid_t pid) {
  return IsAlive(pid) &&
         absl::StartsWith(ReadFile(absl::StrCat("/proc/", pid, "/cmdline")),
                          std::string("sleep\0", 6));
}

enum class End { kSigkill, kSigterm, kNormalExit };

void RunCase(End end) {
  const std::string dir = MakeTempDir();
  const std::string tag = absl::StrCat(getpid(), "-", static_cast<int>(end),
                                       "-", absl::ToUnixNanos(absl::Now()));
  // bg: a background job, in the worker's process group. ss: setsid, its own
  // session and group. df: a double fork, reparented at once.
  const std::string script = absl::StrCat(
      "D=", dir,
      "; sleep 300 & echo $! > $D/bg"
      "; setsid sh -c 'echo $$ > $0/ss.tmp; mv $0/ss.tmp $0/ss; exec sleep "
      "301' $D &"
      " sh -c 'sh -c \"echo \\$\\$ > $0/df.tmp; mv $0/df.tmp $0/df; exec "
      "sleep 302\" $0 &' $D"
      "; while [ ! -s $D/ss ] || [ ! -s $D/df ]; do sleep 0.01; done"
      "; echo started",
      end == End::kNormalExit ? "; exit 0" : "; exec sleep 300");
  Subprocess p(Tplaunch({"--nproc", "1", "--grace-period", "5", "/bin/sh", "-c",
                         script}),
               {{kTagVar, tag}});
  REQUIRE(WaitFor([&] { return absl::StrContains(p.out(), "started"); },
                  absl::Seconds(20)));
  std::vector<pid_t> grandchildren;
  for (const char* name : {"/bg", "/ss", "/df"}) {
    pid_t pid = ReadPid(dir + name);
    INFO(name << " " << p.err());
    REQUIRE(pid > 0);
    grandchildren.push_back(pid);
  }
  switch (end) {
    case End::kSigkill:
      p.Kill(SIGKILL);
      CHECK(p.Wait(absl::Seconds(10)) == 128 + SIGKILL);
      break;
    case End::kSigterm:
      p.Kill(SIGTERM);
      CHECK(p.Wait(absl::Seconds(20)) == 128 + SIGTERM);
      break;
    case End::kNormalExit:
      CHECK(p.Wait(absl::Seconds(20)) == 0);
      break;
  }
  INFO(p.err());
  for (size_t i = 0; i < grandchildren.size(); ++i) {
    INFO("grandchild " << i << " (bg, ss, df), pid " << grandchildren[i]);
    CHECK(WaitFor([&] { return !StillSleeping(grandchildren[i]); },
                  absl::Seconds(15)));
  }
  // The watchdog too: it never outlives the job.
  CHECK(WaitFor([&] { return Tagged(tag).empty(); }, absl::Seconds(15)));
  KillTagged(tag);
}

TEST_CASE("grandchildren of every kind die when tplaunch is SIGKILLed") {
  RunCase(End::kSigkill);
}

TEST_CASE("grandchildren of every kind die when tplaunch gets SIGTERM") {
  RunCase(End::kSigterm);
}

TEST_CASE("grandchildren of every kind die when the job exits normally") {
  RunCase(End::kNormalExit);
}

TEST_CASE("a restart starts only after the failed attempt's tree is gone") {
  const std::string dir = MakeTempDir();
  const std::string tag =
      absl::StrCat(getpid(), "-restart-", absl::ToUnixNanos(absl::Now()));
  // Attempt 0 leaves a setsid'd grandchild and fails; attempt 1 checks that
  // it is gone (a zombie has an empty cmdline) before succeeding.
  const std::string script = absl::StrCat(
      "D=", dir,
      "; if [ \"$TORCHELASTIC_RESTART_COUNT\" = 0 ]; then"
      "  setsid sh -c 'echo $$ > $0/ss.tmp; mv $0/ss.tmp $0/ss; exec sleep "
      "303' $D &"
      "  while [ ! -s $D/ss ]; do sleep 0.01; done; exit 1;"
      " fi"
      "; if grep -q sleep /proc/$(cat $D/ss)/cmdline 2>/dev/null; then"
      "  echo survivor; exit 2; fi; echo clean");
  Subprocess p(Tplaunch({"--nproc", "1", "--max-restarts", "1",
                         "--grace-period", "5", "/bin/sh", "-c", script}),
               {{kTagVar, tag}});
  CHECK(p.Wait(absl::Seconds(30)) == 0);
  INFO(p.out() << p.err());
  CHECK_THAT(p.out(), Catch::Contains("clean"));
  CHECK(WaitFor([&] { return Tagged(tag).empty(); }, absl::Seconds(15)));
  KillTagged(tag);
}

}  // namespace
}  // namespace tplaunch
