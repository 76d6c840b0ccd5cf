// output_routing: where each stream of a worker goes, from --tee, --redirects
// (one value or torchrun's per-local-rank maps), --log-dir,
// --local-ranks-filter and --duplicate-*-filters. Pure: the agent asks it per
// local rank and copies the answer into the WorkerSpec.
//
// The rules are torchrun's (DefaultLogsSpecs), with tplaunch's --log-dir:
//   file:       the stream is in --redirects or --tee for the rank (every
//               stream with --log-dir);
//   console:    the rank passes --local-ranks-filter and the stream is in
//               --tee or not in --redirects;
//   duplicated: it goes to the console and to a file (torchrun: it is tee'd
//               and shown) and its --duplicate-*-filters are given.
#ifndef TPLAUNCH_LAUNCHER_OUTPUT_ROUTING_H_
#define TPLAUNCH_LAUNCHER_OUTPUT_ROUTING_H_

#include <string>

#include "launcher/launch_config.h"
#include "launcher/process_supervisor.h"
#include "launcher/run_logs.h"

namespace tplaunch {

struct WorkerOutputRoute {
  StdStreams to_console = StdStreams::kAll;
  StdStreams to_file = StdStreams::kNone;
  StdStreams duplicated = StdStreams::kNone;
};

WorkerOutputRoute RouteWorkerOutput(const LaunchConfig& config, int local_rank);

// Sets the spec's console flags and duplicate filters and files from `route`
// and the rank's `files` (its stdout_file/stderr_file are the caller's).
void ApplyOutputRoute(const LaunchConfig& config,
                      const WorkerOutputRoute& route, const RankFiles& files,
                      WorkerSpec& spec);

// A warning when --duplicate-*-filters are given but no local rank's stream
// is duplicated (so the filtered file would stay empty), naming what to add;
// "" otherwise. Needs nproc_per_node resolved.
std::string DuplicateFiltersWarning(const LaunchConfig& config);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_OUTPUT_ROUTING_H_
