#include "worker_lib/nccl_id_broker.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/key_layout.h"
#include "common/status_macros.h"
#include "worker_lib/group_join.h"

namespace tplaunch {

int NcclRootCount(int world_size) {
  if (world_size <= kNcclRanksPerRoot) return 1;
  return (world_size + kNcclRanksPerRoot - 1) / kNcclRanksPerRoot;
}

int NcclRootCreatorRank(int root, int world_size, int num_roots) {
  // NCCL gives the first (world_size % num_roots) roots one extra rank each.
  const int per_root = world_size / num_roots;
  const int remainder = world_size % num_roots;
  if (root < remainder) return root * (per_root + 1);
  return remainder * (per_root + 1) + (root - remainder) * per_root;
}

absl::StatusOr<std::vector<std::string>> ExchangeNcclIds(
    Store& store, int rank, int world_size, absl::Duration timeout,
    const std::function<absl::StatusOr<std::string>()>& generate,
    absl::string_view where) {
  const int roots = NcclRootCount(world_size);
  std::vector<std::string> keys;
  std::vector<int> creators;
  for (int i = 0; i < roots; ++i) {
    keys.push_back(GroupNcclIdKey(i));
    creators.push_back(NcclRootCreatorRank(i, world_size, roots));
    if (creators.back() == rank) {
      ASSIGN_OR_RETURN(std::string id, generate());
      if (id.size() != kNcclUniqueIdBytes) {
        return absl::InternalError(
            absl::StrFormat("%s: generated NCCL id has %d bytes, expected %d",
                            where, id.size(), kNcclUniqueIdBytes));
      }
      RETURN_IF_ERROR(store.Set(keys.back(), id));
    }
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<std::string>> ids = store.MultiGet(keys, timeout);
  if (!ids.ok()) {
    if (!absl::IsDeadlineExceeded(ids.status())) return ids.status();
    std::vector<int> missing;
    absl::StatusOr<std::vector<std::string>> present =
        store.ListKeys(kGroupNcclIdPrefix);
    for (int i = 0; i < roots; ++i) {
      if (present.ok() && std::find(present->begin(), present->end(),
                                    keys[i]) != present->end()) {
        continue;
      }
      missing.push_back(creators[i]);
    }
    return absl::DeadlineExceededError(absl::StrFormat(
        "%s: rank %d waited %s for the NCCL unique id(s) of rank(s) %s (keys "
        "%s<root>)",
        where, rank, absl::FormatDuration(absl::Now() - start),
        FormatRanks(missing), kGroupNcclIdPrefix));
  }
  for (int i = 0; i < roots; ++i) {
    if ((*ids)[i].size() != kNcclUniqueIdBytes) {
      return absl::DataLossError(absl::StrFormat(
          "%s: NCCL unique id %s from rank %d has %d bytes, expected %d", where,
          keys[i], creators[i], (*ids)[i].size(), kNcclUniqueIdBytes));
    }
  }
  return std::move(ids).value();
}

}  // namespace tplaunch
