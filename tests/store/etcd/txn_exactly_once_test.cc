// The exactly-once design of store/etcd/txn.h against a real etcd: a
// conditional write sent twice (the retry after a reply lost in a failover)
// is applied once and the retry returns the recorded result; a first try that
// arrives after its retry and after another writer applies nothing.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "store/etcd/gen/rpc.grpc.pb.h"
#include "store/etcd/txn.h"
#include "tests/store/etcd/etcd_cluster.h"

namespace tplaunch {
namespace {

namespace pb = ::etcdserverpb;

class RawEtcd {
 public:
  explicit RawEtcd(const testing::EtcdCluster& etcd)
      : kv_(pb::KV::NewStub(
            grpc::CreateChannel(etcd.endpoints()[0].ToString(),
                                grpc::InsecureChannelCredentials()))) {}

  ConditionalWriteResult Send(const ConditionalWrite& write) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    pb::TxnResponse response;
    const grpc::Status status =
        kv_->Txn(&context, BuildConditionalWrite(write), &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    return ParseConditionalWrite(write, response);
  }

  SeenKey Read(const std::string& key) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    pb::RangeRequest request;
    request.set_key(key);
    pb::RangeResponse response;
    REQUIRE(kv_->Range(&context, request, &response).ok());
    if (response.kvs_size() > 0) {
      version_ = response.kvs(0).version();
    }
    return SeenFromRange(response);
  }
  // The version (number of writes since creation) of the key last Read.
  int64_t version() const { return version_; }

 private:
  std::unique_ptr<pb::KV::Stub> kv_;
  int64_t version_ = 0;
};

ConditionalWrite Increment(const SeenKey& seen, const std::string& next,
                           const std::string& request) {
  ConditionalWrite write;
  write.key = "/t/counter";
  write.seen = seen;
  write.new_value = next;
  write.record_key = absl::StrCat("/t/r/", request);
  write.record_value = next;
  return write;
}

TEST_CASE("A conditional write sent twice is applied once", "[etcd][txn]") {
  testing::EtcdCluster etcd(1);
  RawEtcd raw(etcd);

  const ConditionalWrite first = Increment(SeenKey{}, "1", "a");
  const ConditionalWriteResult sent = raw.Send(first);
  REQUIRE(sent.applied);
  REQUIRE(sent.result == "1");
  // The reply was "lost": the same Txn again, as the retry sends it.
  const ConditionalWriteResult retried = raw.Send(first);
  REQUIRE(retried.applied);
  REQUIRE(retried.result == "1");
  const SeenKey after = raw.Read("/t/counter");
  REQUIRE(after.value == "1");
  REQUIRE(raw.version() == 1);

  // A conflict that is not a retry: the current key comes back in the reply.
  const ConditionalWriteResult stale = raw.Send(Increment(SeenKey{}, "1", "b"));
  REQUIRE_FALSE(stale.applied);
  REQUIRE(stale.current.exists);
  REQUIRE(stale.current.value == "1");
  REQUIRE(stale.current.mod_revision == after.mod_revision);
}

TEST_CASE("A first try that lands after its retry applies nothing",
          "[etcd][txn]") {
  testing::EtcdCluster etcd(1);
  RawEtcd raw(etcd);
  REQUIRE(raw.Send(Increment(SeenKey{}, "1", "setup")).applied);
  const SeenKey seen = raw.Read("/t/counter");

  // The retry of request "c" applies; then another writer moves the key on.
  const ConditionalWrite c = Increment(seen, "2", "c");
  REQUIRE(raw.Send(c).applied);
  const SeenKey after_c = raw.Read("/t/counter");
  REQUIRE(raw.Send(Increment(after_c, "3", "d")).applied);
  // The first try of "c", delayed in an old leader's log, arrives now.
  const ConditionalWriteResult late = raw.Send(c);
  REQUIRE(late.applied);  // Reported as the call's own earlier success ...
  REQUIRE(late.result == "2");
  REQUIRE(raw.Read("/t/counter").value == "3");  // ... and not applied again.
  REQUIRE(raw.version() == 3);
}

}  // namespace
}  // namespace tplaunch
