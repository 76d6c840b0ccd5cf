// CallTable: the pure coalescing core of the node-local store proxy. No I/O,
// no threads, no gRPC, no clock of its own (every time is passed in).
//
// A "call key" names one blocking upstream call ("Get" of 'k', "Wait" on
// 'a','b'); every local caller of the same call key joins the one pending
// entry instead of starting another upstream call. Each caller keeps its own
// deadline: ExpireDue takes out the callers whose deadline passed while the
// upstream call goes on for the others. When the upstream call ends, its
// answer (or error) goes to every caller still waiting; an upstream timeout
// with callers that still have time left restarts the upstream call for them.
//
// Not thread-safe: the owner (Forwarder) serialises every call.
#ifndef TPLAUNCH_STORE_PROXY_CALL_TABLE_H_
#define TPLAUNCH_STORE_PROXY_CALL_TABLE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tplaunch {

// What an upstream blocking call answers: the values (one for Get, none for
// Wait, one per key for MultiGet) or its error.
using CallResult = absl::StatusOr<std::vector<std::string>>;
using CallDone = std::function<void(CallResult)>;

class CallTable final {
 public:
  // One caller taken out of the table, whose `done` the owner must now run.
  struct Answer {
    std::string call_key;
    CallDone done;
    absl::Time joined;    // When the caller joined (for "waited ...").
    absl::Time deadline;  // The caller's own deadline.
  };

  struct Joined {
    uint64_t caller = 0;  // For Leave.
    // No upstream call for this key was in flight: the owner must start one
    // (see UpstreamUntil) and report its end with Finish.
    bool start_upstream = false;
  };

  // `answer_grace`: how long past its deadline a caller whose deadline the
  // upstream call itself covers waits for that call's answer (the upstream's
  // own timeout, or the value that beat it) before ExpireDue takes it out.
  explicit CallTable(absl::Duration answer_grace) : grace_(answer_grace) {}

  // Adds a caller of `key` that joined at `now` and gives up at `deadline`.
  // A caller whose deadline is before the running upstream call's end is
  // expired at its deadline; one the upstream call covers (the first caller,
  // a later deadline: the call restarts for it) at deadline + answer_grace.
  Joined Join(const std::string& key, absl::Time now, absl::Time deadline,
              CallDone done);

  // Takes out a caller before it was answered (its client went away). False
  // when it was already taken out (answered or expired): its `done` ran or is
  // about to, and must be left to finish the call.
  bool Leave(const std::string& key, uint64_t caller);

  // The owner starts (or restarts) key's upstream call at `now`: returns
  // until when it should wait, the latest caller deadline but at most
  // `max_wait` from now; nullopt when key has no callers left (then the
  // owner asks nothing and calls Finish at once).
  std::optional<absl::Time> StartUpstream(const std::string& key,
                                          absl::Time now,
                                          absl::Duration max_wait);

  struct Finished {
    // Callers to answer with the upstream result.
    std::vector<Answer> answered;
    // Callers whose own deadline passed (at or before `now`): the owner
    // answers them with its own timeout naming their keys and wait.
    std::vector<Answer> expired;
    // The upstream call timed out but callers with time left remain: the
    // owner must start the upstream call again (and Finish it again).
    bool restart = false;
  };

  // The upstream call for key ended at `now` with `result`. An upstream
  // DeadlineExceeded is not an answer while some caller's deadline is still
  // ahead: those callers stay and `restart` is set; everyone else is taken
  // out. Every other result answers every caller.
  Finished Finish(const std::string& key, const CallResult& result,
                  absl::Time now);

  // Takes out every caller due by `now` (see Join); the upstream calls go
  // on for the callers left.
  std::vector<Answer> ExpireDue(absl::Time now);

  // Takes out every caller (shutdown).
  std::vector<Answer> TakeAll();

  // When ExpireDue next has a caller to take out, for the owner's timer.
  std::optional<absl::Time> NextDeadline() const;

  // Upstream calls in flight, and callers in all.
  size_t pending_calls() const { return entries_.size(); }
  size_t callers() const { return deadlines_.size(); }

 private:
  struct Caller {
    CallDone done;
    absl::Time joined;
    absl::Time deadline;
    absl::Time expire_at;  // deadline, or deadline + grace (see Join).
  };
  // An entry exists exactly while its upstream call runs; it may have no
  // callers left (they expired), and a newcomer then joins it instead of
  // starting a second upstream call.
  struct Entry {
    std::map<uint64_t, Caller> callers;
    // Until when the running upstream call waits (its first caller's deadline
    // before StartUpstream).
    absl::Time until;
  };

  Answer Take(const std::string& key, Entry& entry,
              std::map<uint64_t, Caller>::iterator it);

  std::map<std::string, Entry> entries_;
  const absl::Duration grace_;
  // (expire_at, caller) for every caller, and each caller's key.
  std::set<std::pair<absl::Time, uint64_t>> deadlines_;
  std::map<uint64_t, std::string> caller_keys_;
  uint64_t next_caller_ = 1;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_PROXY_CALL_TABLE_H_
