#include "launcher/node_rendezvous.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace tplaunch {
namespace {

// Starts the master key's value when node 0 failed to prepare the attempt
// (reserving MASTER_PORT, emptying the agent store); the reason follows.
constexpr char kMasterFailedPrefix[] = "!";

// Store calls that never block still need a bound when the store is remote;
// blocking ones get the caller's remaining time.
absl::Duration Remaining(absl::Time deadline) {
  return std::max(absl::ZeroDuration(), deadline - absl::Now());
}

absl::StatusOr<int64_t> ParseInt64(absl::string_view key, absl::string_view v) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(v, &n)) {
    return absl::DataLossError(absl::StrCat("rendezvous key '", key,
                                            "' holds '", v, "', not a number"));
  }
  return n;
}

}  // namespace

std::string NodeInfo::Serialize() const {
  // Tab-separated: host names and addresses never contain tabs.
  return absl::StrCat("v1\t", host, "\t", addr, "\t", nproc, "\t",
                      requested_rank, "\t", pid);
}

absl::StatusOr<NodeInfo> NodeInfo::Parse(absl::string_view text) {
  std::vector<std::string> f = absl::StrSplit(text, '\t');
  NodeInfo n;
  if (f.size() != 6 || f[0] != "v1" || !absl::SimpleAtoi(f[3], &n.nproc) ||
      !absl::SimpleAtoi(f[4], &n.requested_rank) ||
      !absl::SimpleAtoi(f[5], &n.pid)) {
    return absl::DataLossError(
        absl::StrCat("malformed join record '", text,
                     "' (a launcher of another version in the same job?)"));
  }
  n.host = f[1];
  n.addr = f[2];
  return n;
}

std::string NodeInfo::Label() const {
  return absl::StrCat(host, " (", addr, ")");
}

std::string EncodeAttemptEnd(const AttemptEnd& end) {
  switch (end.kind) {
    case AttemptEnd::Kind::kOk:
      return "ok";
    case AttemptEnd::Kind::kFailed:
      return absl::StrCat("fail ", end.exit_code, " ", end.reason);
    case AttemptEnd::Kind::kStopped:
      return absl::StrCat("stop ", end.exit_code, " ", end.reason);
    case AttemptEnd::Kind::kMembershipChange:
      return absl::StrCat("member ", end.exit_code, " ", end.reason);
  }
  return "fail 1 unknown";
}

AttemptEnd DecodeAttemptEnd(absl::string_view value) {
  AttemptEnd end;
  if (value == "ok") {
    end.kind = AttemptEnd::Kind::kOk;
    return end;
  }
  std::vector<absl::string_view> parts =
      absl::StrSplit(value, absl::MaxSplits(' ', 2));
  if (parts[0] == "stop") end.kind = AttemptEnd::Kind::kStopped;
  if (parts[0] == "member") end.kind = AttemptEnd::Kind::kMembershipChange;
  end.exit_code = 1;
  if (parts.size() >= 2) {
    int code = 1;
    if (absl::SimpleAtoi(parts[1], &code)) end.exit_code = code;
  }
  end.reason = parts.size() == 3 ? std::string(parts[2]) : std::string(value);
  return end;
}

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

NodeRendezvous::NodeRendezvous(Store* store, NodeRendezvousOptions options)
    : store_(store), options_(std::move(options)) {}

std::string NodeRendezvous::Key(int attempt, absl::string_view name) const {
  return absl::StrCat(options_.run_id, "/a", attempt, "/", name);
}

std::string NodeRendezvous::AttemptKey() const {
  return absl::StrCat(options_.run_id, "/attempt");
}

absl::StatusOr<int> NodeRendezvous::CurrentAttempt() {
  auto v = store_->TryGet(AttemptKey());
  if (absl::IsNotFound(v.status())) return 0;
  if (!v.ok()) return v.status();
  ASSIGN_OR_RETURN(int64_t n, ParseInt64(AttemptKey(), *v));
  return static_cast<int>(n);
}

absl::StatusOr<int> NodeRendezvous::ProposeClose(int attempt, int64_t count) {
  std::string key = Key(attempt, "closed");
  ASSIGN_OR_RETURN(std::string stored,
                   store_->CompareSet(key, "", absl::StrCat(count)));
  ASSIGN_OR_RETURN(int64_t k, ParseInt64(key, stored));
  return static_cast<int>(k);
}

