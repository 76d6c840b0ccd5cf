// ProcessTree with real processes: the marker parser, a kill that finds
// setsid()'d and orphaned descendants, and one that spares what is not the
// job's.
#include "launcher/process_tree.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/testing/files.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::IsAlive;
using testing::ReadFile;
using testing::WaitFor;

// Runs `script` under /bin/sh with `env` (NULL-terminated "K=V" strings) and
// waits for it; the script leaves its grandchildren's pids in files.
void RunShell(const std::string& script, std::vector<std::string> env) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    execle("/bin/sh", "sh", "-c", script.c_str(), nullptr, envp.data());
    _exit(127);
  }
  int st = 0;
  REQUIRE(waitpid(pid, &st, 0) == pid);
  REQUIRE(WIFEXITED(st));
  REQUIRE(WEXITSTATUS(st) == 0);
}

pid_t WaitForPidFile(const std::string& path) {
  pid_t pid = 0;
  REQUIRE(WaitFor([&] {
    return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(path)), &pid);
  }));
  return pid;
}

TEST_CASE("the marker is found in a list, never as a prefix or elsewhere") {
  using std::string_literals::operator""s;
  const std::string env = "A=1\0TPLAUNCH_PROCESS_TREE=outer,inner\0B=inner2\0"s;
  CHECK(EnvironHasMarker(env, "outer"));
  CHECK(EnvironHasMarker(env, "inner"));
  CHECK_FALSE(EnvironHasMarker(env, "inn"));
  CHECK_FALSE(EnvironHasMarker(env, "inner2"));
  CHECK_FALSE(EnvironHasMarker(env, "1"));
  CHECK_FALSE(EnvironHasMarker(env, ""));
  CHECK_FALSE(EnvironHasMarker("XTPLAUNCH_PROCESS_TREE=m\0"s, "m"));
}

TEST_CASE("Create marks workers with the inherited marker and its own") {
  ProcessTreeOptions o;
  o.marker = "mine";
  o.inherited = "outer";
  o.use_cgroup = false;
  o.subreaper = false;
  auto tree = ProcessTree::Create(o);
  REQUIRE(tree.ok());
  CHECK((*tree)->env_value() == "outer,mine");
  ProcessTreeOptions plain;
  plain.use_cgroup = false;
  plain.subreaper = false;
  auto fresh = ProcessTree::Create(plain);
  REQUIRE(fresh.ok());
  CHECK((*fresh)->marker().size() == 32);
}

TEST_CASE("KillAll ends setsid'd and double-forked descendants") {
  const std::string dir = testing::MakeTempDir();
  ProcessTreeOptions o;
  o.use_cgroup = false;  // The subreaper and the marker must do it alone.
  auto tree = ProcessTree::Create(o);
  REQUIRE(tree.ok());
  // Both grandchildren are orphans by the time RunShell returns; with the
  // subreaper they are this process's children now.
  RunShell(absl::StrCat("setsid sh -c 'echo $$ > ", dir,
                        "/ss; exec sleep 300' & sh -c 'sh -c \"echo \\$\\$ > ",
                        dir, "/df; exec sleep 300\" &'"),
           {"PATH=/usr/bin:/bin", "CLEAN=1"});
  const pid_t ss = WaitForPidFile(dir + "/ss");
  const pid_t df = WaitForPidFile(dir + "/df");
  REQUIRE(IsAlive(ss));
  REQUIRE(IsAlive(df));
  KillReport r = (*tree)->KillAll(absl::Seconds(10));
  CHECK(r.killed >= 2);
  CHECK(r.survivors.empty());
  CHECK_FALSE(IsAlive(ss));
  CHECK_FALSE(IsAlive(df));
}

TEST_CASE("the watchdog's kill takes marked processes and spares others") {
  const std::string dir = testing::MakeTempDir();
  const std::string marker = absl::StrCat("test-", getpid());
  RunShell(absl::StrCat("sh -c 'echo $$ > ", dir, "/marked; exec sleep 300' &",
                        " env -u TPLAUNCH_PROCESS_TREE sh -c 'echo $$ > ", dir,
                        "/other; exec sleep 300' &"),
           {"PATH=/usr/bin:/bin",
            absl::StrCat("TPLAUNCH_PROCESS_TREE=outer,", marker)});
  const pid_t marked = WaitForPidFile(dir + "/marked");
  const pid_t other = WaitForPidFile(dir + "/other");
  // Not descendants-based (the watchdog's view): only the marker counts.
  KillReport r =
      KillProcessTree(marker, "", /*descendants=*/false, {}, absl::Seconds(10));
  CHECK(r.killed == 1);
  CHECK(WaitFor([&] { return !IsAlive(marked); }));
  CHECK(IsAlive(other));
  kill(other, SIGKILL);
}

TEST_CASE("ReapAdopted reaps exited orphans but never a spared child") {
  ProcessTreeOptions o;
  o.use_cgroup = false;
  auto tree = ProcessTree::Create(o);
  REQUIRE(tree.ok());
  const std::string dir = testing::MakeTempDir();
  // An orphan that exits at once: it becomes this (subreaper) process's
  // zombie.
  RunShell(absl::StrCat("sh -c 'echo $$ > ", dir, "/orphan' &"),
           {"PATH=/usr/bin:/bin"});
  const pid_t orphan = WaitForPidFile(dir + "/orphan");
  // A direct child that exits too, standing for a worker.
  pid_t worker = fork();
  REQUIRE(worker >= 0);
  if (worker == 0) _exit(3);
  auto is_zombie = [](pid_t pid) {
    std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
    size_t p = stat.rfind(')');
    return p != std::string::npos && p + 2 < stat.size() && stat[p + 2] == 'Z';
  };
  REQUIRE(WaitFor([&] { return is_zombie(orphan) && is_zombie(worker); }));
  const pid_t spare[] = {worker};
  // The worker may come first in the kernel's list: the orphan is reaped by
  // this call or, once the worker is collected, by the next.
  (*tree)->ReapAdopted(spare);
  int st = 0;
  REQUIRE(waitpid(worker, &st, 0) == worker);  // Still there to collect.
  CHECK(WEXITSTATUS(st) == 3);
  (*tree)->ReapAdopted({});
  CHECK(ReadFile(absl::StrCat("/proc/", orphan, "/stat")).empty());
}

}  // namespace
}  // namespace tplaunch
