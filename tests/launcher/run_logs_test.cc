// The run's log and error file layout, on a real file system under
// TEST_TMPDIR.
#include "launcher/run_logs.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/files.h"

namespace tplaunch {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

TEST_CASE("--log-dir: every stream of every rank under <dir>/<run_id>") {
  RunLogsOptions o;
  o.log_dir = testing::MakeTempDir();
  o.run_id = "job";
  auto logs = RunLogs::Create(o);
  REQUIRE(logs.ok());
  CHECK((*logs)->root() == o.log_dir + "/job");
  CHECK_FALSE((*logs)->root_is_temporary());
  auto files = (*logs)->PrepareRank(3, 7);
  REQUIRE(files.ok());
  const std::string dir = o.log_dir + "/job/attempt_3/rank_7";
  CHECK(Exists(dir));
  CHECK(files->stdout_file == dir + "/stdout.log");
  CHECK(files->stderr_file == dir + "/stderr.log");
  CHECK(files->error_file == dir + "/error.json");
  CHECK((*logs)->ErrorFile(3, 7) == files->error_file);

  auto written = (*logs)->WriteFailureReport("{}\n");
  REQUIRE(written.ok());
  CHECK(*written == o.log_dir + "/job/error.json");
  CHECK(testing::ReadFile(*written) == "{}\n");
}

TEST_CASE("PrepareRank removes an earlier error file") {
  RunLogsOptions o;
  o.log_dir = testing::MakeTempDir();
  o.run_id = "job";
  auto logs = RunLogs::Create(o);
  REQUIRE(logs.ok());
  auto first = (*logs)->PrepareRank(0, 0);
  REQUIRE(first.ok());
  testing::WriteFile(first->error_file, "stale");
  REQUIRE(Exists(first->error_file));
  REQUIRE((*logs)->PrepareRank(0, 0).ok());
  CHECK_FALSE(Exists(first->error_file));
}

TEST_CASE("--tee without --log-dir: a temporary root, only the teed stream") {
  RunLogsOptions o;
  o.run_id = "job";
  o.stderr_to_file = true;
  o.tmp_dir = testing::TestTmpDir();
  auto logs = RunLogs::Create(o);
  REQUIRE(logs.ok());
  CHECK((*logs)->root_is_temporary());
  CHECK(absl::StartsWith((*logs)->root(),
                         testing::TestTmpDir() + "/tplaunch-logs-"));
  CHECK(absl::EndsWith((*logs)->root(), "/job"));
  auto files = (*logs)->PrepareRank(0, 1);
  REQUIRE(files.ok());
  CHECK(files->stdout_file.empty());
  CHECK(files->stderr_file == (*logs)->root() + "/attempt_0/rank_1/stderr.log");
}

TEST_CASE(
    "per-rank maps: each rank's own streams; the attempt's filtered files") {
  RunLogsOptions o;
  o.run_id = "job";
  o.stdout_to_file = true;  // Some rank's stdout (--tee 0:1,1:2).
  o.stderr_to_file = true;
  o.tmp_dir = testing::TestTmpDir();
  auto logs = RunLogs::Create(o);
  REQUIRE(logs.ok());
  const std::string attempt = (*logs)->root() + "/attempt_2";
  auto r0 = (*logs)->PrepareRank(2, 0, StdStreams::kOut);
  REQUIRE(r0.ok());
  CHECK(r0->stdout_file == attempt + "/rank_0/stdout.log");
  CHECK(r0->stderr_file.empty());
  auto r1 = (*logs)->PrepareRank(2, 1, StdStreams::kNone);
  REQUIRE(r1.ok());
  CHECK(r1->stdout_file.empty());
  CHECK(r1->stderr_file.empty());
  CHECK(r1->error_file == attempt + "/rank_1/error.json");
  for (const RankFiles* f : {&*r0, &*r1}) {
    CHECK(f->filtered_stdout_file == attempt + "/filtered_stdout.log");
    CHECK(f->filtered_stderr_file == attempt + "/filtered_stderr.log");
  }

  // --log-dir: every stream of every rank, whatever the rank's map says.
  RunLogsOptions d;
  d.log_dir = testing::MakeTempDir();
  d.run_id = "job";
  auto dir_logs = RunLogs::Create(d);
  REQUIRE(dir_logs.ok());
  auto all = (*dir_logs)->PrepareRank(0, 0, StdStreams::kNone);
  REQUIRE(all.ok());
  CHECK_FALSE(all->stdout_file.empty());
  CHECK_FALSE(all->stderr_file.empty());

  // No root: nowhere for a filtered file.
  RunLogsOptions none;
  none.run_id = "job";
  none.tmp_dir = testing::TestTmpDir();
  auto no_root = RunLogs::Create(none);
  REQUIRE(no_root.ok());
  auto n = (*no_root)->PrepareRank(0, 0, StdStreams::kAll);
  REQUIRE(n.ok());
  CHECK(n->stdout_file.empty());
  CHECK(n->filtered_stdout_file.empty());
}

TEST_CASE("no log files: error files in a scratch directory, removed after") {
  RunLogsOptions o;
  o.run_id = "job";
  o.tmp_dir = testing::TestTmpDir();
  std::string error_file;
  {
    auto logs = RunLogs::Create(o);
    REQUIRE(logs.ok());
    CHECK((*logs)->root().empty());
    auto files = (*logs)->PrepareRank(2, 5);
    REQUIRE(files.ok());
    CHECK(files->stdout_file.empty());
    CHECK(files->stderr_file.empty());
    error_file = files->error_file;
    CHECK(absl::StartsWith(error_file, testing::TestTmpDir() + "/tplaunch-"));
    CHECK(absl::EndsWith(error_file, "/a2_rank5.json"));
    testing::WriteFile(error_file, "{}");
    REQUIRE(Exists(error_file));
    CHECK(
        absl::IsFailedPrecondition((*logs)->WriteFailureReport("{}").status()));
  }
  CHECK_FALSE(Exists(error_file));
  CHECK_FALSE(Exists(error_file.substr(0, error_file.rfind('/'))));
}

TEST_CASE("a TMPDIR that cannot hold a directory falls back to /tmp") {
  // Silently dropping the directory would leave the workers without
  // TORCHELASTIC_ERROR_FILE (the --tee logs, without their files).
  RunLogsOptions o;
  o.run_id = "job";
  o.stdout_to_file = true;
  o.tmp_dir = "/nonexistent/dir";
  auto logs = RunLogs::Create(o);
  REQUIRE(logs.ok());
  CHECK(absl::StartsWith((*logs)->root(), "/tmp/tplaunch-logs-"));
  const std::string dir = (*logs)->root().substr(0, (*logs)->root().rfind('/'));
  RunLogsOptions scratch;
  scratch.run_id = "job";
  scratch.tmp_dir = "/nonexistent/dir";
  auto s = RunLogs::Create(scratch);
  REQUIRE(s.ok());
  CHECK(absl::StartsWith((*s)->ErrorFile(0, 0), "/tmp/tplaunch-"));
  rmdir(dir.c_str());
}

TEST_CASE("a --log-dir that cannot be created or written is DataLoss") {
  const std::string file = testing::MakeTempDir() + "/a-file";
  testing::WriteFile(file, "");
  RunLogsOptions o;
  o.run_id = "job";
  o.log_dir = file + "/logs";
  auto logs = RunLogs::Create(o);
  REQUIRE_FALSE(logs.ok());
  CHECK(absl::IsDataLoss(logs.status()));
  CHECK_THAT(std::string(logs.status().message()),
             Catch::Contains("--log-dir"));
  CHECK_THAT(std::string(logs.status().message()),
             Catch::Contains("Not a directory"));
}

}  // namespace
}  // namespace tplaunch
