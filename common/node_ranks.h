// AssignNodeRanks: the one ordering of a rendezvous' nodes, shared by the
// launchers that agree on it (launcher/node_rendezvous.h), `tplaunch status`
// and the daemon's live view (rendezvous/http/job_view.cc), which shows the
// ranks the launchers will take.
#ifndef TPLAUNCH_COMMON_NODE_RANKS_H_
#define TPLAUNCH_COMMON_NODE_RANKS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/records.h"

namespace tplaunch {

// Ranks for the joined nodes (index = slot): requested ranks are kept, the
// others fill the free ranks in (host, addr, pid) order, so a restart with the
// same nodes yields the same ranks. InvalidArgument names conflicting or
// out-of-range requests.
absl::StatusOr<std::vector<int>> AssignNodeRanks(
    const std::vector<NodeInfo>& joined);

}  // namespace tplaunch

#endif  // TPLAUNCH_COMMON_NODE_RANKS_H_
