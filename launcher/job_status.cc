#include "launcher/job_status.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "launcher/node_rendezvous.h"

namespace tplaunch {

absl::StatusOr<std::string> DescribeJob(Store* store,
                                        const std::string& run_id) {
  NodeRendezvousOptions o;
  o.run_id = run_id;
  NodeRendezvous rdzv(store, o);
  auto attempt_value = store->TryGet(rdzv.AttemptKey());
  if (absl::IsNotFound(attempt_value.status())) {
    return absl::NotFoundError(absl::StrCat("no job with run id '", run_id,
                                            "' on this rendezvous endpoint"));
  }
  if (!attempt_value.ok()) return attempt_value.status();
  ASSIGN_OR_RETURN(int attempt, rdzv.CurrentAttempt());

  std::string out =
      absl::StrCat("run id   : ", run_id, "\nattempt  : ", attempt, "\n");
  auto count = store->Add(rdzv.Key(attempt, "count"), 0);
  auto closed = store->TryGet(rdzv.Key(attempt, "closed"));
  int64_t k = 0;
  if (closed.ok() && absl::SimpleAtoi(*closed, &k)) {
    absl::StrAppend(&out, "state    : rendezvous closed with ", k,
                    " node(s)\n");
  } else {
    absl::StrAppend(&out, "state    : rendezvous open, ",
                    count.ok() ? *count : 0, " node(s) joined\n");
    k = count.ok() ? *count : 0;
  }
  if (auto master = store->TryGet(rdzv.Key(attempt, "master")); master.ok()) {
    absl::StrAppend(&out, "master   : ", *master, "\n");
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
  for (int64_t s = 0; s < k; ++s) {
    auto v = store->TryGet(rdzv.Key(attempt, absl::StrCat("node/", s)));
    auto info =
        v.ok() ? NodeInfo::Parse(*v) : absl::StatusOr<NodeInfo>(v.status());
    joined.push_back(info.ok() ? *info : NodeInfo{"?", "?", 0, -1, 0});
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
    if (auto v = store->TryGet(rdzv.Key(attempt, absl::StrCat("hb/", s)));
        v.ok()) {
      std::vector<std::string> f = absl::StrSplit(*v, ' ');
      int64_t ms = 0;
      if (f.size() >= 3 && absl::SimpleAtoi(f[1], &ms)) {
        hb = absl::StrFormat("%.1fs ago (%s, #%s)", (now_ms - ms) / 1000.0,
                             f[2], f[0]);
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
