#include "launcher/topology/job_leave.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "common/key_layout.h"

namespace tplaunch {
namespace {

// This launcher's member entry of `closed`: the member whose NodeInfo names
// this host, address and pid.
absl::StatusOr<std::optional<ClosedRecord::Member>> FindSelf(
    Store& store, const LeaveOptions& o, int attempt,
    const ClosedRecord& closed) {
  for (const ClosedRecord::Member& m : closed.members) {
    const std::string key = NodeKey(o.run_id, attempt, m.slot);
    absl::StatusOr<std::string> v = store.TryGet(key);
    if (absl::IsNotFound(v.status())) continue;
    if (!v.ok()) return v.status();
    absl::StatusOr<NodeInfo> info = NodeInfo::Decode(key, *v);
    if (!info.ok() || info->id != m.id) continue;
    if (info->pid == o.pid && info->addr == o.addr && info->host == o.host) {
      return std::optional<ClosedRecord::Member>(m);
    }
  }
  return std::optional<ClosedRecord::Member>();
}

bool IsUnreachable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
}

}  // namespace

absl::StatusOr<std::optional<FinalAttempt>> FindFinalAttempt(
    Store& store, const LeaveOptions& o) {
  int counter = 0;
  {
    absl::StatusOr<std::string> v = store.TryGet(AttemptCounterKey(o.run_id));
    if (!v.ok() && !absl::IsNotFound(v.status())) return v.status();
    if (v.ok() && !absl::SimpleAtoi(*v, &counter)) counter = 0;
  }
  std::optional<FinalAttempt> highest;
  for (int a = counter; a >= std::max(0, counter - 1); --a) {
    const std::string key = ClosedKey(o.run_id, a);
    absl::StatusOr<std::string> v = store.TryGet(key);
    if (absl::IsNotFound(v.status())) continue;
    if (!v.ok()) return v.status();
    absl::StatusOr<ClosedRecord> closed = ClosedRecord::Decode(key, *v);
    if (!closed.ok()) continue;
    FinalAttempt f;
    f.attempt = a;
    f.closed = *std::move(closed);
    absl::StatusOr<std::optional<ClosedRecord::Member>> self =
        FindSelf(store, o, a, f.closed);
    if (!self.ok()) return self.status();
    f.self = *self;
    absl::StatusOr<std::string> end = store.TryGet(EndKey(o.run_id, a));
    if (!end.ok() && !absl::IsNotFound(end.status())) return end.status();
    f.ended = end.ok();
    if (f.self) return std::optional<FinalAttempt>(std::move(f));
    if (!highest) highest = std::move(f);
  }
  return highest;
}

absl::Status ReportLeft(Store& store, const LeaveOptions& o,
                        const FinalAttempt& final) {
  if (!final.self || !final.ended) return absl::OkStatus();
  const std::string key =
      HeartbeatKey(o.run_id, final.attempt, final.self->slot);
  HeartbeatRecord hb;
  // After the last beat of this node's monitor, so the value changes.
  hb.seq = int64_t{1} << 40;
  if (absl::StatusOr<std::string> v = store.TryGet(key); v.ok()) {
    if (auto last = HeartbeatRecord::Decode(key, *v); last.ok()) {
      hb.seq = last->seq + 1;
    }
  }
  hb.unix_ms = absl::ToUnixMillis(absl::Now());
  hb.state = HeartbeatState::kLeft;
  hb.node_id = final.self->id;
  return store.Set(key, hb.Encode());
}

MemberWatch::MemberWatch(std::vector<ClosedRecord::Member> members,
                         absl::Time start, absl::Duration silence)
    : silence_(silence) {
  for (ClosedRecord::Member& m : members) {
    State s;
    s.id = std::move(m.id);
    s.last_change = start;
    members_[m.slot] = std::move(s);
  }
}

void MemberWatch::Observe(int slot, const std::string& heartbeat, bool gone,
                          absl::Time now) {
  auto it = members_.find(slot);
  if (it == members_.end()) return;
  State& s = it->second;
  if (gone) s.left = true;
  if (heartbeat != s.last_value) {
    s.last_value = heartbeat;
    s.last_change = now;
    absl::StatusOr<HeartbeatRecord> hb =
        HeartbeatRecord::Decode("heartbeat", heartbeat);
    if (hb.ok() && hb->state == HeartbeatState::kLeft && hb->node_id == s.id) {
      s.left = true;
    }
  }
}

std::vector<int> MemberWatch::Remaining(absl::Time now) const {
  std::vector<int> out;
  for (const auto& [slot, s] : members_) {
    if (s.left || now - s.last_change >= silence_) continue;
    out.push_back(slot);
  }
  return out;
}

absl::StatusOr<LingerOutcome> WaitForMembersToLeave(Store& store,
                                                    const LeaveOptions& o,
                                                    const FinalAttempt& final) {
  std::vector<ClosedRecord::Member> others;
  for (const ClosedRecord::Member& m : final.closed.members) {
    if (final.self && m.slot == final.self->slot) continue;
    others.push_back(m);
  }
  LingerOutcome out;
  out.waited_for = static_cast<int>(others.size());
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + o.linger_timeout;
  MemberWatch watch(others, start, o.heartbeat_timeout);
  while (true) {
    const absl::Time now = absl::Now();
    for (const ClosedRecord::Member& m : others) {
      absl::StatusOr<std::string> hb =
          store.TryGet(HeartbeatKey(o.run_id, final.attempt, m.slot));
      absl::StatusOr<std::string> gone =
          store.TryGet(GoneKey(o.run_id, final.attempt, m.slot));
      for (const absl::Status& s : {hb.status(), gone.status()}) {
        if (!s.ok() && !absl::IsNotFound(s) && !IsUnreachable(s)) return s;
      }
      watch.Observe(m.slot, hb.ok() ? *hb : std::string(), gone.ok(), now);
    }
    out.still_there = watch.Remaining(now);
    out.waited = now - start;
    if (out.still_there.empty() || now >= deadline) return out;
    absl::SleepFor(std::min(o.poll_interval, deadline - now));
  }
}

}  // namespace tplaunch
