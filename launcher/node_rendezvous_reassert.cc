// The members' half of launcher/node_rendezvous.h: what the nodes of a closed
// attempt do to keep it when the store lost its keys (a daemon restart
// without --state-dir), and the exit barrier, whose per-node keys they
// re-assert the same way.
// docs/reliability.md#rendezvous-stale-joins-and-restarts
#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/key_layout.h"
#include "common/status_macros.h"
#include "launcher/node_rendezvous.h"

namespace tplaunch {

absl::Status NodeRendezvous::ReportDone(const NodeAssignment& a) {
  RETURN_IF_ERROR(
      store_->Set(DoneKey(options_.run_id, a.attempt, a.slot), a.node_id));
  return CompleteBarrier(a);
}

absl::Status NodeRendezvous::CompleteBarrier(const NodeAssignment& a) {
  for (const ClosedRecord::Member& m : a.closed.members) {
    auto v = store_->TryGet(DoneKey(options_.run_id, a.attempt, m.slot));
    if (absl::IsNotFound(v.status())) return absl::OkStatus();
    if (!v.ok()) return v.status();
    // Another world's node in the same slot is not this member.
    if (*v != m.id) return absl::OkStatus();
  }
  AttemptEnd ok;
  ok.kind = AttemptEnd::Kind::kOk;
  return store_->CompareSet(EndKey(options_.run_id, a.attempt), "", ok.Encode())
      .status();
}

absl::Status NodeRendezvous::RestoreKeys(const NodeAssignment& a) {
  const std::string& run_id = options_.run_id;
  int needed = 0;
  for (const auto& m : a.closed.members) needed = std::max(needed, m.slot + 1);
  const std::string count_key = JoinCountKey(run_id, a.attempt);
  ASSIGN_OR_RETURN(int64_t count, store_->Add(count_key, 0));
  if (count < needed) {
    RETURN_IF_ERROR(store_->Add(count_key, needed - count).status());
  }
  RETURN_IF_ERROR(store_->Set(NodeKey(run_id, a.attempt, a.slot),
                              a.nodes[a.node_rank].Encode()));
  ASSIGN_OR_RETURN(int current, CurrentAttempt());
  if (current < a.attempt) {
    RETURN_IF_ERROR(
        store_->Set(AttemptCounterKey(run_id), absl::StrCat(a.attempt)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<AttemptEnd>> NodeRendezvous::Reassert(
    const NodeAssignment& a, HeartbeatState state) {
  const std::string& run_id = options_.run_id;
  const std::string closed_key = ClosedKey(run_id, a.attempt);
  const std::string mine = a.closed.Encode();
  auto stored = store_->TryGet(closed_key);
  if (absl::IsNotFound(stored.status())) {
    stored = store_->CompareSet(closed_key, "", mine);
    if (stored.ok() && *stored == mine) {
      RETURN_IF_ERROR(RestoreKeys(a));
      Notice(absl::StrCat(
          "the rendezvous store lost the keys of attempt ", a.attempt,
          " (a daemon restart without --state-dir?); re-asserted its "
          "membership (",
          a.num_nodes,
          " node(s)) so that a node starting now is late, not "
          "a second world"));
    }
  }
  if (!stored.ok()) return stored.status();
  if (*stored != mine) {
    auto other = ClosedRecord::Decode(closed_key, *stored);
    const std::string reason = absl::StrCat(
        "attempt ", a.attempt, " of run '", run_id,
        "' was closed twice after the rendezvous store lost its keys (a "
        "daemon restart without --state-dir?): by this node's ",
        a.num_nodes, " node(s) and by ",
        other.ok() ? absl::StrCat(other->members.size(), " other node(s)")
                   : std::string("another record"),
        "; restarting every node together");
    Notice(reason);
    ASSIGN_OR_RETURN(
        AttemptEnd end,
        ReportFailure(a.attempt, AttemptEnd::Kind::kMembershipChange, 1,
                      reason));
    return std::optional<AttemptEnd>(end);
  }
  if (state == HeartbeatState::kDone) RETURN_IF_ERROR(ReportDone(a));
  return std::optional<AttemptEnd>();
}

}  // namespace tplaunch
