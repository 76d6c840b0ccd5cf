#include "launcher/output_routing.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace {

StdStreams Streams(bool out, bool err) {
  return static_cast<StdStreams>((out ? 1 : 0) | (err ? 2 : 0));
}

}  // namespace

WorkerOutputRoute RouteWorkerOutput(const LaunchConfig& c, int local_rank) {
  const StdStreams tee = c.tee.For(local_rank);
  const StdStreams redirects = c.redirects.For(local_rank);
  const bool shown =
      c.local_ranks_filter.empty() ||
      std::find(c.local_ranks_filter.begin(), c.local_ranks_filter.end(),
                local_rank) != c.local_ranks_filter.end();
  const bool all_files = !c.log_dir.empty();
  WorkerOutputRoute r;
  r.to_file = Streams(all_files || HasStdout(tee) || HasStdout(redirects),
                      all_files || HasStderr(tee) || HasStderr(redirects));
  r.to_console = Streams(shown && (HasStdout(tee) || !HasStdout(redirects)),
                         shown && (HasStderr(tee) || !HasStderr(redirects)));
  r.duplicated = Streams(HasStdout(r.to_console) && HasStdout(r.to_file) &&
                             !c.duplicate_stdout_filters.empty(),
                         HasStderr(r.to_console) && HasStderr(r.to_file) &&
                             !c.duplicate_stderr_filters.empty());
  return r;
}

void ApplyOutputRoute(const LaunchConfig& c, const WorkerOutputRoute& route,
                      const RankFiles& files, WorkerSpec& spec) {
  spec.stdout_to_console = HasStdout(route.to_console);
  spec.stderr_to_console = HasStderr(route.to_console);
  if (HasStdout(route.duplicated)) {
    spec.stdout_duplicate_filters = c.duplicate_stdout_filters;
    spec.stdout_duplicate_file = files.filtered_stdout_file;
  }
  if (HasStderr(route.duplicated)) {
    spec.stderr_duplicate_filters = c.duplicate_stderr_filters;
    spec.stderr_duplicate_file = files.filtered_stderr_file;
  }
}

std::string DuplicateFiltersWarning(const LaunchConfig& c) {
  bool out = false;
  bool err = false;
  for (int lr = 0; lr < c.nproc_per_node; ++lr) {
    const WorkerOutputRoute r = RouteWorkerOutput(c, lr);
    out = out || HasStdout(r.duplicated);
    err = err || HasStderr(r.duplicated);
  }
  std::string unused;
  if (!c.duplicate_stdout_filters.empty() && !out) {
    unused = "--duplicate-stdout-filters";
  }
  if (!c.duplicate_stderr_filters.empty() && !err) {
    absl::StrAppend(&unused, unused.empty() ? "" : " and ",
                    "--duplicate-stderr-filters");
  }
  if (unused.empty()) return "";
  return absl::StrCat(
      unused,
      " copy no line on this node: they apply to the streams shown on the "
      "console that also go to log files, as torchrun's apply to --tee'd "
      "ones; add --tee 3 (or --log-dir DIR), and check --redirects and "
      "--local-ranks-filter");
}

}  // namespace tplaunch
