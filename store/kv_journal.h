// KvJournal: the persistence hook of a KvTable.
//
// The table hands every committed change of its state to the journal, in the
// order the changes took effect, and holds back a call's reply (and the
// waiters the change wakes) until the journal says the change is durable.
// The journal records resulting state, not operations: Add, Append,
// CompareSet and Set all arrive as a Put of the key's new value, so replaying
// a journal is idempotent. KvTable stays pure: it knows this interface only
// (rendezvous/state_store.h implements it over SQLite; tests use a fake).
#ifndef TPLAUNCH_STORE_KV_JOURNAL_H_
#define TPLAUNCH_STORE_KV_JOURNAL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace tplaunch {

// One change of a KvTable's state. The views are valid only during
// KvJournal::Record.
struct KvMutation {
  enum class Kind {
    kPut,  // key now holds value (Set, Add, Append, CompareSet, MultiSet).
    kDeleteKey,  // key was removed.
    kDeleteJob,  // the job and all its keys were removed (DeleteJob, expiry).
    kTouch,      // only the job's activity time moved (reads keep it alive).
  };
  Kind kind = Kind::kPut;
  absl::string_view job;
  absl::string_view key;    // kPut, kDeleteKey.
  absl::string_view value;  // kPut.
  // The job's last activity as of this change (the idle-TTL clock).
  absl::Time time;
};

// Implementations are thread-safe.
class KvJournal {
 public:
  virtual ~KvJournal() = default;

  // Called with the table's lock held, so it must copy what it keeps, return
  // without waiting for I/O and never call back into the table. The mutations
  // of one call arrive together and become durable together. Returns a ticket
  // for AwaitDurable; tickets increase with every call.
  virtual uint64_t Record(absl::Span<const KvMutation> mutations) = 0;

  // Blocks until everything recorded up to and including `ticket` is durable.
  // Possible errors: Unavailable or DataLoss naming what failed (a write to
  // the state dir); the journal then stays failed and the mutations may be
  // lost, so the table closes.
  virtual absl::Status AwaitDurable(uint64_t ticket) = 0;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_KV_JOURNAL_H_
