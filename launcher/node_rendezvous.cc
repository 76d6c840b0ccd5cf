#include "launcher/node_rendezvous.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
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
                      "' already closed with ", closed_with, " node(s)",
                      detail.empty() ? "" : ": ", detail);
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

namespace {

std::string FormatClock(absl::Time t) {
  return absl::FormatTime("%H:%M:%E3S %Z", t, absl::LocalTimeZone());
}

std::string Ago(absl::Time now, absl::Time t) {
  return absl::FormatDuration(absl::Trunc(now - t, absl::Milliseconds(100)));
}

}  // namespace

// What one joining node has seen of every slot of the attempt: whether it
// counts, and since when it has been silent. Silence is measured on this
// node's clock from the last change it saw; a slot seen for the first time is
// dated by its record's own time stamp (the writer's clock), so a slot that
// died long before this node arrived does not count at once.
class NodeRendezvous::SlotWatch {
 public:
  struct Slot {
    bool present = false;  // Its NodeInfo decodes.
    bool gone = false;     // Withdrawn or reclaimed.
    NodeInfo info;
    std::string hb_value;
    absl::Time last_change = absl::InfinitePast();
    // Seen alive: its heartbeat changed while this node watched (within about
    // one heartbeat interval for a live node). Only such slots are closed in,
    // so a joiner that died a moment ago (its heartbeat still fresh) is never
    // made a member: the close waits for that one interval instead.
    bool confirmed = false;
  };
  // A heartbeat written by a node of another world: the store lost the keys
  // of an attempt that runs (its nodes heartbeat in state run/done/left, or
  // under an id that is not the slot's node's).
  struct Foreign {
    int slot = 0;
    std::string what;
  };

  std::vector<Slot> slots;
  std::optional<Foreign> foreign;
  // From the last scan:
  std::vector<ClosedRecord::Member> live;       // Joined and not stale.
  std::vector<ClosedRecord::Member> confirmed;  // Of those, seen alive.
  int silent_slot = -1;  // The counted slot silent the longest, or -1.
  int first_unseen = 0;  // The first slot whose record is not there yet.
};

