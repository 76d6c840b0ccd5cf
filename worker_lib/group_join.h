// GroupJoin: the first step of every group's init. Each rank publishes its
// MemberRecord (common/records.h: backend, world size, host, pid) under
// GroupJoinKey(rank) and waits for every other rank's, so that a missing rank
// is named after the timeout and ranks that disagree on the backend or the
// world size fail at once instead of hanging inside a backend.
#ifndef TPLAUNCH_WORKER_LIB_GROUP_JOIN_H_
#define TPLAUNCH_WORKER_LIB_GROUP_JOIN_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/records.h"
#include "store/store.h"

namespace tplaunch {

// `store` is the group's prefixed store; `where` describes the group for
// messages (e.g. "group 'default' attempt 0"). Errors: DeadlineExceeded naming
// the ranks that did not join and how long was waited; FailedPrecondition
// naming the first rank that disagrees; InvalidArgument naming a rank's
// malformed record; FailedPrecondition naming a rank that
// published a failure; the store's own errors.
absl::StatusOr<std::vector<MemberRecord>> JoinGroup(Store& store,
                                                    const MemberRecord& self,
                                                    absl::Duration timeout,
                                                    absl::string_view where);

// Ranks in [0, world_size) whose key "<key_prefix><rank>" is absent now; one
// ListKeys.
absl::StatusOr<std::vector<int>> AbsentRanks(Store& store,
                                             absl::string_view key_prefix,
                                             int world_size);

// "3", "0,2,5-7" (at most `limit` items, then "... (N in all)").
std::string FormatRanks(const std::vector<int>& ranks, int limit = 16);

// Best effort: records this rank's init failure under GroupFailKey(rank) so
// that peers polling for failures (NCCL init) abort at once.
void PublishFailure(Store& store, int rank, const absl::Status& status);

// The first failure any rank published, if one exists now (never blocks).
absl::StatusOr<std::string> FindPublishedFailure(Store& store);

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_GROUP_JOIN_H_
