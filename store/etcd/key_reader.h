// EtcdKeyReader: how EtcdStore reads Store keys — one consistent read of many
// keys, and the blocking wait for keys to exist (read; watch from the read's
// revision + 1 for those missing, store/etcd/watch_waiter.h; read again).
#ifndef TPLAUNCH_STORE_ETCD_KEY_READER_H_
#define TPLAUNCH_STORE_ETCD_KEY_READER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "store/etcd/etcd_client.h"
#include "store/etcd/key_layout.h"

namespace tplaunch {

// The values of some keys (nullopt: missing) and the revision they were read
// at.
struct KeysRead {
  std::vector<std::optional<std::string>> values;
  int64_t revision = 0;
};

class EtcdKeyReader {
 public:
  // Both must outlive the reader.
  EtcdKeyReader(EtcdClient* client, const EtcdKeyLayout* layout)
      : client_(client), layout_(layout) {}

  // One consistent view of `keys`: one Txn of Ranges, or several at the first
  // one's revision when there are more than --max-txn-ops. `keys_only` leaves
  // the values empty. Errors: those of EtcdClient::Call.
  absl::StatusOr<KeysRead> ReadKeys(const EtcdCallInfo& call,
                                    absl::Span<const std::string> keys,
                                    absl::Time deadline, bool keys_only);

  // Waits up to `timeout` (clamped to 30 days) until every key exists and
  // returns their values. DeadlineExceeded names the missing keys, the run,
  // the time and etcd's endpoints; Unavailable when etcd cannot be reached.
  absl::StatusOr<std::vector<std::string>> AwaitKeys(
      const EtcdCallInfo& call, absl::Span<const std::string> keys,
      absl::Duration timeout);

 private:
  EtcdClient* const client_;
  const EtcdKeyLayout* const layout_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_ETCD_KEY_READER_H_
