// WatchForPuts: blocks until keys are written, through one etcd Watch (no
// polling). EtcdStore's Get, Wait and MultiGet read their keys, and for those
// missing watch from the revision after that read, so a put between the read
// and the watch is not missed.
#ifndef TPLAUNCH_STORE_ETCD_WATCH_WAITER_H_
#define TPLAUNCH_STORE_ETCD_WATCH_WAITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "store/etcd/etcd_client.h"

namespace tplaunch {

// Watches the smallest key range holding every key of `etcd_keys` (non-empty)
// from revision `after_revision + 1`, on the client's current member, until
// each key has been put at least once or `deadline` passes. The caller reads
// the keys again afterwards (one may have been deleted since).
// Errors: DeadlineExceeded (the deadline passed; the caller words the
// message); Unavailable (the stream broke, the member was marked failed, or
// etcd cancelled the watch, e.g. its start revision was compacted: read again
// and watch anew).
absl::Status WatchForPuts(EtcdClient& client,
                          const std::vector<std::string>& etcd_keys,
                          int64_t after_revision, absl::Time deadline);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_ETCD_WATCH_WAITER_H_
