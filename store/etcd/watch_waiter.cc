#include "store/etcd/watch_waiter.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace tplaunch {

namespace pb = ::etcdserverpb;

absl::Status WatchForPuts(EtcdClient& client,
                          const std::vector<std::string>& etcd_keys,
                          int64_t after_revision, absl::Time deadline) {
  std::set<std::string> unseen(etcd_keys.begin(), etcd_keys.end());
  const size_t index = client.CurrentMember();
  EtcdMember& member = client.member(index);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  auto stream = member.watch->Watch(&context);

  pb::WatchRequest request;
  pb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(*unseen.begin());
  // Up to and including the greatest key: etcd's range_end is exclusive.
  create->set_range_end(*unseen.rbegin() + std::string(1, '\0'));
  create->set_start_revision(after_revision + 1);
  create->add_filters(pb::WatchCreateRequest::NODELETE);

  bool cancelled_by_etcd = false;
  if (stream->Write(request)) {
    pb::WatchResponse response;
    while (stream->Read(&response)) {
      if (response.canceled() || response.compact_revision() != 0) {
        cancelled_by_etcd = true;
        break;
      }
      for (const auto& event : response.events()) {
        if (event.type() == mvccpb::Event::PUT) unseen.erase(event.kv().key());
      }
      if (unseen.empty()) break;
    }
  }
  if (unseen.empty() || cancelled_by_etcd) context.TryCancel();
  const grpc::Status status = stream->Finish();
  if (unseen.empty()) return absl::OkStatus();
  if (cancelled_by_etcd) {
    return absl::UnavailableError(
        absl::StrCat("etcd at ", member.endpoint, " cancelled the watch"));
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
      absl::Now() >= deadline) {
    return absl::DeadlineExceededError("watch deadline");
  }
  client.MemberFailed(index);
  return absl::UnavailableError(absl::StrCat(
      "etcd watch at ", member.endpoint, " broke: ", status.error_message()));
}

}  // namespace tplaunch
