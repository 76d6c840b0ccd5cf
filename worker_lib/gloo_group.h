// GlooGroup: the CPU backend. A Gloo context over the TCP transport, connected
// full-mesh through GlooStoreAdapter. Include this header only where the native
// gloo::Context is needed; InitProcessGroup is the normal way in.
#ifndef TPLAUNCH_WORKER_LIB_GLOO_GROUP_H_
#define TPLAUNCH_WORKER_LIB_GLOO_GROUP_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gloo/context.h"
#include "store/store.h"
#include "worker_lib/process_group.h"

namespace tplaunch {

struct GlooGroupOptions {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string group_name = "default";
  // The address the TCP device binds and advertises (an IP literal or
  // resolvable name).
  std::string local_addr = "127.0.0.1";
  // Store calls, pair connection and every collective.
  absl::Duration timeout = kDefaultProcessGroupTimeout;
  // Describes the group in messages.
  std::string where = "gloo group";
  // See GlooStoreAdapterOptions::prefetch and ::host_names.
  bool prefetch = true;
  std::vector<std::string> host_names;
};

// How long connecting took, and the share spent waiting on the store.
struct GlooConnectStats {
  absl::Duration total;
  absl::Duration store;
  int store_calls = 0;
};

// Connects rank `options.rank` through `store` (the group's prefixed store).
// The group keeps the store for its teardown handshake: destroying a healthy
// group publishes "exit/<rank>" and waits (at most min(timeout, 30 s)) until
// every rank has, because Gloo's TCP pairs report a peer's close before data
// still queued from it, so a rank that closed its connections right after the
// last collective could fail a slower peer's. A group broken by an error only
// publishes and does not wait. Errors: Unavailable (the TCP device cannot bind
// local_addr, or a pair connection failed), DeadlineExceeded (ranks missing,
// named), the store's errors.
absl::StatusOr<std::unique_ptr<ProcessGroup>> CreateGlooGroup(
    std::shared_ptr<Store> store, const GlooGroupOptions& options,
    GlooConnectStats* stats = nullptr);

// Sets SIGPIPE to SIG_IGN when its disposition is the default, as Python does
// at startup, so a write to a dead peer fails with EPIPE (an Unavailable
// error naming the peer) instead of killing the process. CreateGlooGroup
// calls it; a handler the program installed is kept.
void IgnoreSigpipeUnlessHandled();

// The group's gloo::Context, or nullptr when `group` is not a gloo group.
gloo::Context* GlooContextOf(ProcessGroup& group);

}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_GLOO_GROUP_H_
