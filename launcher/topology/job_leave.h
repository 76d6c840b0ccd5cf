// job_leave: how the nodes of a job whose rendezvous server is hosted by one
// of them (a self-hosted --rdzv-endpoint, launcher/topology/hosting.h) leave
// it, so that the host never exits under the others.
//
//   every node  ReportLeft once its agent returned: its heartbeat in its last
//               attempt becomes `left`, but only when that attempt has an end
//               record, from which the others learn the outcome. A node that
//               leaves without one is declared dead by its silence instead,
//               as before.
//   the host    then WaitForMembersToLeave: keeps its server up until every
//               other member of that attempt has left (heartbeat `left`, or
//               its slot gone), has been silent for the heartbeat timeout (it
//               died, or its monitor stopped because it saw the end), or the
//               linger timeout passed.
//
// Knows a Store and the keys of common/key_layout.h, not processes. The
// per-slot bookkeeping (MemberWatch) is pure and takes the time as an argument.
#ifndef TPLAUNCH_LAUNCHER_TOPOLOGY_JOB_LEAVE_H_
#define TPLAUNCH_LAUNCHER_TOPOLOGY_JOB_LEAVE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/records.h"
#include "store/store.h"

namespace tplaunch {

struct LeaveOptions {
  // The job's run id.
  std::string run_id;
  // What this launcher put in its NodeInfo when it joined, to find its slot.
  std::string host;
  std::string addr;
  int64_t pid = 0;
  // --heartbeat-timeout: a member silent this long is gone.
  absl::Duration heartbeat_timeout = absl::Seconds(5);
  // How often the host reads the members' heartbeats while it waits.
  absl::Duration poll_interval = absl::Milliseconds(100);
  // The most the host waits for the others.
  absl::Duration linger_timeout = absl::Seconds(300);
};

// The last attempt this launcher took part in, as the store has it.
struct FinalAttempt {
  int attempt = 0;
  ClosedRecord closed;
  // This launcher's member entry; nullopt when it is not a member.
  std::optional<ClosedRecord::Member> self;
  bool ended = false;  // The attempt has an end record.
};

// The highest closed attempt at or just below the job's attempt counter (a
// late node may have entered the next one), preferring one this launcher is a
// member of. nullopt when no attempt closed. Errors: store errors.
absl::StatusOr<std::optional<FinalAttempt>> FindFinalAttempt(
    Store& store, const LeaveOptions& options);

// Writes this launcher's heartbeat as `left` in `final` when it is a member
// and the attempt ended. Errors: store errors.
absl::Status ReportLeft(Store& store, const LeaveOptions& options,
                        const FinalAttempt& final);

// Which members are still there, from their heartbeat values as read over
// time (the time is the caller's, so tests need no clock).
class MemberWatch final {
 public:
  MemberWatch(std::vector<ClosedRecord::Member> members, absl::Time start,
              absl::Duration silence);
  // One reading of a member's heartbeat value ("" when missing) and whether
  // its slot is gone.
  void Observe(int slot, const std::string& heartbeat, bool gone,
               absl::Time now);
  // The slots not yet left, gone or silent for `silence`, in slot order.
  std::vector<int> Remaining(absl::Time now) const;

 private:
  struct State {
    std::string id;
    std::string last_value;
    absl::Time last_change;
    bool left = false;
  };
  std::map<int, State> members_;
  absl::Duration silence_;
};

// What WaitForMembersToLeave saw.
struct LingerOutcome {
  int waited_for = 0;            // Other members at the start.
  std::vector<int> still_there;  // Slots left when it gave up (timeout).
  absl::Duration waited;
};

// The host's wait (see the file comment): `final`'s members other than this
// launcher. Returns at once without members. Errors: store errors other than
// Unavailable/DeadlineExceeded, which only end the round.
absl::StatusOr<LingerOutcome> WaitForMembersToLeave(Store& store,
                                                    const LeaveOptions& options,
                                                    const FinalAttempt& final);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_TOPOLOGY_JOB_LEAVE_H_
