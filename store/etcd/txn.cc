#include "store/etcd/txn.h"

namespace tplaunch {

namespace pb = ::etcdserverpb;

SeenKey SeenFromRange(const pb::RangeResponse& range) {
  SeenKey seen;
  if (range.kvs_size() == 0) return seen;
  seen.exists = true;
  seen.value = range.kvs(0).value();
  seen.mod_revision = range.kvs(0).mod_revision();
  return seen;
}

pb::TxnRequest BuildConditionalWrite(const ConditionalWrite& write) {
  pb::TxnRequest txn;
  pb::Compare* key_unchanged = txn.add_compare();
  key_unchanged->set_key(write.key);
  key_unchanged->set_result(pb::Compare::EQUAL);
  if (write.seen.exists) {
    key_unchanged->set_target(pb::Compare::MOD);
    key_unchanged->set_mod_revision(write.seen.mod_revision);
  } else {
    // A missing key has create_revision 0 (and one deleted since, too).
    key_unchanged->set_target(pb::Compare::CREATE);
    key_unchanged->set_create_revision(0);
  }
  pb::Compare* record_unused = txn.add_compare();
  record_unused->set_key(write.record_key);
  record_unused->set_result(pb::Compare::EQUAL);
  record_unused->set_target(pb::Compare::CREATE);
  record_unused->set_create_revision(0);

  pb::PutRequest* put_key = txn.add_success()->mutable_request_put();
  put_key->set_key(write.key);
  put_key->set_value(write.new_value);
  put_key->set_lease(write.lease);
  pb::PutRequest* put_record = txn.add_success()->mutable_request_put();
  put_record->set_key(write.record_key);
  put_record->set_value(write.record_value);
  put_record->set_lease(write.lease);

  txn.add_failure()->mutable_request_range()->set_key(write.record_key);
  txn.add_failure()->mutable_request_range()->set_key(write.key);
  return txn;
}

ConditionalWriteResult ParseConditionalWrite(const ConditionalWrite& write,
                                             const pb::TxnResponse& response) {
  ConditionalWriteResult result;
  if (response.succeeded()) {
    result.applied = true;
    result.result = write.record_value;
    return result;
  }
  // The else-branch: [record, key].
  if (response.responses_size() == 2) {
    const pb::RangeResponse& record = response.responses(0).response_range();
    if (record.kvs_size() > 0) {
      result.applied = true;
      result.result = record.kvs(0).value();
      return result;
    }
    result.current = SeenFromRange(response.responses(1).response_range());
  }
  return result;
}

}  // namespace tplaunch
