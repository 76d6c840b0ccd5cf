#include "launcher/node_rendezvous.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/key_layout.h"
#include "common/status_macros.h"

namespace tplaunch {
namespace {

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

std::string LateArrival::Describe() const {
  return absl::StrCat("attempt ", attempt, " of run '", run_id,
                      "' already closed with ", closed_with, " node(s)");
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

absl::StatusOr<int> NodeRendezvous::CurrentAttempt() {
  const std::string key = AttemptCounterKey(options_.run_id);
  auto v = store_->TryGet(key);
  if (absl::IsNotFound(v.status())) return 0;
  if (!v.ok()) return v.status();
  ASSIGN_OR_RETURN(int64_t n, ParseInt64(key, *v));
  return static_cast<int>(n);
}

absl::StatusOr<int> NodeRendezvous::ProposeClose(int attempt, int64_t count) {
  const std::string key = ClosedKey(options_.run_id, attempt);
  ASSIGN_OR_RETURN(std::string stored,
                   store_->CompareSet(key, "", absl::StrCat(count)));
  ASSIGN_OR_RETURN(int64_t k, ParseInt64(key, stored));
  return static_cast<int>(k);
}

std::string NodeRendezvous::DescribeJoined(int attempt, int64_t count) {
  std::vector<std::string> names;
  for (int64_t s = 0; s < count; ++s) {
    const std::string key = NodeKey(options_.run_id, attempt, s);
    auto v = store_->TryGet(key);
    if (!v.ok()) continue;
    auto info = NodeInfo::Decode(key, *v);
    names.push_back(info.ok() ? info->host : "?");
  }
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<JoinResult> NodeRendezvous::Join(
    int attempt, const NodeInfo& self, const MasterReserver& reserve_master,
    const ProgressCallback& progress) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options_.join_timeout;
  const int min_nodes = options_.min_nodes;
  const int max_nodes = options_.max_nodes;
  const std::string& run_id = options_.run_id;
  const std::string closed_key = ClosedKey(run_id, attempt);
  const std::string count_key = JoinCountKey(run_id, attempt);
  auto late = [&](int64_t k) -> JoinResult {
    LateArrival l;
    l.attempt = attempt;
    l.run_id = run_id;
    l.closed_with = static_cast<int>(k);
    return l;
  };

  // A closed attempt is not worth a slot.
  if (auto closed = store_->TryGet(closed_key); closed.ok()) {
    ASSIGN_OR_RETURN(int64_t k, ParseInt64(closed_key, *closed));
    return late(k);
  }
  ASSIGN_OR_RETURN(int64_t after_add, store_->Add(count_key, 1));
  const int slot = static_cast<int>(after_add - 1);
  if (slot >= max_nodes) return late(max_nodes);
  RETURN_IF_ERROR(store_->Set(NodeKey(run_id, attempt, slot), self.Encode()));
  RETURN_IF_ERROR(Heartbeat(attempt, slot, 0, HeartbeatState::kRun));
  RETURN_IF_ERROR(
      store_->Set(AttemptCounterKey(run_id), absl::StrCat(attempt)));

  // Wait for the attempt to close: at max_nodes at once, or last_call after
  // min_nodes.
  absl::Time last_call_end = absl::InfiniteFuture();
  absl::Time next_progress = start;
  int64_t reported = -1;
  int k = -1;
  while (true) {
    ASSIGN_OR_RETURN(int64_t count, store_->Add(count_key, 0));
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
    if (auto closed = store_->TryGet(closed_key); closed.ok()) {
      ASSIGN_OR_RETURN(int64_t kk, ParseInt64(closed_key, *closed));
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
        store_->Wait({NodeKey(run_id, attempt, static_cast<int>(count))},
                     std::max(Remaining(wake), absl::Milliseconds(1)));
    if (!w.ok() && !absl::IsDeadlineExceeded(w)) return w;
  }
  if (slot >= k) return late(k);

  std::vector<std::string> keys;
  for (int s = 0; s < k; ++s) keys.push_back(NodeKey(run_id, attempt, s));
  ASSIGN_OR_RETURN(
      std::vector<std::string> records,
      store_->MultiGet(keys, std::max(Remaining(deadline), absl::Seconds(1))));
  std::vector<NodeInfo> joined;
  for (int s = 0; s < k; ++s) {
    ASSIGN_OR_RETURN(NodeInfo info, NodeInfo::Decode(keys[s], records[s]));
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

absl::StatusOr<AttemptEnd> NodeRendezvous::ReportFailure(
    int attempt, AttemptEnd::Kind kind, int exit_code,
    const std::string& reason) {
  AttemptEnd end;
  end.kind = kind;
  end.exit_code = exit_code;
  end.reason = reason;
  const std::string key = EndKey(options_.run_id, attempt);
  ASSIGN_OR_RETURN(std::string stored,
                   store_->CompareSet(key, "", end.Encode()));
  return AttemptEnd::Decode(key, stored);
}

absl::Status NodeRendezvous::ReportDone(int attempt, int num_nodes) {
  ASSIGN_OR_RETURN(int64_t n,
                   store_->Add(ExitBarrierKey(options_.run_id, attempt), 1));
  if (n >= num_nodes) {
    AttemptEnd ok;
    ok.kind = AttemptEnd::Kind::kOk;
    return store_->CompareSet(EndKey(options_.run_id, attempt), "", ok.Encode())
        .status();
  }
  return absl::OkStatus();
}

absl::StatusOr<AttemptEnd> NodeRendezvous::WaitForEnd(int attempt,
                                                      absl::Duration timeout) {
  const std::string key = EndKey(options_.run_id, attempt);
  ASSIGN_OR_RETURN(std::string v, store_->Get(key, timeout));
  return AttemptEnd::Decode(key, v);
}

absl::StatusOr<AttemptEnd> NodeRendezvous::TryGetEnd(int attempt) {
  const std::string key = EndKey(options_.run_id, attempt);
  ASSIGN_OR_RETURN(std::string v, store_->TryGet(key));
  return AttemptEnd::Decode(key, v);
}

absl::Status NodeRendezvous::Heartbeat(int attempt, int slot, int64_t seq,
                                       HeartbeatState state) {
  HeartbeatRecord hb;
  hb.seq = seq;
  hb.unix_ms = absl::ToUnixMillis(absl::Now());
  hb.state = state;
  return store_->Set(HeartbeatKey(options_.run_id, attempt, slot), hb.Encode());
}

absl::StatusOr<std::vector<std::string>> NodeRendezvous::ReadHeartbeats(
    int attempt, const std::vector<int>& slots) {
  std::vector<std::string> out;
  out.reserve(slots.size());
  for (int s : slots) {
    auto v = store_->TryGet(HeartbeatKey(options_.run_id, attempt, s));
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
  return store_->Add(LateKey(options_.run_id, attempt), 1);
}

absl::StatusOr<int64_t> NodeRendezvous::LateCount(int attempt) {
  return store_->Add(LateKey(options_.run_id, attempt), 0);
}

}  // namespace tplaunch