std::string NodeRendezvous::DescribeJoined(int attempt, int64_t count) {
  std::vector<std::string> names;
  for (int64_t s = 0; s < count; ++s) {
    auto v = store_->TryGet(Key(attempt, absl::StrCat("node/", s)));
    if (!v.ok()) continue;
    auto info = NodeInfo::Parse(*v);
    names.push_back(info.ok() ? info->host : "?");
  }
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<NodeAssignment> NodeRendezvous::Join(
    int attempt, const NodeInfo& self, const MasterReserver& reserve_master,
    const ProgressCallback& progress) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options_.join_timeout;
  const int min_nodes = options_.min_nodes;
  const int max_nodes = options_.max_nodes;
  auto late = [&](int64_t k) {
    return absl::FailedPreconditionError(
        absl::StrCat("late: attempt ", attempt, " of run '", options_.run_id,
                     "' already closed with ", k, " node(s)"));
  };

  // A closed attempt is not worth a slot.
  if (auto closed = store_->TryGet(Key(attempt, "closed")); closed.ok()) {
    ASSIGN_OR_RETURN(int64_t k, ParseInt64(Key(attempt, "closed"), *closed));
    return late(k);
  }
  ASSIGN_OR_RETURN(int64_t after_add, store_->Add(Key(attempt, "count"), 1));
  const int slot = static_cast<int>(after_add - 1);
  if (slot >= max_nodes) return late(max_nodes);
  RETURN_IF_ERROR(
      store_->Set(Key(attempt, absl::StrCat("node/", slot)), self.Serialize()));
  RETURN_IF_ERROR(Heartbeat(attempt, slot, 0, "run"));
  RETURN_IF_ERROR(store_->Set(AttemptKey(), absl::StrCat(attempt)));

  // Wait for the attempt to close: at max_nodes at once, or last_call after
  // min_nodes.
  absl::Time last_call_end = absl::InfiniteFuture();
  absl::Time next_progress = start;
  int64_t reported = -1;
  int k = -1;
  while (true) {
    ASSIGN_OR_RETURN(int64_t count, store_->Add(Key(attempt, "count"), 0));
    const absl::Time now = absl::Now();
    if (count >= max_nodes) {
      ASSIGN_OR_RETURN(k, ProposeClose(attempt, max_nodes));
      break;
    }
    if (count >= min_nodes) {
      if (last_call_end == absl::InfiniteFuture())
        last_call_end = now + options_.last_call;
      if (now >= last_call_end) {
        ASSIGN_OR_RETURN(k, ProposeClose(attempt, count));
        break;
      }
    }
    if (auto closed = store_->TryGet(Key(attempt, "closed")); closed.ok()) {
      ASSIGN_OR_RETURN(int64_t kk, ParseInt64(Key(attempt, "closed"), *closed));
      k = static_cast<int>(kk);
      break;
    }
    if (now >= deadline) {
      const int64_t missing = std::max<int64_t>(min_nodes - count, 1);
      return absl::DeadlineExceededError(absl::StrCat(
          "rendezvous of run '", options_.run_id, "' (attempt ", attempt,
          ") timed out after ", absl::FormatDuration(now - start), ": ", count,
          " of ",
          min_nodes == max_nodes ? absl::StrCat(max_nodes)
                                 : absl::StrCat(min_nodes, "..", max_nodes),
          " nodes joined (", DescribeJoined(attempt, count), "), ", missing,
          " missing; start tplaunch with the same --rdzv-endpoint and "
          "--rdzv-id on "
          "the missing node(s) or raise --rdzv-timeout"));
    }
    if (progress && (count != reported || now >= next_progress)) {
      const std::string joined = DescribeJoined(attempt, count);
      std::string msg;
      if (count < min_nodes) {
        const int64_t more = min_nodes - count;
        msg = absl::StrCat("waiting for ", more, " more node",
                           more == 1 ? "" : "s", " (", count, "/", min_nodes,
                           " joined: ", joined, ")");
      } else {
        msg = absl::StrCat(count, "/", max_nodes, " nodes joined (", joined,
                           "); closing in ",
                           absl::FormatDuration(absl::Trunc(last_call_end - now,
                                                            absl::Seconds(1))),
                           " unless ", max_nodes - count, " more join");
      }
      progress(msg);
      reported = count;
      next_progress = now + options_.progress_interval;
    }
    // Sleep until the next node joins (its record appears), or a time-based
    // step.
    absl::Time wake = std::min({deadline, last_call_end, next_progress});
    absl::Status w =
        store_->Wait({Key(attempt, absl::StrCat("node/", count))},
                     std::max(Remaining(wake), absl::Milliseconds(1)));
    if (!w.ok() && !absl::IsDeadlineExceeded(w)) return w;
  }
  if (slot >= k) return late(k);

  std::vector<std::string> keys;
  for (int s = 0; s < k; ++s)
    keys.push_back(Key(attempt, absl::StrCat("node/", s)));
  ASSIGN_OR_RETURN(
      std::vector<std::string> records,
      store_->MultiGet(keys, std::max(Remaining(deadline), absl::Seconds(1))));
  std::vector<NodeInfo> joined;
  for (const auto& r : records) {
    ASSIGN_OR_RETURN(NodeInfo info, NodeInfo::Parse(r));
    joined.push_back(std::move(info));
  }
  ASSIGN_OR_RETURN(std::vector<int> rank_of_slot, AssignNodeRanks(joined));

  NodeAssignment a;
  a.attempt = attempt;
  a.slot = slot;
  a.num_nodes = k;
  a.node_rank = rank_of_slot[slot];
  a.nodes.resize(k);
  a.slot_of_rank.resize(k);
  for (int s = 0; s < k; ++s) {
    a.nodes[rank_of_slot[s]] = joined[s];
    a.slot_of_rank[rank_of_slot[s]] = s;
  }
  a.world_size = 0;
  for (int r = 0; r < k; ++r) {
    if (r == a.node_rank) a.rank_offset = a.world_size;
    a.world_size += a.nodes[r].nproc;
  }

  const std::string master_key = Key(attempt, "master");
  if (a.node_rank == 0) {
    auto master = reserve_master();
    if (!master.ok()) {
      // Tell the other nodes now, so they do not wait out the join timeout for
      // a master that will never be published. Best effort: this node exits
      // with the error either way.
      store_
          ->Set(master_key,
                absl::StrCat(kMasterFailedPrefix, master.status().message()))
          .IgnoreError();
      return master.status();
    }
    a.master_addr = master->first;
    a.master_port = master->second;
    RETURN_IF_ERROR(store_->Set(
        master_key, absl::StrCat(a.master_addr, " ", a.master_port)));
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
    if (absl::StartsWith(*v, kMasterFailedPrefix)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "node 0 (", a.nodes[0].Label(), ") could not prepare the attempt: ",
          v->substr(std::strlen(kMasterFailedPrefix))));
    }
    std::pair<std::string, std::string> p =
        absl::StrSplit(*v, absl::MaxSplits(' ', 1));
    if (!absl::SimpleAtoi(p.second, &a.master_port)) {
      return absl::DataLossError(
          absl::StrCat("malformed '", master_key, "': '", *v, "'"));
    }
    a.master_addr = p.first;
  }
  return a;
}

