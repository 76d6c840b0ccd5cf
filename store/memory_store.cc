#include "store/memory_store.h"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/time/clock.h"
#include "store/kv_table.h"

namespace tplaunch {
namespace {

// The single job every MemoryStore key lives in: the table is private to the
// store.
constexpr absl::string_view kJob = "memory";

// Rendezvous point between a parked KvTable waiter and the thread blocked on
// it.
struct PendingWait {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::StatusOr<std::vector<std::string>>> result;
};

class MemoryStore final : public Store {
 public:
  absl::Status Set(absl::string_view key, absl::string_view value) override {
    return table_.Set(kJob, key, value);
  }

  absl::StatusOr<std::string> Get(absl::string_view key,
                                  absl::Duration timeout) override {
    const std::string keys[] = {std::string(key)};
    absl::StatusOr<std::vector<std::string>> values =
        BlockingWait(keys, timeout, /*want_values=*/true);
    if (!values.ok()) return values.status();
    return std::move(values->front());
  }

  absl::StatusOr<std::string> TryGet(absl::string_view key) override {
    return table_.TryGet(kJob, key);
  }

  absl::StatusOr<bool> Check(absl::Span<const std::string> keys) override {
    return table_.Check(kJob, keys);
  }

  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta) override {
    return table_.Add(kJob, key, delta);
  }

  absl::StatusOr<std::string> CompareSet(absl::string_view key,
                                         absl::string_view expected,
                                         absl::string_view desired) override {
    return table_.CompareSet(kJob, key, expected, desired);
  }

  absl::Status Wait(absl::Span<const std::string> keys,
                    absl::Duration timeout) override {
    return BlockingWait(keys, timeout, /*want_values=*/false).status();
  }

  absl::StatusOr<bool> DeleteKey(absl::string_view key) override {
    return table_.DeleteKey(kJob, key);
  }

  absl::StatusOr<int64_t> NumKeys() override { return table_.NumKeys(kJob); }

  absl::Status Append(absl::string_view key, absl::string_view value) override {
    return table_.Append(kJob, key, value);
  }

  absl::StatusOr<std::vector<std::string>> MultiGet(
      absl::Span<const std::string> keys, absl::Duration timeout) override {
    return BlockingWait(keys, timeout, /*want_values=*/true);
  }

  absl::Status MultiSet(
      absl::Span<const std::pair<std::string, std::string>> entries) override {
    return table_.MultiSet(kJob, entries);
  }

  absl::StatusOr<std::vector<std::string>> ListKeys(
      absl::string_view prefix) override {
    return table_.ListKeys(kJob, prefix);
  }

 private:
  // Parks a table waiter and sleeps on a condition variable until it completes.
  // At the deadline the table itself expires the waiter, so the
  // DeadlineExceeded message (keys, time waited) is the same one the daemon
  // sends.
  absl::StatusOr<std::vector<std::string>> BlockingWait(
      absl::Span<const std::string> keys, absl::Duration timeout,
      bool want_values) {
    auto pending = std::make_shared<PendingWait>();
    const absl::Time deadline = absl::Now() + timeout;
    absl::StatusOr<KvTable::WaitStart> start = table_.StartWait(
        kJob, keys, deadline, want_values,
        [pending](absl::StatusOr<std::vector<std::string>> result) {
          std::lock_guard<std::mutex> lock(pending->mu);
          pending->result = std::move(result);
          pending->cv.notify_all();
        });
    if (!start.ok()) return start.status();
    if (start->ready) return std::move(start->values);

    std::unique_lock<std::mutex> lock(pending->mu);
    while (!pending->result.has_value()) {
      const absl::Time now = absl::Now();
      if (now >= deadline) {
        // Expiry runs the callback, which takes pending->mu: release it
        // meanwhile.
        lock.unlock();
        table_.ExpireDeadlines(now);
        lock.lock();
        continue;
      }
      // Bounded so an infinite timeout never overflows the chrono conversion.
      pending->cv.wait_until(
          lock, absl::ToChronoTime(std::min(deadline, now + absl::Hours(1))));
    }
    return std::move(*pending->result);
  }

  KvTable table_;
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() {
  return std::make_unique<MemoryStore>();
}

}  // namespace tplaunch
