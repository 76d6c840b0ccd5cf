// Where an EtcdStore keeps each kind of key in etcd. Every key of a run lives
// under one prefix, so a run is listed, counted and deleted with one range:
//
//   /tplaunch/v1/<run_id>/k/<key>      a Store key (bytes, as given)
//   /tplaunch/v1/<run_id>/m/lease      the run's lease id (decimal), itself
//                                      attached to that lease
//   /tplaunch/v1/<run_id>/r/<id>       the result of one Add, Append or
//                                      CompareSet, written in the same Txn, so
//                                      a retry after a lost reply finds it
//                                      instead of applying the call again
//
// "v1" versions the layout: a later incompatible layout uses v2 and never reads
// these keys.
#ifndef TPLAUNCH_STORE_ETCD_KEY_LAYOUT_H_
#define TPLAUNCH_STORE_ETCD_KEY_LAYOUT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// The smallest key greater than every key that starts with `prefix` (etcd's
// range_end for a prefix): the last byte below 0xff incremented, the rest cut.
// "\0" (the whole keyspace) for an empty or all-0xff prefix.
std::string PrefixEnd(absl::string_view prefix);

class EtcdKeyLayout {
 public:
  // InvalidArgument for an empty run id or one containing '/' (which would let
  // one run's prefix contain another's).
  static absl::StatusOr<EtcdKeyLayout> ForRun(absl::string_view run_id);

  const std::string& run_id() const { return run_id_; }
  // "/tplaunch/v1/<run_id>/": everything of the run.
  const std::string& run_prefix() const { return run_prefix_; }
  // "/tplaunch/v1/<run_id>/k/": the Store's keys.
  const std::string& user_prefix() const { return user_prefix_; }

  std::string UserKey(absl::string_view key) const;
  // The Store key of an etcd key under user_prefix().
  absl::string_view StoreKey(absl::string_view etcd_key) const;
  std::string LeaseKey() const;
  std::string RequestKey(absl::string_view request_id) const;

 private:
  std::string run_id_;
  std::string run_prefix_;
  std::string user_prefix_;
};

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_ETCD_KEY_LAYOUT_H_
