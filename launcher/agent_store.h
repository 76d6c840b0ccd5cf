// agent_store: what the launcher does with the TCPStore listener that serves
// PyTorch ranks under --torch-store agent (docs/launcher.md, "Agent store").
//
// PyTorch's env:// rendezvous with TORCHELASTIC_USE_AGENT_STORE=True connects
// to MASTER_ADDR:MASTER_PORT as a client. PyTorch 1.13 keeps its keys under
// "/worker/attempt_<TORCHELASTIC_RESTART_COUNT>/" (on the wire
// "//worker/attempt_N/...", the client adds a "/"); later versions use no
// prefix at all, because torchelastic gives every attempt a fresh store. A
// long-running tprdzvd listener still holds the keys of the job (or attempt)
// before, and the next one would read them (a stale store-based barrier count,
// stale Gloo addresses: connection refused). So node 0 empties the listener's
// job before any worker of an attempt starts, as a fresh store would be.
#ifndef TPLAUNCH_LAUNCHER_AGENT_STORE_H_
#define TPLAUNCH_LAUNCHER_AGENT_STORE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "store/endpoint.h"

namespace tplaunch {

// Deletes every key starting with `prefix` from the TCPStore listener at
// `listener`, speaking PyTorch's >= 2.2 protocol (LIST_KEYS, DELETE_KEY), and
// returns how many it deleted ("" deletes every key of the listener's job).
// Queues (a >= 2.2 feature, kept by the listener itself) are left. Blocks for
// at most `timeout` in all. Errors: Unavailable (cannot resolve, connect, or
// the listener closed the connection; names the endpoint), DeadlineExceeded (no
// answer within timeout).
absl::StatusOr<int64_t> ClearTorchStoreKeys(const Endpoint& listener,
                                            absl::string_view prefix,
                                            absl::Duration timeout);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_AGENT_STORE_H_
