#include "store/etcd/etcd_store.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "store/error_text.h"
#include "store/etcd/etcd_client.h"
#include "store/etcd/key_layout.h"
#include "store/etcd/key_reader.h"
#include "store/etcd/run_lease.h"
#include "store/etcd/txn.h"

namespace tplaunch {
namespace {

namespace pb = ::etcdserverpb;

std::vector<absl::string_view> Views(absl::Span<const std::string> keys) {
  return std::vector<absl::string_view>(keys.begin(), keys.end());
}

// What a read-modify-write call does given the key as it is.
struct Decision {
  bool write = false;     // false: return `result` without writing.
  std::string new_value;  // for the key, when writing
  std::string result;     // what the call returns
};
using Decide = std::function<absl::StatusOr<Decision>(const SeenKey&)>;

class EtcdStore final : public Store {
 public:
  EtcdStore(EtcdKeyLayout layout, std::unique_ptr<EtcdClient> client)
      : layout_(std::move(layout)),
        client_(std::move(client)),
        reader_(client_.get(), &layout_) {}

  absl::Status Init(bool read_only) {
    if (read_only) return absl::OkStatus();
    ASSIGN_OR_RETURN(lease_, RunLease::Acquire(client_.get(), &layout_));
    return absl::OkStatus();
  }

  absl::Status Set(absl::string_view key, absl::string_view value) override {
    const std::string etcd_key = layout_.UserKey(key);
    return Write({"Set", {key}}, client_->QuickDeadline(),
                 [&](int64_t lease) {
                   pb::TxnRequest txn;
                   Put(&txn, etcd_key, value, lease);
                   return txn;
                 })
        .status();
  }

  absl::StatusOr<std::string> Get(absl::string_view key,
                                  absl::Duration timeout) override {
    const std::string keys[] = {std::string(key)};
    ASSIGN_OR_RETURN(std::vector<std::string> values,
                     reader_.AwaitKeys({"Get", {key}}, keys, timeout));
    return std::move(values[0]);
  }

  absl::StatusOr<std::string> TryGet(absl::string_view key) override {
    const std::string keys[] = {std::string(key)};
    const EtcdCallInfo call{"TryGet", {key}};
    ASSIGN_OR_RETURN(KeysRead read,
                     reader_.ReadKeys(call, keys, Quick(), false));
    if (!read.values[0]) {
      return absl::NotFoundError(
          absl::StrCat(client_->Describe(call), ": no such key"));
    }
    return std::move(*read.values[0]);
  }

  absl::StatusOr<bool> Check(absl::Span<const std::string> keys) override {
    ASSIGN_OR_RETURN(KeysRead read, reader_.ReadKeys({"Check", Views(keys)},
                                                     keys, Quick(), true));
    return std::all_of(read.values.begin(), read.values.end(),
                       [](const auto& v) { return v.has_value(); });
  }

  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta) override {
    const EtcdCallInfo call{"Add", {key}};
    ASSIGN_OR_RETURN(
        const std::string result,
        ReadModifyWrite(
            call, key, SeenKey{},
            [&](const SeenKey& seen) -> absl::StatusOr<Decision> {
              int64_t current = 0;
              if (seen.exists && !absl::SimpleAtoi(seen.value, &current)) {
                return absl::FailedPreconditionError(
                    absl::StrCat(client_->Describe(call), ": the value '",
                                 absl::CHexEscape(seen.value.substr(0, 64)),
                                 "' is not a decimal int64"));
              }
              const std::string next = absl::StrCat(current + delta);
              return Decision{true, next, next};
            }));
    int64_t value = 0;
    if (!absl::SimpleAtoi(result, &value)) {
      return absl::InternalError(
          absl::StrCat(client_->Describe(call), ": recorded result '",
                       absl::CHexEscape(result), "' is not a number"));
    }
    return value;
  }

  absl::StatusOr<std::string> CompareSet(absl::string_view key,
                                         absl::string_view expected,
                                         absl::string_view desired) override {
    const EtcdCallInfo call{"CompareSet", {key}};
    // Unlike Add and Append, the answer may be to write nothing, which must
    // come from a real read, not from assuming the key is missing.
    ASSIGN_OR_RETURN(SeenKey seen, ReadSeen(call, key));
    return ReadModifyWrite(
        call, key, std::move(seen),
        [&](const SeenKey& now) -> absl::StatusOr<Decision> {
          if (!now.exists && !expected.empty()) {
            return Decision{false, "", std::string(expected)};
          }
          if (!now.exists || now.value == expected) {
            return Decision{true, std::string(desired), std::string(desired)};
          }
          return Decision{false, "", now.value};
        });
  }

  absl::Status Wait(absl::Span<const std::string> keys,
                    absl::Duration timeout) override {
    return reader_.AwaitKeys({"Wait", Views(keys)}, keys, timeout).status();
  }