absl::StatusOr<bool> NodeRendezvous::ScanSlots(int attempt,
                                               const NodeInfo& self, int& slot,
                                               const ProgressCallback& progress,
                                               SlotWatch& watch) {
  const std::string& run_id = options_.run_id;
  const absl::Time now = absl::Now();
  ASSIGN_OR_RETURN(int64_t count,
                   store_->Add(JoinCountKey(run_id, attempt), 0));
  if (count <= slot) {
    // The counter never falls below a slot taken from it unless the store
    // lost the attempt's keys (a daemon restart without --state-dir): join
    // the emptied attempt afresh rather than wait for slots that are gone.
    const int lost = slot;
    ASSIGN_OR_RETURN(slot, TakeSlot(attempt, self));
    watch = SlotWatch();
    Notice(absl::StrCat("the rendezvous store lost the keys of attempt ",
                        attempt,
                        " while this node joined it (a daemon "
                        "restart without --state-dir?); its slot ",
                        lost, " is gone: joined again as slot ", slot));
    return true;
  }
  watch.slots.resize(std::max<size_t>(watch.slots.size(), count));
  watch.foreign.reset();
  watch.live.clear();
  watch.confirmed.clear();
  watch.silent_slot = -1;
  watch.first_unseen = static_cast<int>(count);
  for (int s = 0; s < count; ++s) {
    SlotWatch::Slot& w = watch.slots[s];
    if (!w.gone) {
      auto gone = store_->TryGet(GoneKey(run_id, attempt, s));
      if (gone.ok()) {
        w.gone = true;
        if (s == slot) {
          {
            absl::MutexLock lock(&mu_);
            if (withdrawn_) {  // This node's own withdrawal.
              return absl::CancelledError(absl::StrCat(
                  "this node withdrew from the rendezvous: ", *withdrawn_));
            }
          }
          // A peer reclaimed this node's slot (it was frozen past the
          // heartbeat timeout): take a new one.
          ASSIGN_OR_RETURN(slot, TakeSlot(attempt, self));
          Notice(absl::StrCat("this node's rendezvous slot ", s,
                              " was reclaimed; joined again as slot ", slot));
          return true;
        }
        // Say once why a slot stopped counting (a node that left, or one a
        // peer reclaimed), so the wait that follows is not a mystery.
        auto record = GoneRecord::Decode(GoneKey(run_id, attempt, s), *gone);
        if (progress && record.ok()) {
          progress(absl::StrCat("slot ", s,
                                w.present
                                    ? absl::StrCat(" (", w.info.Label(), ")")
                                    : std::string(),
                                " no longer counts: ", record->reason));
        }
      } else if (!absl::IsNotFound(gone.status())) {
        return gone.status();
      }
    }
    if (w.gone) continue;
    if (!w.present) {
      const std::string key = NodeKey(run_id, attempt, s);
      auto v = store_->TryGet(key);
      if (!v.ok()) {  // Taken, record not yet written.
        watch.first_unseen = std::min(watch.first_unseen, s);
        continue;
      }
      auto info = NodeInfo::Decode(key, *v);
      if (!info.ok()) continue;
      w.present = true;
      w.info = *std::move(info);
    }
    auto hb = store_->TryGet(HeartbeatKey(run_id, attempt, s));
    if (!hb.ok() && !absl::IsNotFound(hb.status())) return hb.status();
    const std::string value = hb.ok() ? *hb : "";
    auto record =
        HeartbeatRecord::Decode(HeartbeatKey(run_id, attempt, s), value);
    if (value != w.hb_value || w.last_change == absl::InfinitePast()) {
      absl::Time changed = now;
      if (w.last_change != absl::InfinitePast()) w.confirmed = true;
      if (w.last_change == absl::InfinitePast()) {
        changed = std::min(
            now, record.ok() ? absl::FromUnixMillis(record->unix_ms)
                             : absl::FromUnixMillis(w.info.joined_unix_ms));
      }
      w.hb_value = value;
      w.last_change = changed;
    }
    const bool stale = now - w.last_change > options_.heartbeat_timeout;
    if (record.ok() && !stale &&
        (record->state != HeartbeatState::kJoin ||
         record->node_id != w.info.id)) {
      watch.foreign = SlotWatch::Foreign{
          s, absl::StrCat("slot ", s, " heartbeats in state '",
                          HeartbeatStateName(record->state), "' as node ",
                          record->node_id)};
    }
    if (s == slot) {
      if (w.info.id != self.id) {
        watch.foreign = SlotWatch::Foreign{
            s, absl::StrCat("this node's slot ", s, " was overwritten by node ",
                            w.info.id)};
      }
      watch.live.push_back({s, self.id});
      watch.confirmed.push_back({s, self.id});
      continue;
    }
    if (stale) {
      GoneRecord gone;
      gone.node_id = w.info.id;
      gone.reason =
          absl::StrCat("reclaimed by ", self.Label(), ": no heartbeat since ",
                       FormatClock(w.last_change), " (",
                       Ago(now, w.last_change), ", --heartbeat-timeout ",
                       absl::FormatDuration(options_.heartbeat_timeout), ")");
      RETURN_IF_ERROR(
          store_->CompareSet(GoneKey(run_id, attempt, s), "", gone.Encode())
              .status());
      w.gone = true;
      const std::string msg =
          absl::StrCat("slot ", s, " (", w.info.Label(), ", pid ", w.info.pid,
                       ") no longer counts: ", gone.reason);
      Notice(msg);
      if (progress) progress(msg);
      continue;
    }
    if (now - w.last_change >= 2 * options_.heartbeat_interval &&
        (watch.silent_slot < 0 ||
         w.last_change < watch.slots[watch.silent_slot].last_change)) {
      watch.silent_slot = s;
    }
    watch.live.push_back({s, w.info.id});
    if (w.confirmed) watch.confirmed.push_back({s, w.info.id});
  }
  return false;
}

absl::StatusOr<int> NodeRendezvous::TakeSlot(int attempt,
                                             const NodeInfo& self) {
  const std::string& run_id = options_.run_id;
  ASSIGN_OR_RETURN(int64_t after_add,
                   store_->Add(JoinCountKey(run_id, attempt), 1));
  const int slot = static_cast<int>(after_add - 1);
  {
    absl::MutexLock lock(&mu_);
    pending_ = Pending{attempt, slot, self.id};
  }
  RETURN_IF_ERROR(store_->Set(NodeKey(run_id, attempt, slot), self.Encode()));
  RETURN_IF_ERROR(Heartbeat(attempt, slot, 0, HeartbeatState::kJoin, self.id));
  RETURN_IF_ERROR(
      store_->Set(AttemptCounterKey(run_id), absl::StrCat(attempt)));
  return slot;
}

