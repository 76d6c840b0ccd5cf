// The compare-and-write Txns behind EtcdStore's read-modify-write calls (Add,
// Append, CompareSet), and how they are applied exactly once.
//
// A call reads the key (its value and mod_revision), computes the new value,
// and sends one Txn:
//   if   the key is as read (mod_revision equal, or still missing)
//   and  the call's request record does not exist
//   then put the key and the record (the call's result), both on the run lease
//   else read the record and the key.
// A conflict (another writer got in between) returns the key as it is now in
// the same reply, and the call computes again from that: no extra read.
//
// Exactly once: every call has a unique request id. When a reply is lost (the
// member died between request and reply) the call sends the same Txn again.
// If the first one was applied, the key's mod_revision has moved on, so the
// second one's compare fails and its else-branch finds the record: the call
// returns the recorded result and writes nothing. If the first one was never
// applied, the second one applies. A first Txn that etcd applies only after
// the retry (still in flight in the old leader's log) compares against the
// revision it read, which the retry has already moved on: it cannot apply
// either. See docs/etcd.md, "Failure model".
#ifndef TPLAUNCH_STORE_ETCD_TXN_H_
#define TPLAUNCH_STORE_ETCD_TXN_H_

#include <cstdint>
#include <string>

#include "store/etcd/gen/rpc.pb.h"

namespace tplaunch {

// One key as a read saw it.
struct SeenKey {
  bool exists = false;
  std::string value;
  int64_t mod_revision = 0;
};

// A key as a RangeResponse shows it (missing when it has no kvs).
SeenKey SeenFromRange(const etcdserverpb::RangeResponse& range);

struct ConditionalWrite {
  std::string key;           // etcd key
  SeenKey seen;              // what the new value was computed from
  std::string new_value;     // for the key
  std::string record_key;    // the call's request record
  std::string record_value;  // the call's result, returned to a retry
  int64_t lease = 0;         // the run's lease
};

etcdserverpb::TxnRequest BuildConditionalWrite(const ConditionalWrite& write);

struct ConditionalWriteResult {
  // The call's write is in etcd (by this Txn or an earlier try of it).
  bool applied = false;
  // When applied: the call's result (record_value).
  std::string result;
  // When not applied: the key as it is now, to compute again from.
  SeenKey current;
};

ConditionalWriteResult ParseConditionalWrite(
    const ConditionalWrite& write, const etcdserverpb::TxnResponse& response);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_ETCD_TXN_H_
