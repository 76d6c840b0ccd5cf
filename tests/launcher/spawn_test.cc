// launcher/spawn: real children started with clone(CLONE_VM | CLONE_VFORK):
// what they inherit (signal mask, dispositions, session, cgroup) and how a
// failure before execve comes back.
#include "launcher/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "launcher/process_tree.h"

namespace tplaunch {
namespace {

// A child's stdout and exit status.
struct Ran {
  Spawned spawned;
  std::string out;
  int status = -1;
};

void Handler(int) {}

// Runs `sh -c script` through `spawner`, reads its stdout to EOF, reaps it.
Ran RunShell(Spawner& spawner, const std::string& script,
             const void* cpus = nullptr, size_t cpus_size = 0) {
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(devnull >= 0);
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  std::vector<std::string> args = {"/bin/sh", "-c", script};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string path_env = "PATH=/usr/bin:/bin";
  std::vector<char*> envp = {path_env.data(), nullptr};
  SpawnSpec spec;
  spec.path = "/bin/sh";
  spec.argv = argv.data();
  spec.envp = envp.data();
  spec.stdin_fd = devnull;
  spec.stdout_fd = out[1];
  spec.stderr_fd = out[1];
  spec.cpu_set = cpus;
  spec.cpu_set_size = cpus_size;
  absl::StatusOr<Spawned> spawned = spawner.Spawn(spec);
  close(out[1]);
  close(devnull);
  REQUIRE(spawned.ok());
  Ran ran;
  ran.spawned = *spawned;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) ran.out.append(buf, n);
  close(out[0]);
  REQUIRE(waitpid(spawned->pid, &ran.status, 0) == spawned->pid);
  if (spawned->pidfd >= 0) close(spawned->pidfd);
  return ran;
}

uint64_t StatusMask(const std::string& out, const std::string& field) {
  size_t at = out.find(field + ":");
  REQUIRE(at != std::string::npos);
  uint64_t mask = 0;
  REQUIRE(absl::SimpleHexAtoi(
      absl::StripAsciiWhitespace(out.substr(at + field.size() + 1, 17)),
      &mask));
  return mask;
}

TEST_CASE("a child starts unblocked, in its own session, handlers reset") {
  struct sigaction handled, old_usr1;
  memset(&handled, 0, sizeof(handled));
  handled.sa_handler = Handler;
  sigaction(SIGUSR1, &handled, &old_usr1);
  sigset_t blocked, old_mask;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &blocked, &old_mask);
  Ran ran;
  {
    // After the handler is installed: the Spawner finds it then.
    Spawner spawner({}, nullptr);
    // /proc/PID/stat: pid (comm) state ppid pgrp session ...
    ran = RunShell(spawner,
                   "grep -E 'SigBlk|SigCgt' /proc/self/status; "
                   "set -- $(cat /proc/$$/stat); echo \"ids $1 $5 $6\"");
  }
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, &old_mask, &now);
  sigaction(SIGUSR1, &old_usr1, nullptr);
  REQUIRE(WIFEXITED(ran.status));
  CHECK(WEXITSTATUS(ran.status) == 0);
  CHECK(ran.spawned.failed == SpawnStep::kNone);
  CHECK(ran.spawned.pidfd >= 0);
  CHECK(StatusMask(ran.out, "SigBlk") == 0);
  // sh catches nothing itself here, so a SIGUSR1 handler left over from
  // this process would show.
  CHECK((StatusMask(ran.out, "SigCgt") & (uint64_t{1} << (SIGUSR1 - 1))) == 0);
  // The caller's own mask is as it was (all signals were blocked around the
  // clone only).
  CHECK(sigismember(&now, SIGUSR2) == 1);
  CHECK(sigismember(&now, SIGUSR1) == 0);
  // A session and a process group of its own: pgid = sid = pid.
  const int pid = ran.spawned.pid;
  CHECK_THAT(ran.out, Catch::Contains(
                          absl::StrCat("ids ", pid, " ", pid, " ", pid, "\n")));
}

TEST_CASE("a child of a process tree starts in the tree's cgroup") {
  ProcessTreeOptions po;
  po.subreaper = false;
  auto tree = ProcessTree::Create(po);
  REQUIRE(tree.ok());
  if ((*tree)->cgroup_dir().empty()) {
    WARN("no cgroup v2 could be created here: " << (*tree)->Describe());
    return;
  }
  Spawner spawner({}, tree->get());
  for (int i = 0; i < 3; ++i) {
    Ran ran = RunShell(spawner, "cat /proc/self/cgroup");
    REQUIRE(WIFEXITED(ran.status));
    CHECK(WEXITSTATUS(ran.status) == 0);
    // The cgroup v2 line ("0::PATH") ends in the tree's directory.
    const std::string& dir = (*tree)->cgroup_dir();
    const std::string leaf = dir.substr(dir.rfind('/'));
    CHECK_THAT(ran.out, Catch::Contains(absl::StrCat(leaf, "\n")));
  }
}

TEST_CASE("an execve failure comes back with its errno") {
  Spawner spawner({}, nullptr);
  std::string arg0 = "/nonexistent/program";
  std::vector<char*> argv = {arg0.data(), nullptr};
  std::vector<char*> envp = {nullptr};
  SpawnSpec spec;
  spec.path = arg0.c_str();
  spec.argv = argv.data();
  spec.envp = envp.data();
  spec.stdin_fd = STDIN_FILENO;
  spec.stdout_fd = STDOUT_FILENO;
  spec.stderr_fd = STDERR_FILENO;
  auto spawned = spawner.Spawn(spec);
  REQUIRE(spawned.ok());
  CHECK(spawned->failed == SpawnStep::kExec);
  CHECK(spawned->error == ENOENT);
  int status = 0;
  REQUIRE(waitpid(spawned->pid, &status, 0) == spawned->pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 127);
  close(spawned->pidfd);
}

TEST_CASE("a CPU set the kernel refuses fails the affinity step") {
  Spawner spawner({}, nullptr);
  // Only a CPU this machine does not have.
  const int missing = CPU_SETSIZE - 1;
  std::vector<uint8_t> cpus(CPU_ALLOC_SIZE(missing + 1), 0);
  CPU_SET_S(missing, cpus.size(), reinterpret_cast<cpu_set_t*>(cpus.data()));
  Ran ran = RunShell(spawner, "echo ran", cpus.data(), cpus.size());
  CHECK(ran.spawned.failed == SpawnStep::kAffinity);
  CHECK(ran.spawned.error == EINVAL);
  CHECK(ran.out.empty());
  REQUIRE(WIFEXITED(ran.status));
  CHECK(WEXITSTATUS(ran.status) == 127);
}

}  // namespace
}  // namespace tplaunch
