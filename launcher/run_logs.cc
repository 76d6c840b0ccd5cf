#include "launcher/run_logs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "launcher/logger.h"

namespace tplaunch {
namespace {

// mkdir -p. Errors name the directory.
absl::Status MakeDirs(const std::string& path) {
  std::string partial;
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::DataLossError(absl::StrCat("cannot create directory ",
                                              partial, ": ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

// mkdtemp of <tmp_dir>/<name>-XXXXXX; "" on failure. A TMPDIR that cannot
// hold it (missing, read-only, full) falls back to /tmp, with a warning: a
// silent failure would drop the workers' TORCHELASTIC_ERROR_FILE.
std::string MakeTempDir(const std::string& tmp_dir, absl::string_view name) {
  const std::string base = tmp_dir.empty() ? "/tmp" : tmp_dir;
  std::string tmpl = absl::StrCat(base, "/", name, "-XXXXXX");
  if (mkdtemp(tmpl.data()) != nullptr) return tmpl;
  const std::string why = strerror(errno);
  if (base != "/tmp") {
    std::string fallback = absl::StrCat("/tmp/", name, "-XXXXXX");
    if (mkdtemp(fallback.data()) != nullptr) {
      LauncherLogger().warn(
          "TMPDIR {} cannot hold tplaunch's temporary directory ({}); using "
          "{} instead",
          base, why, fallback);
      return fallback;
    }
  }
  LauncherLogger().warn("cannot create a temporary directory in {}: {}", base,
                        why);
  return "";
}

// --log-dir must take files before this node joins, or the job would fail
// (or lose its logs) only once the world has formed.
absl::Status CheckWritable(const std::string& dir) {
  std::string probe = absl::StrCat(dir, "/.tplaunch-write-check-XXXXXX");
  int fd = mkstemp(probe.data());
  if (fd < 0) {
    return absl::DataLossError(absl::StrCat("--log-dir: cannot write in ", dir,
                                            ": ", strerror(errno)));
  }
  close(fd);
  unlink(probe.c_str());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunLogs>> RunLogs::Create(
    RunLogsOptions options) {
  std::unique_ptr<RunLogs> logs(new RunLogs(std::move(options)));
  const RunLogsOptions& o = logs->options_;
  if (!o.log_dir.empty()) {
    logs->root_ = absl::StrCat(o.log_dir, "/", o.run_id);
    absl::Status made = MakeDirs(logs->root_);
    if (!made.ok()) {
      return absl::DataLossError(absl::StrCat("--log-dir: ", made.message()));
    }
    absl::Status writable = CheckWritable(logs->root_);
    if (!writable.ok()) return writable;
  } else if (o.stdout_to_file || o.stderr_to_file) {
    std::string dir = MakeTempDir(o.tmp_dir, "tplaunch-logs");
    if (dir.empty()) {
      return absl::DataLossError(
          absl::StrCat("cannot create a log directory ",
                       o.tmp_dir.empty() ? "/tmp" : o.tmp_dir,
                       "/tplaunch-logs-XXXXXX: ", strerror(errno)));
    }
    logs->root_ = absl::StrCat(dir, "/", o.run_id);
    logs->root_is_temporary_ = true;
  } else {
    logs->scratch_dir_ = MakeTempDir(o.tmp_dir, "tplaunch");
  }
  return logs;
}

RunLogs::~RunLogs() { RemoveScratch(); }

std::string RunLogs::RankDir(int attempt, int rank) const {
  return absl::StrCat(root_, "/attempt_", attempt, "/rank_", rank);
}

absl::StatusOr<RankFiles> RunLogs::PrepareRank(int attempt, int rank) {
  const int streams =
      (options_.stdout_to_file ? 1 : 0) | (options_.stderr_to_file ? 2 : 0);
  return PrepareRank(attempt, rank, static_cast<StdStreams>(streams));
}

absl::StatusOr<RankFiles> RunLogs::PrepareRank(int attempt, int rank,
                                               StdStreams to_file) {
  RankFiles files;
  if (!root_.empty()) {
    const std::string dir = RankDir(attempt, rank);
    absl::Status made = MakeDirs(dir);
    if (!made.ok()) return made;
    const bool all = !options_.log_dir.empty();
    if (all || HasStdout(to_file)) {
      files.stdout_file = absl::StrCat(dir, "/stdout.log");
    }
    if (all || HasStderr(to_file)) {
      files.stderr_file = absl::StrCat(dir, "/stderr.log");
    }
    const std::string attempt_dir = absl::StrCat(root_, "/attempt_", attempt);
    files.filtered_stdout_file =
        absl::StrCat(attempt_dir, "/filtered_stdout.log");
    files.filtered_stderr_file =
        absl::StrCat(attempt_dir, "/filtered_stderr.log");
  }
  files.error_file = ErrorFile(attempt, rank);
  if (!files.error_file.empty()) unlink(files.error_file.c_str());
  return files;
}

std::string RunLogs::ErrorFile(int attempt, int rank) const {
  if (!root_.empty())
    return absl::StrCat(RankDir(attempt, rank), "/error.json");
  if (!scratch_dir_.empty()) {
    return absl::StrCat(scratch_dir_, "/a", attempt, "_rank", rank, ".json");
  }
  return "";
}

absl::StatusOr<std::string> RunLogs::WriteFailureReport(
    const std::string& json) {
  if (root_.empty()) {
    return absl::FailedPreconditionError("no log directory for error.json");
  }
  absl::Status made = MakeDirs(root_);
  if (!made.ok()) return made;
  std::string path = absl::StrCat(root_, "/error.json");
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::DataLossError(
        absl::StrCat("cannot write ", path, ": ", strerror(errno)));
  }
  ssize_t ignored = write(fd, json.data(), json.size());
  (void)ignored;
  close(fd);
  return path;
}

void RunLogs::RemoveScratch() {
  if (scratch_dir_.empty()) return;
  if (DIR* d = opendir(scratch_dir_.c_str())) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      unlink(absl::StrCat(scratch_dir_, "/", e->d_name).c_str());
    }
    closedir(d);
  }
  rmdir(scratch_dir_.c_str());
  scratch_dir_.clear();
}

}  // namespace tplaunch
