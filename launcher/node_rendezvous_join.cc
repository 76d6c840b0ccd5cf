// NodeRendezvous::Join: one node's way into an attempt (take a slot, wait for
// the attempt to close, get its assignment), riding through store outages
// within --rdzv-timeout. The slot scan and the wait are node_rendezvous.cc's,
// the assignment node_rendezvous_assign.cc's.
// docs/reliability.md#rendezvous-stale-joins-and-restarts
#include <optional>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/key_layout.h"
#include "common/status_macros.h"
#include "launcher/node_rendezvous.h"

namespace tplaunch {
namespace {

// A random NodeInfo::id: 16 hex digits.
std::string NewNodeId() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return absl::StrCat(absl::Hex(v, absl::kZeroPad16));
}

}  // namespace

absl::StatusOr<JoinResult> NodeRendezvous::Join(
    int attempt, const NodeInfo& self_in, const MasterReserver& reserve_master,
    const ProgressCallback& progress) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options_.join_timeout;
  const std::string& run_id = options_.run_id;
  const std::string closed_key = ClosedKey(run_id, attempt);
  auto late = [&](const ClosedRecord& c, std::string detail) -> JoinResult {
    LateArrival l;
    l.attempt = attempt;
    l.run_id = run_id;
    l.closed_with = static_cast<int>(c.members.size());
    l.detail = std::move(detail);
    return l;
  };

  // A closed attempt is not worth a slot.
  if (auto closed = store_->TryGet(closed_key); closed.ok()) {
    ASSIGN_OR_RETURN(ClosedRecord c, ClosedRecord::Decode(closed_key, *closed));
    return late(c, "");
  }
  {
    absl::MutexLock lock(&mu_);
    withdrawn_.reset();
  }
  NodeInfo self = self_in;
  self.id = NewNodeId();
  self.joined_unix_ms = absl::ToUnixMillis(start);
  auto leave = [&](const absl::Status& why) {
    std::optional<Pending> p;
    {
      absl::MutexLock lock(&mu_);
      p = pending_;
      pending_.reset();
    }
    if (p && !why.ok()) {
      Withdraw(p->attempt, p->slot, p->id,
               absl::StrCat("its join failed: ", why.message()))
          .IgnoreError();
    }
    return why;
  };
  // A store outage (a daemon restarting, a network blip) is ridden through
  // within the deadline: each try's calls wait for the channel themselves.
  bool said = false;
  auto retry = [&](const absl::Status& failed) {
    if (!absl::IsUnavailable(failed) || absl::Now() >= deadline) return false;
    if (!said) {
      Notice(absl::StrCat(
          "rendezvous of run '", run_id, "' (attempt ", attempt,
          "): the rendezvous store does not answer (", failed.message(),
          "); still joining until ", "--rdzv-timeout ",
          absl::FormatDuration(options_.join_timeout), " runs out"));
      said = true;
    }
    // A store that fails at once must not make this a busy loop.
    absl::SleepFor(absl::Milliseconds(100));
    return true;
  };
  auto outage_error = [&](const absl::Status& failed) {
    if (!said || !absl::IsUnavailable(failed)) return failed;
    return absl::UnavailableError(absl::StrCat(
        "rendezvous of run '", run_id, "' (attempt ", attempt,
        "): the rendezvous store did not answer until --rdzv-timeout ",
        absl::FormatDuration(options_.join_timeout),
        " ran out: ", failed.message()));
  };
  // For the live view only: a store that refuses it fails TakeSlot next.
  store_
      ->Set(ExpectKey(run_id, attempt),
            absl::StrCat(options_.min_nodes, " ", options_.max_nodes, " ",
                         absl::ToInt64Milliseconds(options_.last_call)))
      .IgnoreError();
  absl::StatusOr<int> slot = TakeSlot(attempt, self);
  while (!slot.ok() && retry(slot.status())) {
    // The slot the failed try may have taken would never count: say so, so
    // the others need not wait for it to go stale.
    leave(absl::UnavailableError("its slot was taken during a store outage"))
        .IgnoreError();
    slot = TakeSlot(attempt, self);
  }
  if (!slot.ok()) return leave(outage_error(slot.status()));
  bool saw_foreign = false;
  absl::StatusOr<ClosedRecord> closed = WaitForClose(
      attempt, self, *slot, saw_foreign, progress, start, deadline);
  while (!closed.ok() && retry(closed.status())) {
    closed = WaitForClose(attempt, self, *slot, saw_foreign, progress, start,
                          deadline);
  }
  if (!closed.ok()) return leave(outage_error(closed.status()));
  leave(absl::OkStatus()).IgnoreError();
  if (!closed->Contains(*slot, self.id)) {
    return late(*closed, saw_foreign
                             ? "its nodes re-asserted it after the rendezvous "
                               "store lost its keys (a daemon restart without "
                               "--state-dir?)"
                             : "");
  }
  ASSIGN_OR_RETURN(NodeAssignment a, Assign(attempt, *slot, self, *closed,
                                            reserve_master, deadline));
  return a;
}

}  // namespace tplaunch