absl::StatusOr<AttemptEnd> NodeRendezvous::ReportFailure(
    int attempt, AttemptEnd::Kind kind, int exit_code,
    const std::string& reason) {
  AttemptEnd end;
  end.kind = kind;
  end.exit_code = exit_code;
  end.reason = reason;
  ASSIGN_OR_RETURN(
      std::string stored,
      store_->CompareSet(Key(attempt, "end"), "", EncodeAttemptEnd(end)));
  return DecodeAttemptEnd(stored);
}

absl::Status NodeRendezvous::ReportDone(int attempt, int num_nodes) {
  ASSIGN_OR_RETURN(int64_t n, store_->Add(Key(attempt, "done"), 1));
  if (n >= num_nodes) {
    AttemptEnd ok;
    ok.kind = AttemptEnd::Kind::kOk;
    return store_->CompareSet(Key(attempt, "end"), "", EncodeAttemptEnd(ok))
        .status();
  }
  return absl::OkStatus();
}

absl::StatusOr<AttemptEnd> NodeRendezvous::WaitForEnd(int attempt,
                                                      absl::Duration timeout) {
  ASSIGN_OR_RETURN(std::string v, store_->Get(Key(attempt, "end"), timeout));
  return DecodeAttemptEnd(v);
}

absl::StatusOr<AttemptEnd> NodeRendezvous::TryGetEnd(int attempt) {
  ASSIGN_OR_RETURN(std::string v, store_->TryGet(Key(attempt, "end")));
  return DecodeAttemptEnd(v);
}

absl::Status NodeRendezvous::Heartbeat(int attempt, int slot, int64_t seq,
                                       absl::string_view state) {
  return store_->Set(
      Key(attempt, absl::StrCat("hb/", slot)),
      absl::StrCat(seq, " ", absl::ToUnixMillis(absl::Now()), " ", state));
}

absl::StatusOr<std::vector<std::string>> NodeRendezvous::ReadHeartbeats(
    int attempt, const std::vector<int>& slots) {
  std::vector<std::string> out;
  out.reserve(slots.size());
  for (int s : slots) {
    auto v = store_->TryGet(Key(attempt, absl::StrCat("hb/", s)));
    if (v.ok()) {
      out.push_back(*v);
    } else if (absl::IsNotFound(v.status())) {
      out.emplace_back();
    } else {
      return v.status();
    }
  }
  return out;
}

absl::StatusOr<int64_t> NodeRendezvous::AddLate(int attempt) {
  return store_->Add(Key(attempt, "late"), 1);
}

absl::StatusOr<int64_t> NodeRendezvous::LateCount(int attempt) {
  return store_->Add(Key(attempt, "late"), 0);
}

}  // namespace tplaunch
