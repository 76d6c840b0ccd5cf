// IncarnationTracker: which tprdzvd state a client has been talking to.
//
// Every tprdzvd reply carries the daemon's incarnation (response metadata
// `tprdzv-incarnation`, docs/protocol.md#incarnation): new at every start of a
// daemon without --state-dir, kept across restarts with one. A GrpcStore given
// a tracker (GrpcStoreOptions::incarnation) reports each reply's incarnation
// to it; the first one seen is the reference, and a different one later means
// the daemon restarted and the keys this client relied on may be gone. The
// call that saw it still succeeds: what a change means (restart the attempt,
// or fail naming the daemon restart) is the caller's decision, made from
// Changed() or the callback.
//
// Thread-safe; one tracker may be shared by every store that talks to the same
// daemon, so they all agree on the reference.
#ifndef TPLAUNCH_STORE_GRPC_INCARNATION_H_
#define TPLAUNCH_STORE_GRPC_INCARNATION_H_

#include <functional>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// The response initial-metadata key; the daemon's side is
// rendezvous/rendezvous_service.h.
inline constexpr char kIncarnationMetadataKey[] = "tprdzv-incarnation";

class IncarnationTracker final {
 public:
  // Runs once, on the first reply whose incarnation differs from the first
  // one, with both; outside the tracker's lock, on the calling thread.
  using ChangeCallback =
      std::function<void(const std::string& first, const std::string& now)>;

  IncarnationTracker() = default;
  explicit IncarnationTracker(ChangeCallback on_change);

  IncarnationTracker(const IncarnationTracker&) = delete;
  IncarnationTracker& operator=(const IncarnationTracker&) = delete;

  // Records one reply's incarnation. Empty (a daemon too old to send one) is
  // ignored.
  void Observe(absl::string_view incarnation);

  // The first incarnation seen. NotFound before any reply carried one.
  absl::StatusOr<std::string> First() const;
  // The most recent one ("" before any).
  std::string Latest() const;
  // Whether a reply ever carried an incarnation other than First(). Stays true
  // even if a later reply carries the first one again.
  bool Changed() const;

 private:
  const ChangeCallback on_change_;
  mutable std::mutex mu_;
  std::string first_;
  std::string latest_;
  bool changed_ = false;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_GRPC_INCARNATION_H_
