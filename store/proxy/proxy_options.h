// StoreProxyOptions: where the node-local store proxy listens, whom it serves
// and how much it asks of its upstream. No gRPC here.
#ifndef TPLAUNCH_STORE_PROXY_PROXY_OPTIONS_H_
#define TPLAUNCH_STORE_PROXY_PROXY_OPTIONS_H_

#include <string>

#include "absl/time/time.h"

namespace tplaunch {

struct StoreProxyOptions {
  // Directory the Unix socket lives in. Created with mode 0700 when missing;
  // an existing one must be a directory (not a link) owned by this user with
  // mode 0700, so no other user can reach the socket. Required.
  std::string socket_dir;
  // The socket's file name in socket_dir (the path must fit sun_path, 107
  // bytes).
  std::string socket_name = "store.sock";
  // The one job (run id) the proxy serves, the upstream store's; a call that
  // names another job is refused with INVALID_ARGUMENT. Required.
  std::string job;
  // Every local call must carry `authorization: Bearer <token>` (the same
  // check as tprdzvd's). Empty: no token is asked for.
  std::string token;
  // How errors name the upstream, e.g. "tprdzvd at node-a:29400".
  std::string upstream_name = "the upstream store";
  // Threads that make the blocking upstream calls (Get, Wait, MultiGet): the
  // most distinct blocking calls in flight upstream at once. Identical calls
  // share one, so 8 ranks waiting for the same key need one thread; more
  // distinct calls queue until a thread is free (their deadlines still hold).
  int max_blocking_upstream_calls = 64;
  // Threads for the non-blocking calls (Set, Add, TryGet, ...), apart from
  // the blocking ones so a Set is never queued behind the Gets it releases.
  int max_quick_upstream_calls = 8;
  // The longest one upstream blocking call waits; the proxy then asks again
  // for the callers that still wait. Also the longest Shutdown waits for a
  // running upstream call. Longer: fewer repeated upstream calls while a key
  // stays missing; shorter: a faster shutdown.
  absl::Duration upstream_slice = absl::Seconds(5);
  // How long past its deadline a caller waits for the upstream's own answer
  // to its call (a Get with timeout 0 asks upstream whether the key is there
  // now): the upstream's answer normally comes within milliseconds; this
  // bounds a stuck one, after which the proxy answers DeadlineExceeded itself.
  absl::Duration upstream_answer_grace = absl::Seconds(2);
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_PROXY_PROXY_OPTIONS_H_