absl::Status NodeRendezvous::Withdraw(int attempt, int slot,
                                      const std::string& id,
                                      const std::string& reason) {
  GoneRecord gone;
  gone.node_id = id;
  gone.reason = absl::StrCat("withdrew: ", reason);
  RETURN_IF_ERROR(store_
                      ->CompareSet(GoneKey(options_.run_id, attempt, slot), "",
                                   gone.Encode())
                      .status());
  // Too late to withdraw when the attempt closed with this node: end it, so
  // the others stop at once instead of after --heartbeat-timeout.
  auto closed = store_->TryGet(ClosedKey(options_.run_id, attempt));
  if (!closed.ok()) return absl::OkStatus();
  auto record =
      ClosedRecord::Decode(ClosedKey(options_.run_id, attempt), *closed);
  if (record.ok() && record->Contains(slot, id)) {
    return ReportFailure(attempt, AttemptEnd::Kind::kFailed, 1,
                         absl::StrCat("the node in slot ", slot,
                                      " left during the rendezvous: ", reason))
        .status();
  }
  return absl::OkStatus();
}

void NodeRendezvous::WithdrawPendingJoin(const std::string& reason) {
  std::optional<Pending> p;
  {
    absl::MutexLock lock(&mu_);
    p = pending_;
    pending_.reset();
    if (p) withdrawn_ = reason;
  }
  if (p) Withdraw(p->attempt, p->slot, p->id, reason).IgnoreError();
}

void NodeRendezvous::Notice(const std::string& message) const {
  if (options_.on_notice) options_.on_notice(message);
}

