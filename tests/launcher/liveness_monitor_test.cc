// The liveness monitor against a store that stops answering: two nodes as
// threads over one MemoryStore behind a switch that makes every call fail the
// way a dead (Unavailable) or frozen (DeadlineExceeded) tprdzvd does.
#include "launcher/liveness_monitor.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/key_layout.h"
#include "common/records.h"
#include "launcher/node_rendezvous.h"
#include "store/memory_store.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace {

using testing::WaitFor;

enum class Outage { kNone, kDead, kFrozen };

// Forwards to `inner` unless an outage is on; then every call fails at once.
#define RETURN_IF_OUT() \
  if (outage_ != Outage::kNone) return OutStatus()
class SwitchedStore final : public Store {
 public:
  explicit SwitchedStore(Store* inner) : inner_(inner) {}

  void SetOutage(Outage o) { outage_ = o; }

  absl::Status Set(absl::string_view key, absl::string_view value) override {
    RETURN_IF_OUT();
    return inner_->Set(key, value);
  }
  absl::StatusOr<std::string> Get(absl::string_view key,
                                  absl::Duration timeout) override {
    RETURN_IF_OUT();
    return inner_->Get(key, timeout);
  }
  absl::StatusOr<std::string> TryGet(absl::string_view key) override {
    RETURN_IF_OUT();
    return inner_->TryGet(key);
  }
  absl::StatusOr<bool> Check(absl::Span<const std::string> keys) override {
    RETURN_IF_OUT();
    return inner_->Check(keys);
  }
  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta) override {
    RETURN_IF_OUT();
    return inner_->Add(key, delta);
  }
  absl::StatusOr<std::string> CompareSet(absl::string_view key,
                                         absl::string_view expected,
                                         absl::string_view desired) override {
    RETURN_IF_OUT();
    return inner_->CompareSet(key, expected, desired);
  }
  absl::Status Wait(absl::Span<const std::string> keys,
                    absl::Duration timeout) override {
    RETURN_IF_OUT();
    return inner_->Wait(keys, timeout);
  }
  absl::StatusOr<bool> DeleteKey(absl::string_view key) override {
    RETURN_IF_OUT();
    return inner_->DeleteKey(key);
  }
  absl::StatusOr<int64_t> NumKeys() override {
    RETURN_IF_OUT();
    return inner_->NumKeys();
  }
  absl::Status Append(absl::string_view key, absl::string_view value) override {
    RETURN_IF_OUT();
    return inner_->Append(key, value);
  }
  absl::StatusOr<std::vector<std::string>> MultiGet(
      absl::Span<const std::string> keys, absl::Duration timeout) override {
    RETURN_IF_OUT();
    return inner_->MultiGet(keys, timeout);
  }
  absl::Status MultiSet(
      absl::Span<const std::pair<std::string, std::string>> entries) override {
    RETURN_IF_OUT();
    return inner_->MultiSet(entries);
  }
  absl::StatusOr<std::vector<std::string>> ListKeys(
      absl::string_view prefix) override {
    RETURN_IF_OUT();
    return inner_->ListKeys(prefix);
  }

 private:
  absl::Status OutStatus() const {
    return outage_ == Outage::kDead
               ? absl::UnavailableError("tprdzvd at test:1 is unavailable")
               : absl::DeadlineExceededError("no reply within 50ms");
  }

  Store* inner_;
  std::atomic<Outage> outage_{Outage::kNone};
};
#undef RETURN_IF_OUT

struct EndBox {
  absl::Mutex mu;
  std::optional<AttemptEnd> end;
  absl::Notification done;
  LivenessMonitor::EndCallback Callback() {
    return [this](const AttemptEnd& e) {
      {
        absl::MutexLock lock(&mu);
        end = e;
      }
      done.Notify();
    };
  }
  std::string Reason() {
    absl::MutexLock lock(&mu);
    return end ? end->reason : "";
  }
};

