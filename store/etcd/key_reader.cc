#include "store/etcd/key_reader.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "store/error_text.h"
#include "store/etcd/watch_waiter.h"

namespace tplaunch {
namespace {

namespace pb = ::etcdserverpb;

// An infinite timeout waits this long (a deadline gRPC can carry).
constexpr absl::Duration kMaxBlockingTimeout = absl::Hours(24 * 30);
constexpr absl::Duration kMaxWatchBackoff = absl::Milliseconds(500);

}  // namespace

absl::StatusOr<KeysRead> EtcdKeyReader::ReadKeys(
    const EtcdCallInfo& call, absl::Span<const std::string> keys,
    absl::Time deadline, bool keys_only) {
  KeysRead read;
  const size_t chunk = std::max(1, client_->options().max_txn_ops);
  for (size_t first = 0; first == 0 || first < keys.size(); first += chunk) {
    pb::TxnRequest txn;
    const size_t end = std::min(keys.size(), first + chunk);
    for (size_t i = first; i < end; ++i) {
      pb::RangeRequest* range = txn.add_success()->mutable_request_range();
      range->set_key(layout_->UserKey(keys[i]));
      range->set_keys_only(keys_only);
      range->set_revision(read.revision);
    }
    pb::TxnResponse response;
    RETURN_IF_ERROR(client_->Call(call, deadline,
                                  [&](EtcdMember& m, grpc::ClientContext& c) {
                                    response.Clear();
                                    return m.kv->Txn(&c, txn, &response);
                                  }));
    if (first == 0) read.revision = response.header().revision();
    for (const auto& op : response.responses()) {
      const auto& range = op.response_range();
      if (range.kvs_size() == 0) {
        read.values.emplace_back(std::nullopt);
      } else {
        read.values.emplace_back(range.kvs(0).value());
      }
    }
    if (keys.empty()) break;
  }
  return read;
}

absl::StatusOr<std::vector<std::string>> EtcdKeyReader::AwaitKeys(
    const EtcdCallInfo& call, absl::Span<const std::string> keys,
    absl::Duration timeout) {
  const absl::Duration wait =
      std::clamp(timeout, absl::ZeroDuration(), kMaxBlockingTimeout);
  const absl::Time deadline = absl::Now() + wait;
  absl::Duration backoff = client_->options().initial_backoff;
  for (;;) {
    // A key that exists is returned even with a zero timeout: the read
    // itself may take one attempt's time.
    ASSIGN_OR_RETURN(
        KeysRead read,
        ReadKeys(call, keys,
                 std::max(deadline,
                          absl::Now() + client_->options().attempt_timeout),
                 false));
    std::vector<std::string> missing;
    std::vector<absl::string_view> missing_names;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (read.values[i]) continue;
      missing.push_back(layout_->UserKey(keys[i]));
      missing_names.push_back(keys[i]);
    }
    if (missing.empty()) {
      std::vector<std::string> values;
      for (auto& value : read.values) values.push_back(std::move(*value));
      return values;
    }
    absl::Status watched = absl::DeadlineExceededError("");
    if (absl::Now() < deadline) {
      watched = WatchForPuts(*client_, missing, read.revision, deadline);
    }
    if (watched.ok()) continue;
    if (watched.code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError(absl::StrCat(
          TimeoutMessage(wait, missing_names, keys.size(), true, ""),
          " in run '", absl::CHexEscape(layout_->run_id()), "' (etcd at ",
          client_->EndpointList(), ")"));
    }
    if (watched.code() != absl::StatusCode::kUnavailable) return watched;
    // The member went away mid-watch: read again (on the next member).
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(std::max(
        absl::ZeroDuration(), std::min(backoff, deadline - absl::Now()))));
    backoff = std::min(backoff * 2, kMaxWatchBackoff);
  }
}

}  // namespace tplaunch