  absl::StatusOr<bool> DeleteKey(absl::string_view key) override {
    RETURN_IF_ERROR(CheckWritable({"DeleteKey", {key}}));
    pb::DeleteRangeRequest request;
    request.set_key(layout_.UserKey(key));
    pb::DeleteRangeResponse response;
    RETURN_IF_ERROR(client_->Call({"DeleteKey", {key}}, Quick(),
                                  [&](EtcdMember& m, grpc::ClientContext& c) {
                                    return m.kv->DeleteRange(&c, request,
                                                             &response);
                                  }));
    return response.deleted() > 0;
  }

  absl::StatusOr<int64_t> NumKeys() override {
    pb::RangeRequest request;
    request.set_key(layout_.user_prefix());
    request.set_range_end(PrefixEnd(layout_.user_prefix()));
    request.set_count_only(true);
    pb::RangeResponse response;
    RETURN_IF_ERROR(Range({"NumKeys", {}}, request, &response));
    return response.count();
  }

  absl::Status Append(absl::string_view key, absl::string_view value) override {
    return ReadModifyWrite(
               {"Append", {key}}, key, SeenKey{},
               [&](const SeenKey& seen) -> absl::StatusOr<Decision> {
                 return Decision{true, absl::StrCat(seen.value, value), ""};
               })
        .status();
  }

  absl::StatusOr<std::vector<std::string>> MultiGet(
      absl::Span<const std::string> keys, absl::Duration timeout) override {
    return reader_.AwaitKeys({"MultiGet", Views(keys)}, keys, timeout);
  }

  absl::Status MultiSet(
      absl::Span<const std::pair<std::string, std::string>> entries) override {
    std::vector<absl::string_view> keys;
    for (const auto& [key, value] : entries) keys.push_back(key);
    const EtcdCallInfo call{"MultiSet", keys};
    if (static_cast<int>(entries.size()) > client_->options().max_txn_ops) {
      return absl::InvalidArgumentError(absl::StrCat(
          client_->Describe(call), ": ", entries.size(),
          " entries, over etcd's limit of ", client_->options().max_txn_ops,
          " operations per Txn (etcd --max-txn-ops)"));
    }
    return Write(call, Quick(),
                 [&](int64_t lease) {
                   pb::TxnRequest txn;
                   for (const auto& [key, value] : entries) {
                     Put(&txn, layout_.UserKey(key), value, lease);
                   }
                   return txn;
                 })
        .status();
  }

  absl::StatusOr<std::vector<std::string>> ListKeys(
      absl::string_view prefix) override {
    const std::string from = layout_.UserKey(prefix);
    pb::RangeRequest request;
    request.set_key(from);
    request.set_range_end(PrefixEnd(from));
    request.set_keys_only(true);
    pb::RangeResponse response;
    RETURN_IF_ERROR(Range({"ListKeys", {prefix}}, request, &response));
    std::vector<std::string> keys;
    for (const auto& kv : response.kvs()) {
      keys.emplace_back(layout_.StoreKey(kv.key()));
    }
    std::sort(keys.begin(), keys.end());
    return keys;
  }

 private:
  absl::Time Quick() const { return client_->QuickDeadline(); }

  static void Put(pb::TxnRequest* txn, const std::string& key,
                  absl::string_view value, int64_t lease) {
    pb::PutRequest* put = txn->add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(std::string(value));
    put->set_lease(lease);
  }

  absl::Status Range(const EtcdCallInfo& call, const pb::RangeRequest& request,
                     pb::RangeResponse* response) {
    return client_->Call(call, Quick(),
                         [&](EtcdMember& m, grpc::ClientContext& c) {
                           return m.kv->Range(&c, request, response);
                         });
  }

  absl::StatusOr<SeenKey> ReadSeen(const EtcdCallInfo& call,
                                   absl::string_view key) {
    pb::RangeRequest request;
    request.set_key(layout_.UserKey(key));
    pb::RangeResponse response;
    RETURN_IF_ERROR(Range(call, request, &response));
    return SeenFromRange(response);
  }

  // One write Txn built for the run's current lease. A lease that expired
  // while every store of the run was cut off (etcd: NotFound, "requested lease
  // not found") is found or granted again and the Txn sent once more.
  absl::StatusOr<pb::TxnResponse> Write(
      const EtcdCallInfo& call, absl::Time deadline,
      const std::function<pb::TxnRequest(int64_t lease)>& build) {
    RETURN_IF_ERROR(CheckWritable(call));
    for (bool renewed = false;; renewed = true) {
      const int64_t lease = lease_->id();
      const pb::TxnRequest txn = build(lease);
      RETURN_IF_ERROR(client_->CheckRequestSize(call, txn.ByteSizeLong()));
      pb::TxnResponse response;
      const absl::Status status = client_->Call(
          call, deadline, [&](EtcdMember& m, grpc::ClientContext& c) {
            response.Clear();
            return m.kv->Txn(&c, txn, &response);
          });
      if (status.code() == absl::StatusCode::kNotFound && !renewed) {
        RETURN_IF_ERROR(lease_->Renew(lease));
        continue;
      }
      RETURN_IF_ERROR(status);
      return response;
    }
  }

