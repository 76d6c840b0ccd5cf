// StateStore: what `tprdzvd --state-dir DIR` keeps on disk. A KvJournal over
// SQLite in WAL mode (DIR/tprdzvd.sqlite3) that commits the KvTable's changes
// in groups from a committer thread, and loads them back into a fresh table
// before the daemon serves anyone. docs/reliability.md describes the format
// and what is and is not recovered.
//
// Why SQLite: Debian's libsqlite3 is the most widely deployed, most tested
// embedded store there is, its WAL commit is atomic and crash-safe, and one
// file with a documented format can be inspected with the sqlite3 shell.
#ifndef TPLAUNCH_RENDEZVOUS_STATE_STORE_H_
#define TPLAUNCH_RENDEZVOUS_STATE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/kv_journal.h"
#include "store/kv_table.h"

namespace tplaunch {

// SQLite's `PRAGMA synchronous` for the WAL.
enum class StateSync {
  // fsync the WAL at every commit: an acknowledged change survives a crash of
  // the daemon, of the kernel and a power loss.
  kFull,
  // No fsync at commit (only at checkpoints): an acknowledged change survives
  // the daemon being killed, but the last commits may be lost with the host.
  kNormal,
};

struct StateStoreOptions {
  // The state directory; created (one level) when missing. Required.
  std::string dir;
  // kFull by default: a reply promises durability, and group commit pays one
  // fsync for many calls.
  StateSync sync = StateSync::kFull;
  // Most calls whose changes one transaction commits. 1 commits every call on
  // its own (no group commit): for benchmarks only.
  int max_batch_calls = 1024;
};

// What Recover loaded.
struct StateRecovery {
  int64_t jobs = 0;
  int64_t keys = 0;
};

struct StateStoreStats {
  int64_t commits = 0;  // Transactions committed.
  int64_t calls = 0;    // Calls (Record) they carried.
};

class StateStore : public KvJournal {
 public:
  // Commits what is still pending, then closes the file.
  ~StateStore() override = default;

  // The incarnation of this state: made when the directory was first used and
  // kept across restarts, since the state it names survives them.
  virtual const std::string& incarnation() const = 0;

  // Loads every job with its keys into `table` (KvTable::Restore), before the
  // table serves anyone and before anything is recorded. A job's idle clock
  // resumes where it stood at the last commit: the daemon's downtime does not
  // count against --job-idle-ttl. Possible errors: DataLoss (the file cannot
  // be read; the message names it and SQLite's error).
  virtual absl::StatusOr<StateRecovery> Recover(KvTable& table,
                                                absl::Time now) = 0;

  virtual StateStoreStats stats() const = 0;
};

// Opens or creates DIR/tprdzvd.sqlite3 and holds it exclusively until the
// store is destroyed. Possible errors: InvalidArgument (empty dir),
// Unavailable (the directory or file cannot be created or opened; names the
// path and why), FailedPrecondition (another process holds the state dir, or
// it was written by a newer format), DataLoss (the file is not a tprdzvd state
// file or is corrupt).
absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore(
    const StateStoreOptions& options);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_STATE_STORE_H_
