#include "launcher/job_status.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/key_layout.h"
#include "common/records.h"
#include "common/status_macros.h"
#include "launcher/node_rendezvous.h"
#include "store/endpoint.h"

namespace tplaunch {

absl::StatusOr<std::string> DescribeJob(Store* store,
                                        const std::string& run_id) {
  NodeRendezvousOptions o;
  o.run_id = run_id;
  NodeRendezvous rdzv(store, o);
  auto attempt_value = store->TryGet(AttemptCounterKey(run_id));
  if (absl::IsNotFound(attempt_value.status())) {
    return absl::NotFoundError(absl::StrCat("no job with run id '", run_id,
                                            "' on this rendezvous endpoint"));
  }
  if (!attempt_value.ok()) return attempt_value.status();
  ASSIGN_OR_RETURN(int attempt, rdzv.CurrentAttempt());

  std::string out =
      absl::StrCat("run id   : ", run_id, "\nattempt  : ", attempt, "\n");
  // Read, not Add(key, 0): status must write nothing into the job (and a
  // read-only etcd store refuses writes).
  int64_t join_count = 0;
  if (auto v = store->TryGet(JoinCountKey(run_id, attempt)); v.ok()) {
    if (!absl::SimpleAtoi(*v, &join_count)) join_count = 0;
  }
  const std::string closed_key = ClosedKey(run_id, attempt);
  auto closed_value = store->TryGet(closed_key);
  auto closed = closed_value.ok()
                    ? ClosedRecord::Decode(closed_key, *closed_value)
                    : absl::StatusOr<ClosedRecord>(closed_value.status());
  // The slots shown: the members once closed, else every slot that still
  // counts (not withdrawn or reclaimed).
  std::vector<int> slots;
  if (closed.ok()) {
    absl::StrAppend(&out, "state    : rendezvous closed with ",
                    closed->members.size(), " node(s)\n");
    for (const auto& m : closed->members) slots.push_back(m.slot);
  } else {
    const int64_t n = join_count;
    int64_t gone = 0;
    for (int s = 0; s < n; ++s) {
      if (store->TryGet(GoneKey(run_id, attempt, s)).ok()) {
        ++gone;
      } else {
        slots.push_back(s);
      }
    }
    absl::StrAppend(
        &out, "state    : rendezvous open, ", slots.size(), " node(s) joined",
        gone > 0 ? absl::StrCat(" (", gone, " slot(s) left)") : "", "\n");
  }
  const std::string master_key = MasterKey(run_id, attempt);
  if (auto value = store->TryGet(master_key); value.ok()) {
    absl::StatusOr<MasterRecord> master =
        MasterRecord::Decode(master_key, *value);
    std::string shown;
    if (!master.ok()) {
      shown = std::string(master.status().message());
    } else if (master->failure.has_value()) {
      shown = absl::StrCat("node 0 could not prepare the attempt: ",
                           *master->failure);
    } else {
      shown = JoinHostPort(master->addr, master->port);
    }
    absl::StrAppend(&out, "master   : ", shown, "\n");
  }
  if (auto end = rdzv.TryGetEnd(attempt); end.ok()) {
    absl::StrAppend(&out, "ended    : ",
                    end->ok()
                        ? "ok"
                        : absl::StrCat("failed (exit code ", end->exit_code,
                                       "): ", end->reason),
                    "\n");
  }
  std::vector<NodeInfo> joined;
  for (int s : slots) {
    const std::string key = NodeKey(run_id, attempt, s);
    auto v = store->TryGet(key);
    auto info = v.ok() ? NodeInfo::Decode(key, *v)
                       : absl::StatusOr<NodeInfo>(v.status());
    // A node whose record is missing or unreadable still gets its row.
    NodeInfo unknown;
    unknown.host = "?";
    unknown.addr = "?";
    unknown.nproc = 0;
    joined.push_back(info.ok() ? *info : unknown);
  }
  std::vector<int> rank_of_slot(joined.size(), -1);
  if (auto ranks = AssignNodeRanks(joined); ranks.ok()) rank_of_slot = *ranks;
  std::vector<int> offset(joined.size(), 0);
  {
    std::vector<int> nproc_by_rank(joined.size(), 0);
    for (size_t s = 0; s < joined.size(); ++s) {
      if (rank_of_slot[s] >= 0)
        nproc_by_rank[rank_of_slot[s]] = joined[s].nproc;
    }
    for (size_t s = 0; s < joined.size(); ++s) {
      for (int r = 0; r < rank_of_slot[s]; ++r) offset[s] += nproc_by_rank[r];
    }
  }
  absl::StrAppend(&out, absl::StrFormat("%-5s %-24s %-20s %-7s %-12s %-8s %s\n",
                                        "node", "host", "address", "nproc",
                                        "ranks", "pid", "last heartbeat"));
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  for (size_t s = 0; s < joined.size(); ++s) {
    std::string hb = "never";
    const std::string hb_key = HeartbeatKey(run_id, attempt, slots[s]);
    if (auto v = store->TryGet(hb_key); v.ok()) {
      if (auto record = HeartbeatRecord::Decode(hb_key, *v); record.ok()) {
        hb = absl::StrFormat("%.1fs ago (%s, #%d)",
                             (now_ms - record->unix_ms) / 1000.0,
                             HeartbeatStateName(record->state), record->seq);
      }
    }
    const NodeInfo& n = joined[s];
    absl::StrAppend(
        &out,
        absl::StrFormat(
            "%-5s %-24s %-20s %-7d %-12s %-8d %s\n",
            rank_of_slot[s] >= 0 ? absl::StrCat(rank_of_slot[s]) : "?", n.host,
            n.addr, n.nproc,
            absl::StrCat(offset[s], "..", offset[s] + n.nproc - 1), n.pid, hb));
  }
  return out;
}

}  // namespace tplaunch
