#include "rendezvous/http/job_view.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/key_layout.h"
#include "common/node_ranks.h"
#include "common/records.h"

namespace tplaunch {
namespace {

using rendezvous::v1::LiveAttemptEnd;
using rendezvous::v1::LiveJob;
using rendezvous::v1::LiveJobList;
using rendezvous::v1::LiveNode;

using Values = absl::flat_hash_map<std::string, std::string>;

const std::string* Find(const Values& values, const std::string& key) {
  auto it = values.find(key);
  return it == values.end() ? nullptr : &it->second;
}

std::string EndKindName(AttemptEnd::Kind kind) {
  switch (kind) {
    case AttemptEnd::Kind::kOk:
      return "ok";
    case AttemptEnd::Kind::kFailed:
      return "failed";
    case AttemptEnd::Kind::kStopped:
      return "stopped";
    case AttemptEnd::Kind::kMembershipChange:
      return "membership_change";
  }
  return "unknown";
}

std::optional<LiveAttemptEnd> ReadEnd(const KvTable& table,
                                      const std::string& run_id, int attempt) {
  const std::string key = EndKey(run_id, attempt);
  Values v = table.PeekValues(run_id, {key});
  const std::string* text = Find(v, key);
  if (text == nullptr) return std::nullopt;
  LiveAttemptEnd end;
  end.set_attempt(attempt);
  absl::StatusOr<AttemptEnd> record = AttemptEnd::Decode(key, *text);
  if (!record.ok()) {
    end.set_kind("unreadable");
    end.set_reason(std::string(record.status().message()));
    return end;
  }
  end.set_kind(EndKindName(record->kind));
  end.set_exit_code(record->exit_code);
  end.set_reason(record->reason);
  return end;
}

// The node ranks the launchers will agree on (common/node_ranks.h); -1
// everywhere while the requests conflict.
std::vector<int> NodeRanks(const std::vector<NodeInfo>& nodes) {
  absl::StatusOr<std::vector<int>> ranks = AssignNodeRanks(nodes);
  if (!ranks.ok()) return std::vector<int>(nodes.size(), -1);
  return *std::move(ranks);
}

// ExpectKey's "MIN MAX LAST_CALL_MS"; a value it cannot read leaves 0s.
void ReadExpect(const std::string& text, LiveJob& job) {
  std::vector<absl::string_view> f =
      absl::StrSplit(text, ' ', absl::SkipEmpty());
  int min = 0, max = 0;
  int64_t last_call_ms = 0;
  if (f.size() != 3 || !absl::SimpleAtoi(f[0], &min) ||
      !absl::SimpleAtoi(f[1], &max) || !absl::SimpleAtoi(f[2], &last_call_ms) ||
      min < 1 || max < min || last_call_ms < 0) {
    return;
  }
  job.set_min_nodes(min);
  job.set_max_nodes(max);
  job.set_last_call_s(last_call_ms / 1000.0);
}

// The joining nodes start the last call when they see MIN joined and close
// at MAX or when it runs out (launcher/node_rendezvous.cc): the countdown
// runs from the MIN-th join. -1 when no last call runs.
double LastCallRemaining(const LiveJob& job, std::vector<int64_t> join_ms,
                         absl::Time now) {
  const int min = job.min_nodes();
  const int n = static_cast<int>(join_ms.size());
  if (min < 1 || job.max_nodes() <= min || n < min || n >= job.max_nodes()) {
    return -1;
  }
  std::sort(join_ms.begin(), join_ms.end());
  const double started_s = join_ms[min - 1] / 1000.0;
  return std::max(
      0.0, started_s + job.last_call_s() - absl::ToUnixMillis(now) / 1000.0);
}

void AddNodes(const KvTable& table, const std::string& run_id, int attempt,
              absl::Time now, LiveJob& job) {
  const std::string count_key = JoinCountKey(run_id, attempt);
  const std::string closed_key = ClosedKey(run_id, attempt);
  const std::string master_key = MasterKey(run_id, attempt);
  const std::string expect_key = ExpectKey(run_id, attempt);
  Values head =
      table.PeekValues(run_id, {count_key, closed_key, master_key, expect_key});
  if (const std::string* e = Find(head, expect_key)) ReadExpect(*e, job);
  int64_t count = 0;
  if (const std::string* c = Find(head, count_key)) {
    if (!absl::SimpleAtoi(*c, &count)) count = 0;
  }
  count = std::clamp<int64_t>(count, 0, 100000);  // A view, not a DoS.
  std::optional<ClosedRecord> closed;
  if (const std::string* c = Find(head, closed_key)) {
    if (auto record = ClosedRecord::Decode(closed_key, *c); record.ok()) {
      closed = *std::move(record);
    }
  }
  if (const std::string* m = Find(head, master_key)) {
    if (auto record = MasterRecord::Decode(master_key, *m); record.ok()) {
      job.set_master(record->failure.has_value()
                         ? absl::StrCat("failed: ", *record->failure)
                         : absl::StrCat(record->addr, ":", record->port));
    }
  }
  std::vector<std::string> keys;
  for (int s = 0; s < count; ++s) {
    keys.push_back(NodeKey(run_id, attempt, s));
    keys.push_back(HeartbeatKey(run_id, attempt, s));
    keys.push_back(GoneKey(run_id, attempt, s));
  }
  Values v = table.PeekValues(run_id, keys);
  std::vector<NodeInfo> members;
  std::vector<int64_t> join_ms;  // Of the members, for the last call.
  std::vector<LiveNode> rows;
  int64_t first_join_ms = 0;
  for (int s = 0; s < count; ++s) {
    if (closed.has_value() &&
        std::none_of(
            closed->members.begin(), closed->members.end(),
            [s](const ClosedRecord::Member& m) { return m.slot == s; })) {
      continue;  // Late, not a member of this attempt.
    }
    LiveNode row;
    row.set_slot(s);
    row.set_node_rank(-1);
    row.set_heartbeat_age_s(-1);
    NodeInfo info;
    info.host = "?";
    info.addr = "?";
    info.nproc = 0;
    const std::string node_key = NodeKey(run_id, attempt, s);
    if (const std::string* text = Find(v, node_key)) {
      if (auto record = NodeInfo::Decode(node_key, *text); record.ok()) {
        info = *std::move(record);
      }
    }
    row.set_host(info.host);
    row.set_address(info.addr);
    row.set_nproc(info.nproc);
    row.set_launcher_pid(info.pid);
    if (info.joined_unix_ms > 0 &&
        (first_join_ms == 0 || info.joined_unix_ms < first_join_ms)) {
      first_join_ms = info.joined_unix_ms;
    }
    const std::string hb_key = HeartbeatKey(run_id, attempt, s);
    if (const std::string* text = Find(v, hb_key)) {
      if (auto hb = HeartbeatRecord::Decode(hb_key, *text); hb.ok()) {
        row.set_heartbeat_age_s(
            std::max(0.0, (absl::ToUnixMillis(now) - hb->unix_ms) / 1000.0));
        row.set_heartbeat_state(std::string(HeartbeatStateName(hb->state)));
      }
    }
    const std::string gone_key = GoneKey(run_id, attempt, s);
    if (const std::string* text = Find(v, gone_key)) {
      row.set_gone(true);
      if (auto gone = GoneRecord::Decode(gone_key, *text); gone.ok()) {
        row.set_gone_reason(gone->reason);
      }
    }
    if (!row.gone()) {
      members.push_back(info);
      if (info.joined_unix_ms > 0) join_ms.push_back(info.joined_unix_ms);
    }
    rows.push_back(std::move(row));
  }
  // Ranks over the nodes that still count, in slot order.
  const std::vector<int> ranks = NodeRanks(members);
  std::vector<int> nproc_by_rank(members.size(), 0);
  for (size_t i = 0; i < members.size(); ++i) {
    if (ranks[i] >= 0) nproc_by_rank[ranks[i]] = members[i].nproc;
  }
  size_t member = 0;
  for (LiveNode& row : rows) {
    if (!row.gone()) {
      const int rank = ranks[member++];
      row.set_node_rank(rank);
      if (rank >= 0) {
        int first = 0;
        for (int r = 0; r < rank; ++r) first += nproc_by_rank[r];
        row.set_first_rank(first);
        row.set_last_rank(first + row.nproc() - 1);
      }
    }
    *job.add_nodes() = std::move(row);
  }
  job.set_nodes_joined(static_cast<int>(members.size()));
  if (closed.has_value()) {
    job.set_nodes_expected(static_cast<int>(closed->members.size()));
  }
  job.set_last_call_remaining_s(-1);
  if (!closed.has_value()) {
    job.set_last_call_remaining_s(
        LastCallRemaining(job, std::move(join_ms), now));
  }
  if (first_join_ms > 0) {
    job.set_age_s(
        std::max(0.0, (absl::ToUnixMillis(now) - first_join_ms) / 1000.0));
  }
}

// A joined node waits for the next slot's join record: a call parked on
// NodeKey(slot) of a slot no node holds names a node that has not joined.
void AddMissingSlots(const KvJobView& view, const std::string& run_id,
                     int attempt, LiveJob& job) {
  const std::string prefix = NodeKey(run_id, attempt, 0);
  const absl::string_view node_prefix =
      absl::string_view(prefix).substr(0, prefix.size() - 1);
  for (const KvParkedKey& parked : view.parked) {
    absl::string_view rest = parked.key;
    int slot = 0;
    if (!absl::ConsumePrefix(&rest, node_prefix) ||
        !absl::SimpleAtoi(rest, &slot) || slot < 0) {
      continue;
    }
    const bool held =
        std::any_of(job.nodes().begin(), job.nodes().end(),
                    [slot](const LiveNode& n) { return n.slot() == slot; });
    if (!held) job.add_missing_slots(slot);
  }
}

// "ranks 0-3, 7" for the "rank N" labels, then every other label once
// (with "xN" when several waiters share it), in label order.
std::string Who(const std::vector<std::string>& callers) {
  std::vector<int> ranks;
  std::vector<std::pair<std::string, int>> others;
  for (const std::string& c : callers) {
    absl::string_view rest = c;
    int rank = 0;
    if (absl::ConsumePrefix(&rest, "rank ") && absl::SimpleAtoi(rest, &rank) &&
        rank >= 0) {
      ranks.push_back(rank);
    } else if (!others.empty() && others.back().first == c) {
      ++others.back().second;  // `callers` is sorted.
    } else {
      others.emplace_back(c, 1);
    }
  }
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  std::vector<std::string> parts;
  for (size_t i = 0; i < ranks.size();) {
    size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    parts.push_back(j == i ? absl::StrCat(ranks[i])
                           : absl::StrCat(ranks[i], "-", ranks[j]));
    i = j + 1;
  }
  std::string who;
  if (!parts.empty()) {
    who = absl::StrCat(ranks.size() == 1 ? "rank " : "ranks ",
                       absl::StrJoin(parts, ", "));
  }
  for (const auto& [label, n] : others) {
    absl::StrAppend(&who, who.empty() ? "" : ", ", label,
                    n > 1 ? absl::StrCat(" x", n) : "");
  }
  return who;
}

LiveJob Build(const KvTable& table, const KvJobView& view, absl::Time now) {
  LiveJob job;
  const std::string& run_id = view.name;
  job.set_run_id(run_id);
  job.set_keys(view.keys);
  job.set_bytes(view.value_bytes);
  job.set_idle_s(absl::ToDoubleSeconds(now - view.last_activity));
  for (const KvParkedKey& parked : view.parked) {
    auto* row = job.add_parked();
    // Key names are shown (C-escaped: they may hold any byte); values never.
    row->set_key(absl::CHexEscape(parked.key));
    row->set_waiters(parked.waiters);
    row->set_oldest_wait_s(
        std::max(0.0, absl::ToDoubleSeconds(now - parked.oldest_parked)));
    job.set_parked_calls(job.parked_calls() + parked.waiters);
    row->set_labelled(static_cast<int64_t>(parked.callers.size()));
    row->set_who(absl::CHexEscape(Who(parked.callers)));
  }
  const std::string attempt_key = AttemptCounterKey(run_id);
  Values head = table.PeekValues(run_id, {attempt_key});
  int attempt = 0;
  const std::string* attempt_text = Find(head, attempt_key);
  if (attempt_text == nullptr || !absl::SimpleAtoi(*attempt_text, &attempt) ||
      attempt < 0) {
    job.set_state("store_only");
    return job;
  }
  job.set_attempt(attempt);
  AddNodes(table, run_id, attempt, now, job);
  AddMissingSlots(view, run_id, attempt, job);
  for (int a = 0; a < attempt; ++a) {
    if (std::optional<LiveAttemptEnd> end = ReadEnd(table, run_id, a)) {
      if (end->kind() != "ok") job.set_restarts(job.restarts() + 1);
      *job.add_history() = *std::move(end);
    }
  }
  if (std::optional<LiveAttemptEnd> end = ReadEnd(table, run_id, attempt)) {
    job.set_state(end->kind() == "ok" ? "ended_ok" : "ended_failed");
    if (end->kind() != "ok") *job.mutable_root_cause() = *end;
    *job.add_history() = *std::move(end);
  } else {
    job.set_state(job.nodes_expected() > 0 ? "running" : "waiting");
  }
  return job;
}

}  // namespace

LiveJobList BuildJobList(const KvTable& table, absl::Time now) {
  LiveJobList list;
  for (const KvJobView& view : table.InspectJobs()) {
    *list.add_jobs() = Build(table, view, now);
  }
  return list;
}

std::optional<LiveJob> BuildJob(const KvTable& table, const std::string& run_id,
                                absl::Time now) {
  for (const KvJobView& view : table.InspectJobs()) {
    if (view.name == run_id) return Build(table, view, now);
  }
  return std::nullopt;
}

}  // namespace tplaunch
