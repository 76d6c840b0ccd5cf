// worker_stats: the /proc readers against this test's own process and a real
// child (a busy shell loop, then a zombie), and the parser on odd names.
#include "launcher/worker_stats.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "absl/time/clock.h"
#include "tests/testing/processes.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

TEST_CASE("this process: running, resident, some CPU used") {
  absl::StatusOr<ProcStats> s = ReadProcStats(getpid());
  REQUIRE(s.ok());
  CHECK(s->pid == getpid());
  CHECK(ProcStateName(s->state) == "running");  // It is reading its own stat.
  CHECK(s->rss_bytes > 1024 * 1024);
  CHECK(s->cpu_s >= 0);
  const double up = ReadUptimeSeconds();
  CHECK(up > 0);
  CHECK(s->start_s > 0);
  CHECK(s->start_s <= up);
}

TEST_CASE("a real child: CPU time grows while it spins, zombie after exit") {
  // Spins ~forever in the shell itself (no exec), so its own CPU time grows.
  testing::Subprocess child({"/bin/sh", "-c", "while :; do :; done"});
  absl::StatusOr<ProcStats> first = ReadProcStats(child.pid());
  REQUIRE(first.ok());
  CHECK(first->pid == child.pid());
  CHECK(first->rss_bytes > 0);
  absl::StatusOr<ProcStats> later;
  REQUIRE(testing::WaitFor(
      [&] {
        later = ReadProcStats(child.pid());
        return later.ok() && later->cpu_s >= first->cpu_s + 0.05;
      },
      absl::Seconds(30)));
  CHECK(CpuPercent(first->cpu_s, later->cpu_s, 0.05) > 0);
  child.Kill(SIGKILL);
  CHECK(child.Wait(absl::Seconds(10)).has_value());
  // Reaped: gone from /proc.
  CHECK(absl::IsNotFound(ReadProcStats(child.pid()).status()));
}

TEST_CASE("a zombie reads as one") {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(3);
  absl::StatusOr<ProcStats> s;
  const bool zombie = testing::WaitFor([&] {
    s = ReadProcStats(pid);
    return s.ok() && s->state == 'Z';
  });
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(zombie);
  CHECK(ProcStateName(s->state) == "zombie");
  CHECK(WEXITSTATUS(status) == 3);
}

TEST_CASE("the parser counts fields after the command name's last ')'") {
  // proc(5): pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
  // majflt cmajflt utime stime cutime cstime priority nice threads itreal
  // starttime ...
  const std::string stat =
      "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 "
      "1000 12345 300 18446744073709551615";
  absl::StatusOr<ProcStats> s = ParseProcStats(stat, "900 300 100 1 0 50 0\n",
                                               /*ticks_per_s=*/100, 4096);
  REQUIRE(s.ok());
  CHECK(s->pid == 42);
  CHECK(s->state == 'S');
  CHECK(s->cpu_s == Approx(3.0));
  CHECK(s->start_s == Approx(10.0));
  CHECK(s->rss_bytes == 300 * 4096);
  CHECK(absl::IsInvalidArgument(
      ParseProcStats("42 (x) S 1", "1 2", 100, 4096).status()));
  CHECK(absl::IsInvalidArgument(
      ParseProcStats(stat, "garbage", 100, 4096).status()));
  CHECK(CpuPercent(1.0, 1.5, 1.0) == Approx(50.0));
  CHECK(CpuPercent(1.0, 1.5, 0) == 0);
}

}  // namespace
}  // namespace tplaunch
