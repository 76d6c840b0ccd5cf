#include "store/etcd/run_lease.h"

#include <algorithm>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tplaunch {
namespace {

namespace pb = ::etcdserverpb;

const EtcdCallInfo kLeaseCall{"lease", {}};

}  // namespace

absl::StatusOr<std::unique_ptr<RunLease>> RunLease::Acquire(
    EtcdClient* client, const EtcdKeyLayout* layout) {
  std::unique_ptr<RunLease> lease(new RunLease(client, layout));
  ASSIGN_OR_RETURN(lease->id_, lease->FindOrGrant());
  lease->keep_alive_ =
      std::thread([raw = lease.get()] { raw->KeepAliveLoop(); });
  return lease;
}

RunLease::~RunLease() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (keep_alive_.joinable()) keep_alive_.join();
}

int64_t RunLease::id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return id_;
}

absl::Status RunLease::Renew(int64_t stale) {
  ASSIGN_OR_RETURN(const int64_t fresh, FindOrGrant());
  std::lock_guard<std::mutex> lock(mu_);
  if (id_ == stale) id_ = fresh;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RunLease::FindOrGrant() {
  const std::string key = layout_->LeaseKey();
  const absl::Time deadline = client_->QuickDeadline();

  pb::RangeRequest find;
  find.set_key(key);
  pb::RangeResponse found;
  RETURN_IF_ERROR(client_->Call(kLeaseCall, deadline,
                                [&](EtcdMember& m, grpc::ClientContext& c) {
                                  return m.kv->Range(&c, find, &found);
                                }));
  int64_t id = 0;
  if (found.kvs_size() > 0 && absl::SimpleAtoi(found.kvs(0).value(), &id)) {
    return id;
  }

  pb::LeaseGrantRequest grant;
  grant.set_ttl(
      std::max<int64_t>(1, absl::ToInt64Seconds(client_->options().lease_ttl)));
  pb::LeaseGrantResponse granted;
  RETURN_IF_ERROR(client_->Call(
      kLeaseCall, deadline, [&](EtcdMember& m, grpc::ClientContext& c) {
        return m.lease->LeaseGrant(&c, grant, &granted);
      }));

  pb::TxnRequest claim;
  pb::Compare* absent = claim.add_compare();
  absent->set_key(key);
  absent->set_target(pb::Compare::CREATE);
  absent->set_result(pb::Compare::EQUAL);
  absent->set_create_revision(0);
  pb::PutRequest* put = claim.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(absl::StrCat(granted.id()));
  put->set_lease(granted.id());
  claim.add_failure()->mutable_request_range()->set_key(key);
  pb::TxnResponse claimed;
  RETURN_IF_ERROR(client_->Call(kLeaseCall, deadline,
                                [&](EtcdMember& m, grpc::ClientContext& c) {
                                  return m.kv->Txn(&c, claim, &claimed);
                                }));
  if (claimed.succeeded()) return granted.id();

  // Another store of the run won: use its lease, drop ours (best effort: an
  // unused lease also expires on its own).
  pb::LeaseRevokeRequest revoke;
  revoke.set_id(granted.id());
  pb::LeaseRevokeResponse revoked;
  client_
      ->Call(kLeaseCall, deadline,
             [&](EtcdMember& m, grpc::ClientContext& c) {
               return m.lease->LeaseRevoke(&c, revoke, &revoked);
             })
      .IgnoreError();
  const pb::RangeResponse& theirs = claimed.responses(0).response_range();
  if (theirs.kvs_size() > 0 && absl::SimpleAtoi(theirs.kvs(0).value(), &id)) {
    return id;
  }
  return absl::InternalError(
      absl::StrCat("etcd lease of run '", layout_->run_id(), "': key ", key,
                   " neither absent nor holding a lease id"));
}

absl::StatusOr<int64_t> RunLease::KeepAliveOnce(int64_t id) {
  int64_t ttl = 0;
  RETURN_IF_ERROR(client_->Call(
      // One attempt's time, not a call's: the store's destructor waits for
      // this round trip to end.
      kLeaseCall, absl::Now() + client_->options().attempt_timeout,
      [&](EtcdMember& m, grpc::ClientContext& c) {
        auto stream = m.lease->LeaseKeepAlive(&c);
        pb::LeaseKeepAliveRequest request;
        request.set_id(id);
        pb::LeaseKeepAliveResponse response;
        if (stream->Write(request) && stream->Read(&response)) {
          ttl = response.ttl();
          c.TryCancel();  // One round trip is all this stream is for.
          stream->Finish().IgnoreError();
          return grpc::Status::OK;
        }
        return stream->Finish();
      }));
  return ttl;
}

void RunLease::KeepAliveLoop() {
  const absl::Duration period =
      std::max(client_->options().lease_ttl / 3, absl::Milliseconds(100));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(period),
                            [&] { return stop_; })) {
    const int64_t id = id_;
    lock.unlock();
    const absl::StatusOr<int64_t> ttl = KeepAliveOnce(id);
    // A lease that expired (ttl 0) is found or granted again now rather than
    // at the next write; an unreachable cluster is tried again next period.
    if (ttl.ok() && *ttl <= 0) Renew(id).IgnoreError();
    lock.lock();
  }
}

}  // namespace tplaunch