  // Add, Append and CompareSet: decide from the key as seen, write with a
  // compare on what was seen, and on conflict decide again from the key as
  // the failed Txn returned it (store/etcd/txn.h).
  absl::StatusOr<std::string> ReadModifyWrite(const EtcdCallInfo& call,
                                              absl::string_view key,
                                              SeenKey seen,
                                              const Decide& decide) {
    const absl::Time deadline = Quick();
    ConditionalWrite write;
    write.key = layout_.UserKey(key);
    write.record_key = layout_.RequestKey(NewRequestId());
    for (;;) {
      ASSIGN_OR_RETURN(const Decision decision, decide(seen));
      if (!decision.write) return decision.result;
      write.seen = seen;
      write.new_value = decision.new_value;
      write.record_value = decision.result;
      ASSIGN_OR_RETURN(const pb::TxnResponse response,
                       Write(call, deadline, [&](int64_t lease) {
                         write.lease = lease;
                         return BuildConditionalWrite(write);
                       }));
      ConditionalWriteResult result = ParseConditionalWrite(write, response);
      if (result.applied) return std::move(result.result);
      if (absl::Now() >= deadline) {
        return absl::AbortedError(absl::StrCat(
            client_->Describe(call), ": lost to other writers of the key for ",
            FormatWaited(client_->options().rpc_timeout)));
      }
      seen = std::move(result.current);
    }
  }

  // A read-only store (EtcdStoreOptions::read_only) has no lease to attach
  // a write to.
  absl::Status CheckWritable(const EtcdCallInfo& call) const {
    if (lease_ != nullptr) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("etcd: ", call.op, "(", absl::StrJoin(call.keys, ", "),
                     ") on run ", layout_.run_id(),
                     ": this store was opened read-only (it holds no lease)"));
  }

  // A unique id per read-modify-write call: 128 random bits.
  std::string NewRequestId() {
    std::lock_guard<std::mutex> lock(random_mu_);
    return absl::StrCat(
        absl::Hex(absl::Uniform<uint64_t>(random_), absl::kZeroPad16),
        absl::Hex(absl::Uniform<uint64_t>(random_), absl::kZeroPad16));
  }

  const EtcdKeyLayout layout_;
  const std::unique_ptr<EtcdClient> client_;
  EtcdKeyReader reader_;
  std::unique_ptr<RunLease> lease_;
  std::mutex random_mu_;
  absl::BitGen random_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> ConnectEtcdStore(
    const EtcdStoreOptions& options) {
  ASSIGN_OR_RETURN(EtcdKeyLayout layout, EtcdKeyLayout::ForRun(options.run_id));
  ASSIGN_OR_RETURN(std::unique_ptr<EtcdClient> client,
                   EtcdClient::Create(options));
  auto store =
      std::make_unique<EtcdStore>(std::move(layout), std::move(client));
  RETURN_IF_ERROR(store->Init(options.read_only));
  return store;
}

absl::Status DeleteEtcdRun(const EtcdStoreOptions& options) {
  ASSIGN_OR_RETURN(EtcdKeyLayout layout, EtcdKeyLayout::ForRun(options.run_id));
  ASSIGN_OR_RETURN(std::unique_ptr<EtcdClient> client,
                   EtcdClient::Create(options));
  const EtcdCallInfo call{"DeleteRun", {}};
  const absl::Time deadline = client->QuickDeadline();
  pb::RangeRequest find;
  find.set_key(layout.LeaseKey());
  pb::RangeResponse found;
  RETURN_IF_ERROR(
      client->Call(call, deadline, [&](EtcdMember& m, grpc::ClientContext& c) {
        return m.kv->Range(&c, find, &found);
      }));
  int64_t lease = 0;
  if (found.kvs_size() > 0 && absl::SimpleAtoi(found.kvs(0).value(), &lease)) {
    // Revoking deletes every key on the lease at once, in etcd.
    pb::LeaseRevokeRequest revoke;
    revoke.set_id(lease);
    pb::LeaseRevokeResponse revoked;
    const absl::Status status = client->Call(
        call, deadline, [&](EtcdMember& m, grpc::ClientContext& c) {
          return m.lease->LeaseRevoke(&c, revoke, &revoked);
        });
    // NotFound: it expired meanwhile.
    if (!status.ok() && status.code() != absl::StatusCode::kNotFound) {
      return status;
    }
  }
  // Keys written without the lease (none today) and anything left behind.
  pb::DeleteRangeRequest request;
  request.set_key(layout.run_prefix());
  request.set_range_end(PrefixEnd(layout.run_prefix()));
  pb::DeleteRangeResponse response;
  return client->Call(call, deadline,
                      [&](EtcdMember& m, grpc::ClientContext& c) {
                        return m.kv->DeleteRange(&c, request, &response);
                      });
}

}  // namespace tplaunch