absl::StatusOr<ClosedRecord> NodeRendezvous::WaitForClose(
    int attempt, const NodeInfo& self, int& slot, bool& saw_foreign,
    const ProgressCallback& progress, absl::Time start, absl::Time deadline) {
  const int min_nodes = options_.min_nodes;
  const int max_nodes = options_.max_nodes;
  const std::string& run_id = options_.run_id;
  const std::string closed_key = ClosedKey(run_id, attempt);
  SlotWatch watch;
  absl::Time last_call_end = absl::InfiniteFuture();
  absl::Time next_progress = start;
  absl::Time next_beat = start + options_.heartbeat_interval;
  int64_t seq = 1;
  size_t reported = static_cast<size_t>(-1);
  absl::Status timeout_error;  // What the last scan would report at deadline.
  auto read_closed = [&]() -> absl::StatusOr<std::optional<ClosedRecord>> {
    auto closed = store_->TryGet(closed_key);
    if (absl::IsNotFound(closed.status())) return std::nullopt;
    if (!closed.ok()) return closed.status();
    ASSIGN_OR_RETURN(ClosedRecord c, ClosedRecord::Decode(closed_key, *closed));
    return c;
  };
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (withdrawn_) {
        return absl::CancelledError(absl::StrCat(
            "this node withdrew from the rendezvous: ", *withdrawn_));
      }
    }
    absl::Time now = absl::Now();
    // Report what the last scan saw: at the deadline the others time out
    // too and withdraw, which would hide them from this message.
    if (now >= deadline && !timeout_error.ok()) return timeout_error;
    if (now >= next_beat) {
      RETURN_IF_ERROR(
          Heartbeat(attempt, slot, seq++, HeartbeatState::kJoin, self.id));
      next_beat = now + options_.heartbeat_interval;
    }
    ASSIGN_OR_RETURN(bool reslotted,
                     ScanSlots(attempt, self, slot, progress, watch));
    const std::vector<ClosedRecord::Member>& live = watch.live;
    const std::vector<ClosedRecord::Member>& confirmed = watch.confirmed;
    const int silent_slot = watch.silent_slot;
    const SlotWatch::Slot* silent =
        silent_slot < 0 ? nullptr : &watch.slots[silent_slot];
    if (reslotted) continue;  // Scan again, with the new slot.
    if (watch.foreign) saw_foreign = true;
    const int64_t n = static_cast<int64_t>(live.size());
    const int64_t alive = static_cast<int64_t>(confirmed.size());
    auto propose = [&](size_t k) -> absl::StatusOr<ClosedRecord> {
      ClosedRecord mine;
      mine.members.assign(confirmed.begin(), confirmed.begin() + k);
      ASSIGN_OR_RETURN(std::string stored,
                       store_->CompareSet(closed_key, "", mine.Encode()));
      return ClosedRecord::Decode(closed_key, stored);
    };
    // Closed already (by a peer, or re-asserted by a running attempt)?
    // Read after the heartbeats: a member's monitor writes "run" only after
    // the close, so a "run" heartbeat without a closed record is another
    // world's.
    ASSIGN_OR_RETURN(std::optional<ClosedRecord> closed, read_closed());
    if (closed) return *std::move(closed);
    now = absl::Now();
    if (!watch.foreign) {
      if (alive >= max_nodes) return propose(max_nodes);
      if (n >= min_nodes) {
        if (last_call_end == absl::InfiniteFuture())
          last_call_end = now + options_.last_call;
        // At the end of the last call every counted slot must have been seen
        // alive (or gone stale): a joiner that died a moment ago is left out
        // within --heartbeat-timeout, never closed in.
        if (now >= last_call_end && alive >= min_nodes && alive == n) {
          return propose(alive);
        }
      } else {
        last_call_end = absl::InfiniteFuture();
      }
    }
    std::string names;
    for (const auto& m : live) {
      absl::StrAppend(&names, names.empty() ? "" : ", ",
                      watch.slots[m.slot].info.host);
    }
    std::string waiting_on;
    if (silent != nullptr) {
      waiting_on = absl::StrCat(
          "; waiting on slot ", silent_slot, " (", silent->info.Label(),
          ", pid ", silent->info.pid, "): no heartbeat since ",
          FormatClock(silent->last_change), " (", Ago(now, silent->last_change),
          " ago; it stops counting after --heartbeat-timeout ",
          absl::FormatDuration(options_.heartbeat_timeout), ")");
    }
    if (watch.foreign) {
      absl::StrAppend(
          &waiting_on, "; not closing: ", watch.foreign->what,
          ": nodes of this run id are running an attempt whose keys the "
          "rendezvous store lost (a daemon restart without --state-dir?); "
          "waiting for them to re-assert it");
    }
    timeout_error = absl::DeadlineExceededError(absl::StrCat(
        "rendezvous of run '", run_id, "' (attempt ", attempt,
        ") timed out after ", absl::FormatDuration(options_.join_timeout),
        " (waiting since ", FormatClock(start), "): ", n, " of ",
        min_nodes == max_nodes ? absl::StrCat(max_nodes)
                               : absl::StrCat(min_nodes, "..", max_nodes),
        " nodes joined (", names, "), ", std::max<int64_t>(min_nodes - n, 1),
        " missing; start tplaunch with the same --rdzv-endpoint and "
        "--rdzv-id on "
        "the missing node(s) or raise --rdzv-timeout",
        waiting_on));
    if (progress && (live.size() != reported || now >= next_progress)) {
      std::string msg;
      if (n < min_nodes) {
        const int64_t more = min_nodes - n;
        msg = absl::StrCat("waiting for ", more, " more node",
                           more == 1 ? "" : "s", " (", n, "/", min_nodes,
                           " joined: ", names, ")");
      } else if (watch.foreign) {
        msg = absl::StrCat(n, "/", max_nodes, " nodes joined (", names, ")");
      } else if (n >= max_nodes || now >= last_call_end) {
        msg = absl::StrCat(n, "/", max_nodes, " nodes joined (", names,
                           "); closing once each is seen alive (", n - alive,
                           " not yet)");
      } else {
        msg = absl::StrCat(n, "/", max_nodes, " nodes joined (", names,
                           "); closing in ",
                           absl::FormatDuration(absl::Trunc(last_call_end - now,
                                                            absl::Seconds(1))),
                           " unless ", max_nodes - n, " more join");
      }
      progress(msg + waiting_on);
      reported = live.size();
      next_progress = now + options_.progress_interval;
    }
    // Sleep until the next node joins (its record appears), or a time-based
    // step (heartbeat, last call, progress, deadline).
    const absl::Time wake =
        std::min({deadline, last_call_end, next_progress, next_beat});
    absl::Status w =
        store_->Wait({NodeKey(run_id, attempt, watch.first_unseen)},
                     std::max(Remaining(wake), absl::Milliseconds(1)));
    if (!w.ok() && !absl::IsDeadlineExceeded(w)) return w;
  }
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
                                       HeartbeatState state,
                                       const std::string& node_id) {
  HeartbeatRecord hb;
  hb.seq = seq;
  hb.node_id = node_id;
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