// Node `rank` of a two-node attempt 0 of run "job", slot = rank.
NodeAssignment Assignment(int rank) {
  NodeAssignment a;
  a.attempt = 0;
  a.slot = rank;
  a.node_rank = rank;
  a.num_nodes = 2;
  for (const char* host : {"hostA", "hostB"}) {
    NodeInfo n;
    n.host = host;
    n.addr = absl::StrCat("10.0.0.", a.nodes.size() + 1);
    a.nodes.push_back(n);
  }
  a.slot_of_rank = {0, 1};
  a.world_size = 2;
  a.rank_offset = rank;
  return a;
}

NodeRendezvousOptions TwoNodes() {
  NodeRendezvousOptions o;
  o.run_id = "job";
  o.min_nodes = 2;
  o.max_nodes = 2;
  return o;
}

LivenessOptions Fast(absl::Duration outage_timeout) {
  LivenessOptions lo;
  // Wide enough that a thread descheduled on a loaded 2-core machine is not
  // taken for a dead node.
  lo.interval = absl::Milliseconds(50);
  lo.timeout = absl::Milliseconds(500);
  lo.store_outage_timeout = outage_timeout;
  lo.store_name = "tprdzvd at test:1";
  return lo;
}

// The seq of `slot`'s last heartbeat in `store`, or -1.
int64_t Seq(Store* store, int slot) {
  const std::string key = HeartbeatKey("job", 0, slot);
  absl::StatusOr<std::string> v = store->TryGet(key);
  if (!v.ok()) return -1;
  absl::StatusOr<HeartbeatRecord> r = HeartbeatRecord::Decode(key, *v);
  return r.ok() ? r->seq : -1;
}

// Waits until both nodes wrote `rounds` more heartbeats than now.
bool BothAdvance(Store* store, int64_t rounds) {
  const int64_t a = Seq(store, 0);
  const int64_t b = Seq(store, 1);
  return WaitFor(
      [&] {
        return Seq(store, 0) >= a + rounds && Seq(store, 1) >= b + rounds;
      },
      absl::Seconds(20));
}

TEST_CASE(
    "a store silent past the heartbeat timeout but within the outage timeout "
    "kills nobody") {
  for (Outage kind : {Outage::kDead, Outage::kFrozen}) {
    auto memory = NewMemoryStore();
    SwitchedStore store(memory.get());
    NodeRendezvous r(&store, TwoNodes());
    const LivenessOptions lo = Fast(absl::Seconds(30));
    EndBox a, b;
    LivenessMonitor ma(&r, Assignment(0), lo, a.Callback());
    LivenessMonitor mb(&r, Assignment(1), lo, b.Callback());
    REQUIRE(BothAdvance(memory.get(), 2));

    store.SetOutage(kind);
    const absl::Time out_at = absl::Now();
    // Three heartbeat timeouts without an answer: the old monitor failed
    // after one, blaming the store or a node.
    CHECK_FALSE(a.done.WaitForNotificationWithTimeout(3 * lo.timeout));
    CHECK(absl::Now() - out_at >= 3 * lo.timeout);
    store.SetOutage(Outage::kNone);

    // More than two heartbeat timeouts of answered rounds: a peer's silence
    // during the outage was not held against it.
    const int64_t rounds = 2 * (lo.timeout / lo.interval) + 2;
    const bool advanced = BothAdvance(memory.get(), rounds);
    INFO("A: " << a.Reason() << " / B: " << b.Reason());
    REQUIRE(advanced);
    CHECK_FALSE(a.done.HasBeenNotified());
    CHECK_FALSE(b.done.HasBeenNotified());
  }
}

