// NcclIdBroker: moves NCCL unique ids (opaque 128-byte blobs) through the
// group's store.
//
// Groups of up to kNcclRanksPerRoot ranks use one id, made by rank 0. Larger
// groups use ncclCommInitRankScalable with one id per kNcclRanksPerRoot ranks:
// root i's id is made by the first rank of the block of ranks NCCL assigns to
// root i, and published under "nccl/id/<i>"; every rank then fetches all ids
// with one MultiGet. The process that made an id runs NCCL's bootstrap listener
// for it, so it must stay alive until every rank has initialized. Pure store
// logic: the id generator is passed in, so the exchange is tested on CPU.
#ifndef TPLAUNCH_WORKER_LIB_NCCL_ID_BROKER_H_
#define TPLAUNCH_WORKER_LIB_NCCL_ID_BROKER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "store/store.h"

namespace tplaunch {

inline constexpr int kNcclRanksPerRoot = 128;
inline constexpr int kNcclUniqueIdBytes = 128;

// Number of ids (NCCL roots) for a group of `world_size` ranks.
int NcclRootCount(int world_size);
// The rank that makes root `root`'s id (the first rank NCCL assigns to that
// root).
int NcclRootCreatorRank(int root, int world_size, int num_roots);

// Makes this rank's ids (if it creates any), publishes them, and returns every
// id in root order, each exactly kNcclUniqueIdBytes long. `generate` returns
// one fresh id. Errors: DeadlineExceeded naming the creator ranks whose ids did
// not appear within `timeout`; DataLoss when a published id has the wrong size;
// generate's errors.
absl::StatusOr<std::vector<std::string>> ExchangeNcclIds(
    Store& store, int rank, int world_size, absl::Duration timeout,
    const std::function<absl::StatusOr<std::string>()>& generate,
    absl::string_view where);

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_NCCL_ID_BROKER_H_
