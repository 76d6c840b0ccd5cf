#include "common/node_ranks.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace tplaunch {

absl::StatusOr<std::vector<int>> AssignNodeRanks(
    const std::vector<NodeInfo>& joined) {
  const int k = static_cast<int>(joined.size());
  std::vector<int> rank(k, -1);
  std::vector<int> holder(k, -1);  // slot holding each rank
  for (int s = 0; s < k; ++s) {
    int r = joined[s].requested_rank;
    if (r < 0) continue;
    if (r >= k) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node ", joined[s].Label(), " asked for --node-rank ", r,
          " but only ", k, " nodes joined (ranks 0..", k - 1, ")"));
    }
    if (holder[r] >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("nodes ", joined[holder[r]].Label(), " and ",
                       joined[s].Label(), " both asked for --node-rank ", r));
    }
    holder[r] = s;
    rank[s] = r;
  }
  std::vector<int> rest;
  for (int s = 0; s < k; ++s) {
    if (rank[s] < 0) rest.push_back(s);
  }
  std::sort(rest.begin(), rest.end(), [&](int a, int b) {
    return std::tie(joined[a].host, joined[a].addr, joined[a].pid) <
           std::tie(joined[b].host, joined[b].addr, joined[b].pid);
  });
  int next = 0;
  for (int s : rest) {
    while (holder[next] >= 0) ++next;
    holder[next] = s;
    rank[s] = next;
  }
  return rank;
}

}  // namespace tplaunch
