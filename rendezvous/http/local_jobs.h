// LocalJobSource: what a process that runs workers itself adds to its live
// view. tplaunch --http-port (standalone or hosting) registers its node's
// workers; tprdzvd has none. The view calls it from its HTTP threads.
#ifndef TPLAUNCH_RENDEZVOUS_HTTP_LOCAL_JOBS_H_
#define TPLAUNCH_RENDEZVOUS_HTTP_LOCAL_JOBS_H_

#include <string>
#include <vector>

#include "proto/live_view.pb.h"

namespace tplaunch {

class LocalJobSource {
 public:
  virtual ~LocalJobSource() = default;
  // The run ids this process runs workers of (a job the daemon's table may
  // not hold: a standalone node meets itself in memory). Thread-safe.
  virtual std::vector<std::string> RunIds() const = 0;
  // Adds the workers of `run_id` to `job` (job.workers); when the table told
  // nothing of the job's attempts (state "" or "store_only"), also the
  // attempt, its state and this node as the one joined. Thread-safe.
  virtual void Fill(const std::string& run_id,
                    rendezvous::v1::LiveJob& job) const = 0;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_HTTP_LOCAL_JOBS_H_
