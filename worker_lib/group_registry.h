// GroupRegistry: which (group_name, rank) memberships are alive in this
// process, so a second InitProcessGroup for the same membership fails instead
// of silently creating a second world.
#ifndef TPLAUNCH_WORKER_LIB_GROUP_REGISTRY_H_
#define TPLAUNCH_WORKER_LIB_GROUP_REGISTRY_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// Claims (group_name, rank) and returns its generation: how many times this
// process claimed it before. Every rank that re-initializes a group name after
// destroying it gets the same generation, which goes into the keys, so a
// re-init never reads the previous one's keys. AlreadyExists names the group
// when it is claimed now.
absl::StatusOr<int> ClaimGroupMembership(absl::string_view group_name,
                                         int rank);
// Releases a claim made by ClaimGroupMembership.
void ReleaseGroupMembership(absl::string_view group_name, int rank);
// Whether any rank of group_name is claimed in this process.
bool IsGroupClaimed(absl::string_view group_name);

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_GROUP_REGISTRY_H_
