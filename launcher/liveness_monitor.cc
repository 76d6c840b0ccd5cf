#include "launcher/liveness_monitor.h"

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/key_layout.h"
#include "launcher/logger.h"

namespace tplaunch {
namespace {

std::string Tenths(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(100)));
}

}  // namespace

LivenessMonitor::LivenessMonitor(NodeRendezvous* rdzv,
                                 NodeAssignment assignment,
                                 LivenessOptions options, EndCallback on_end)
    : rdzv_(rdzv),
      assignment_(std::move(assignment)),
      options_(options),
      on_end_(std::move(on_end)) {
  thread_ = std::thread([this] { Run(); });
}

LivenessMonitor::~LivenessMonitor() {
  stop_.Notify();
  thread_.join();
}

void LivenessMonitor::SetState(HeartbeatState state) {
  absl::MutexLock lock(&mu_);
  state_ = state;
}

void LivenessMonitor::HeartbeatNow() {
  HeartbeatState state;
  {
    absl::MutexLock lock(&mu_);
    state = state_;
  }
  rdzv_
      ->Heartbeat(assignment_.attempt, assignment_.slot, seq_++, state,
                  assignment_.node_id)
      .IgnoreError();
}

void LivenessMonitor::Run() {
  const int attempt = assignment_.attempt;
  struct Peer {
    int node_rank = 0;
    int slot = 0;
    std::string last_value;  // Empty until the peer's first heartbeat read.
    absl::Time last_change;
  };
  std::vector<Peer> peers;
  std::vector<int> slots;
  const absl::Time start = absl::Now();
  for (int r = 0; r < assignment_.num_nodes; ++r) {
    if (r == assignment_.node_rank) continue;
    Peer peer;
    peer.node_rank = r;
    peer.slot = assignment_.slot_of_rank[r];
    peer.last_change = start;
    peers.push_back(std::move(peer));
    slots.push_back(assignment_.slot_of_rank[r]);
  }
  // The start of the last round in which the store answered, and whether the
  // rounds since then failed (an outage is going on).
  absl::Time store_ok = start;
  bool in_outage = false;
  bool outage_logged = false;
  absl::Status last_error;
  auto end_with = [&](AttemptEnd end) {
    if (on_end_) on_end_(end);
  };
  // Reports `reason` as this attempt's failure for every node (the first
  // report wins) and ends the monitor with how the attempt ended.
  auto fail_attempt = [&](const std::string& reason) {
    auto end =
        rdzv_->ReportFailure(attempt, AttemptEnd::Kind::kFailed, 1, reason);
    if (end.ok()) {
      end_with(*end);
    } else {
      AttemptEnd local;
      local.exit_code = 1;
      local.reason = reason;
      end_with(local);
    }
  };
  auto incarnation = [&]() -> std::string {
    return options_.store_incarnation ? options_.store_incarnation() : "";
  };
  std::string first_incarnation = options_.joined_incarnation.empty()
                                      ? incarnation()
                                      : options_.joined_incarnation;

  while (!stop_.HasBeenNotified()) {
    const absl::Time now = absl::Now();
    HeartbeatState state;
    {
      absl::MutexLock lock(&mu_);
      state = state_;
    }
    absl::Status hb = rdzv_->Heartbeat(attempt, assignment_.slot, seq_++, state,
                                       assignment_.node_id);
    auto values = hb.ok() ? rdzv_->ReadHeartbeats(attempt, slots)
                          : absl::StatusOr<std::vector<std::string>>(hb);
    if (values.ok()) {
      if (in_outage) {
        // The peers could not write either: their silence starts now.
        if (outage_logged) {
          LauncherLogger().info("{} answers again after {}",
                                options_.store_name, Tenths(now - store_ok));
        }
        for (Peer& p : peers) p.last_change = now;
        in_outage = false;
        outage_logged = false;
      }
      store_ok = now;
      const std::string current = incarnation();
      if (first_incarnation.empty()) first_incarnation = current;
      if (!current.empty() && current != first_incarnation) {
        fail_attempt(absl::StrCat(
            options_.store_name, " restarted without the job's state ",
            "(incarnation ", first_incarnation, ", now ", current,
            "); attempt ", attempt,
            " cannot continue: its keys are gone (tprdzvd --state-dir keeps "
            "them across restarts)"));
        return;
      }
      for (size_t i = 0; i < peers.size(); ++i) {
        Peer& p = peers[i];
        const std::string& v = (*values)[i];
        if (v != p.last_value) {
          p.last_value = v;
          p.last_change = now;
        }
        // A peer whose value does not decode is treated as running: silence,
        // not garbage, is what declares it dead.
        absl::StatusOr<HeartbeatRecord> record = HeartbeatRecord::Decode(
            HeartbeatKey(rdzv_->options().run_id, attempt, p.slot), v);
        if (record.ok() && record->state == HeartbeatState::kLeft) continue;
        if (now - p.last_change > options_.timeout) {
          const NodeInfo& info = assignment_.nodes[p.node_rank];
          std::string reason =
              absl::StrCat("node ", p.node_rank, " on ", info.Label(),
                           " stopped heartbeating: no "
                           "heartbeat for ",
                           absl::FormatDuration(absl::Trunc(
                               now - p.last_change, absl::Milliseconds(100))),
                           " (--heartbeat-timeout ",
                           absl::FormatDuration(options_.timeout), ")");
          fail_attempt(reason);
          return;
        }
      }
      // Keys the store lost (a daemon restart) come back before a node
      // starting now could form a second world; two worlds restart together.
      if (auto re = rdzv_->Reassert(assignment_, state);
          re.ok() && re->has_value()) {
        end_with(**re);
        return;
      }
      // A node waiting for the next attempt while there is room: restart
      // everyone with it (a membership change; not counted as a restart).
      if (assignment_.num_nodes < rdzv_->options().max_nodes) {
        auto late = rdzv_->LateCount(attempt);
        if (late.ok() && *late > 0) {
          auto end = rdzv_->ReportFailure(
              attempt, AttemptEnd::Kind::kMembershipChange, 1,
              absl::StrCat("membership change: ", *late,
                           " node(s) waiting to join; restarting with them"));
          if (end.ok()) {
            end_with(*end);
            return;
          }
        }
      }
    } else {
      // No peer is judged on heartbeats that could not be read.
      in_outage = true;
      last_error = values.status();
      const absl::Duration silent = absl::Now() - store_ok;
      if (silent > options_.store_outage_timeout) {
        AttemptEnd local;
        local.exit_code = 1;
        local.reason =
            absl::StrCat("the rendezvous store (", options_.store_name,
                         ") has not answered for ", Tenths(silent),
                         " (--store-outage-timeout ",
                         absl::FormatDuration(options_.store_outage_timeout),
                         "): ", last_error.message());
        end_with(local);
        return;
      }
      if (!outage_logged && silent > options_.timeout) {
        LauncherLogger().warn(
            "{} has not answered for {} (longer than --heartbeat-timeout {}); "
            "that is the store, not a dead node: keeping the workers running "
            "for up to --store-outage-timeout {}: {}",
            options_.store_name, Tenths(silent),
            absl::FormatDuration(options_.timeout),
            absl::FormatDuration(options_.store_outage_timeout),
            std::string(last_error.message()));
        outage_logged = true;
      }
    }
    auto end = rdzv_->WaitForEnd(attempt, options_.interval);
    if (end.ok()) {
      end_with(*end);
      return;
    }
    if (!absl::IsDeadlineExceeded(end.status())) {
      last_error = end.status();
      // An unreachable store fails fast; do not spin on it.
      stop_.WaitForNotificationWithTimeout(std::max(
          absl::ZeroDuration(), options_.interval - (absl::Now() - now)));
    }
  }
}

}  // namespace tplaunch