TEST_CASE(
    "a store silent past the outage timeout fails every node, naming the "
    "store and for how long") {
  for (Outage kind : {Outage::kDead, Outage::kFrozen}) {
    auto memory = NewMemoryStore();
    SwitchedStore store(memory.get());
    NodeRendezvous r(&store, TwoNodes());
    const LivenessOptions lo = Fast(absl::Milliseconds(1500));
    EndBox a, b;
    LivenessMonitor ma(&r, Assignment(0), lo, a.Callback());
    LivenessMonitor mb(&r, Assignment(1), lo, b.Callback());
    REQUIRE(BothAdvance(memory.get(), 2));
    store.SetOutage(kind);
    const absl::Time out_at = absl::Now();
    REQUIRE(a.done.WaitForNotificationWithTimeout(absl::Seconds(20)));
    REQUIRE(b.done.WaitForNotificationWithTimeout(absl::Seconds(20)));
    // Counted from the last round the store answered, up to a round before.
    CHECK(absl::Now() - out_at >= lo.store_outage_timeout - 2 * lo.interval);
    for (EndBox* box : {&a, &b}) {
      const std::string reason = box->Reason();
      INFO(reason);
      CHECK_THAT(reason, Catch::Contains("tprdzvd at test:1"));
      CHECK_THAT(reason, Catch::Contains("has not answered for"));
      CHECK_THAT(reason, Catch::Contains("--store-outage-timeout 1.5s"));
      CHECK_THAT(reason, !Catch::Contains("stopped heartbeating"));
      absl::MutexLock lock(&box->mu);
      CHECK(box->end->kind == AttemptEnd::Kind::kFailed);
    }
  }
}

TEST_CASE(
    "a peer that stays silent after an outage is dead once the store has "
    "answered for the heartbeat timeout") {
  auto memory = NewMemoryStore();
  SwitchedStore store(memory.get());
  NodeRendezvous r(&store, TwoNodes());
  const LivenessOptions lo = Fast(absl::Seconds(30));
  EndBox a, b;
  LivenessMonitor ma(&r, Assignment(0), lo, a.Callback());
  {
    LivenessMonitor mb(&r, Assignment(1), lo, b.Callback());
    REQUIRE(BothAdvance(memory.get(), 2));
    store.SetOutage(Outage::kDead);
  }  // B dies during the outage.
  CHECK_FALSE(a.done.WaitForNotificationWithTimeout(3 * lo.timeout));
  store.SetOutage(Outage::kNone);
  const absl::Time back_at = absl::Now();
  REQUIRE(a.done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  CHECK(absl::Now() - back_at >= lo.timeout);
  const std::string reason = a.Reason();
  INFO(reason);
  CHECK_THAT(reason, Catch::Contains("node 1 on hostB"));
  CHECK_THAT(reason, Catch::Contains("stopped heartbeating"));
}

TEST_CASE(
    "a daemon restarted without its state ends the attempt, naming the "
    "restart, for every node") {
  auto memory = NewMemoryStore();
  NodeRendezvous r(memory.get(), TwoNodes());
  absl::Mutex mu;
  std::string incarnation = "one";
  LivenessOptions lo = Fast(absl::Seconds(30));
  lo.store_incarnation = [&] {
    absl::MutexLock lock(&mu);
    return incarnation;
  };
  EndBox a, b;
  LivenessMonitor ma(&r, Assignment(0), lo, a.Callback());
  LivenessMonitor mb(&r, Assignment(1), lo, b.Callback());
  REQUIRE(BothAdvance(memory.get(), 2));
  CHECK_FALSE(a.done.HasBeenNotified());
  {
    absl::MutexLock lock(&mu);
    incarnation = "two";
  }
  REQUIRE(a.done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  REQUIRE(b.done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  for (EndBox* box : {&a, &b}) {
    const std::string reason = box->Reason();
    INFO(reason);
    CHECK_THAT(reason,
               Catch::Contains("tprdzvd at test:1 restarted without the job's "
                               "state (incarnation one, now two)"));
    absl::MutexLock lock(&box->mu);
    CHECK(box->end->kind == AttemptEnd::Kind::kFailed);
  }
  // Written into the (new) store: a node that joined attempt 0 there stops.
  absl::StatusOr<std::string> end = memory->TryGet(EndKey("job", 0));
  REQUIRE(end.ok());
  absl::StatusOr<AttemptEnd> stored = AttemptEnd::Decode("end", *end);
  REQUIRE(stored.ok());
  CHECK_THAT(stored->reason,
             Catch::Contains("restarted without the job's state"));
}

}  // namespace
}  // namespace tplaunch
