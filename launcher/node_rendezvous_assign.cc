// From a closed attempt to this node's place in it
// (launcher/node_rendezvous.h): node ranks, the global rank layout, and
// MASTER_ADDR/MASTER_PORT, which node 0 publishes and the others read.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/key_layout.h"
#include "common/status_macros.h"
#include "launcher/node_rendezvous.h"

namespace tplaunch {
namespace {

// What is left of the join's time; blocking reads get at least a second.
absl::Duration Remaining(absl::Time deadline) {
  return std::max(absl::ZeroDuration(), deadline - absl::Now());
}

}  // namespace

absl::StatusOr<NodeAssignment> NodeRendezvous::Assign(
    int attempt, int slot, const NodeInfo& self, const ClosedRecord& closed,
    const MasterReserver& reserve_master, absl::Time deadline) {
  const std::string& run_id = options_.run_id;
  const int k = static_cast<int>(closed.members.size());
  std::vector<std::string> keys;
  for (const auto& m : closed.members)
    keys.push_back(NodeKey(run_id, attempt, m.slot));
  ASSIGN_OR_RETURN(
      std::vector<std::string> records,
      store_->MultiGet(keys, std::max(Remaining(deadline), absl::Seconds(1))));
  std::vector<NodeInfo> joined;
  int self_index = -1;
  for (int i = 0; i < k; ++i) {
    ASSIGN_OR_RETURN(NodeInfo info, NodeInfo::Decode(keys[i], records[i]));
    if (info.id != closed.members[i].id) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the rendezvous keys of run '", run_id, "' attempt ", attempt,
          " changed while this node joined (", keys[i],
          " names another node): did the rendezvous daemon restart without "
          "--state-dir?"));
    }
    if (closed.members[i].slot == slot) self_index = i;
    joined.push_back(std::move(info));
  }
  ASSIGN_OR_RETURN(std::vector<int> rank_of, AssignNodeRanks(joined));

  NodeAssignment a;
  a.attempt = attempt;
  a.slot = slot;
  a.node_id = self.id;
  a.closed = closed;
  a.num_nodes = k;
  a.node_rank = rank_of[self_index];
  a.nodes.resize(k);
  a.slot_of_rank.resize(k);
  for (int i = 0; i < k; ++i) {
    a.nodes[rank_of[i]] = joined[i];
    a.slot_of_rank[rank_of[i]] = closed.members[i].slot;
  }
  a.world_size = 0;
  for (int r = 0; r < k; ++r) {
    if (r == a.node_rank) a.rank_offset = a.world_size;
    a.world_size += a.nodes[r].nproc;
  }

  const std::string master_key = MasterKey(run_id, attempt);
  if (a.node_rank == 0) {
    auto master = reserve_master();
    if (!master.ok()) {
      // Tell the other nodes now, so they do not wait out the join timeout for
      // a master that will never be published. Best effort: this node exits
      // with the error either way.
      MasterRecord failed;
      failed.failure = std::string(master.status().message());
      store_->Set(master_key, failed.Encode()).IgnoreError();
      return master.status();
    }
    a.master_addr = master->first;
    a.master_port = master->second;
    MasterRecord published;
    published.addr = a.master_addr;
    published.port = a.master_port;
    RETURN_IF_ERROR(store_->Set(master_key, published.Encode()));
  } else {
    auto v = store_->Get(master_key,
                         std::max(Remaining(deadline), absl::Seconds(1)));
    if (!v.ok()) {
      return absl::Status(
          v.status().code(),
          absl::StrCat(
              "waiting for node 0 (", a.nodes[0].Label(),
              ") to publish MASTER_ADDR/MASTER_PORT: ", v.status().message()));
    }
    ASSIGN_OR_RETURN(MasterRecord m, MasterRecord::Decode(master_key, *v));
    if (m.failure.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("node 0 (", a.nodes[0].Label(),
                       ") could not prepare the attempt: ", *m.failure));
    }
    a.master_addr = m.addr;
    a.master_port = m.port;
  }
  return a;
}

}  // namespace tplaunch
