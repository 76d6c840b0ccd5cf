// run_logs: where one run's per-attempt, per-rank files live.
//
//   <root>/attempt_<N>/rank_<R>/stdout.log   (--log-dir, or --tee/--redirects)
//   <root>/attempt_<N>/rank_<R>/stderr.log
//   <root>/attempt_<N>/rank_<R>/error.json   TORCHELASTIC_ERROR_FILE
//   <root>/attempt_<N>/filtered_stdout.log   --duplicate-stdout-filters (all
//   <root>/attempt_<N>/filtered_stderr.log   of this node's ranks, as torchrun)
//   <root>/error.json                        the launcher's failure report
//
// <root> is <--log-dir>/<run_id>; with --tee/--redirects but no --log-dir it is
// <TMPDIR>/tplaunch-logs-XXXXXX/<run_id> (kept, the user wants those files).
// With neither there is no root and the workers' error files go to a scratch
// directory <TMPDIR>/tplaunch-XXXXXX, removed when the RunLogs goes (or by
// RemoveScratch on a signal exit), as a<N>_rank<R>.json.
#ifndef TPLAUNCH_LAUNCHER_RUN_LOGS_H_
#define TPLAUNCH_LAUNCHER_RUN_LOGS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "launcher/launch_config.h"

namespace tplaunch {

struct RunLogsOptions {
  // --log-dir; "": no log directory of the user's.
  std::string log_dir;
  std::string run_id;
  // Whether --tee/--redirects send some worker's stdout/stderr to files (a
  // temporary root is made for them). With log_dir set both streams always go
  // to files.
  bool stdout_to_file = false;
  bool stderr_to_file = false;
  // Where temporary directories are made (TMPDIR; "" means /tmp).
  std::string tmp_dir;
};

// One rank's files for an attempt; "" for a file it does not get.
struct RankFiles {
  std::string error_file;  // TORCHELASTIC_ERROR_FILE.
  std::string stdout_file;
  std::string stderr_file;
  // The attempt's filtered_{stdout,stderr}.log, shared by the node's ranks
  // (whether a rank writes to them is the caller's business); "" without a
  // root.
  std::string filtered_stdout_file;
  std::string filtered_stderr_file;
};

class RunLogs final {
 public:
  // Creates the --log-dir root (and checks that a file can be created in it)
  // or the temporary directory the options call for. A TMPDIR that cannot
  // hold a directory falls back to /tmp, with a warning. Errors: DataLoss
  // naming the directory when --log-dir cannot be created or written, or no
  // --tee/--redirects directory can be made (a missing scratch directory only
  // means no error files, and is logged).
  static absl::StatusOr<std::unique_ptr<RunLogs>> Create(
      RunLogsOptions options);
  ~RunLogs();
  RunLogs(const RunLogs&) = delete;
  RunLogs& operator=(const RunLogs&) = delete;

  // "" when there is none (no --log-dir, --tee or --redirects).
  const std::string& root() const { return root_; }
  // Whether root() is a temporary directory tplaunch chose.
  bool root_is_temporary() const { return root_is_temporary_; }

  // Creates the rank's directory (if any) and removes a stale error file, so
  // an error file found after a failure is this attempt's. Errors:
  // DataLoss naming the directory that cannot be created.
  absl::StatusOr<RankFiles> PrepareRank(int attempt, int rank);
  // The same for a rank whose streams `to_file` go to files (a per-rank
  // --tee/--redirects map); with log_dir every stream does anyway.
  absl::StatusOr<RankFiles> PrepareRank(int attempt, int rank,
                                        StdStreams to_file);

  // The rank's TORCHELASTIC_ERROR_FILE path ("" when there is nowhere to put
  // it); the same path PrepareRank returned.
  std::string ErrorFile(int attempt, int rank) const;

  // Writes `json` to <root>/error.json and returns that path. Errors:
  // FailedPrecondition without a root; DataLoss naming what cannot be
  // written.
  absl::StatusOr<std::string> WriteFailureReport(const std::string& json);

  // Removes the scratch directory and its files now; safe to call twice. Not
  // thread-safe with PrepareRank, which is fine for its one use: the exit on a
  // signal while the agent blocks in the rendezvous.
  void RemoveScratch();

 private:
  explicit RunLogs(RunLogsOptions options) : options_(std::move(options)) {}

  std::string RankDir(int attempt, int rank) const;

  const RunLogsOptions options_;
  std::string root_;
  bool root_is_temporary_ = false;
  // Holds the error files when root_ is empty; "" when there is none.
  std::string scratch_dir_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_RUN_LOGS_H_
