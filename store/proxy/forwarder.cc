#include "store/proxy/forwarder.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/error_text.h"

namespace tplaunch {
namespace {

// Identical calls share a call key: the op and the keys, each length-prefixed
// so that no two different key lists encode alike.
std::string CallKey(BlockingOp op, absl::Span<const std::string> keys) {
  std::string call_key(BlockingOpName(op));
  for (const std::string& key : keys) {
    absl::StrAppend(&call_key, "|", key.size(), ":", key);
  }
  return call_key;
}

std::vector<absl::string_view> Views(absl::Span<const std::string> keys) {
  return std::vector<absl::string_view>(keys.begin(), keys.end());
}

// The timer sleeps at most this long, so a far (or infinite) deadline never
// overflows the condition variable's clock.
constexpr absl::Duration kMaxTimerSleep = absl::Minutes(10);

}  // namespace

absl::string_view BlockingOpName(BlockingOp op) {
  switch (op) {
    case BlockingOp::kGet:
      return "Get";
    case BlockingOp::kWait:
      return "Wait";
    case BlockingOp::kMultiGet:
      return "MultiGet";
  }
  return "?";
}

Forwarder::Forwarder(std::shared_ptr<Store> upstream,
                     const StoreProxyOptions& options)
    : upstream_(std::move(upstream)),
      options_(options),
      table_(options.upstream_answer_grace),
      blocking_pool_(options.max_blocking_upstream_calls),
      quick_pool_(options.max_quick_upstream_calls),
      timer_([this] { TimerLoop(); }) {}

Forwarder::~Forwarder() {
  Shutdown();
  quick_pool_.Join();
  blocking_pool_.Join();
}

absl::Status Forwarder::FromUpstream(const absl::Status& status,
                                     absl::string_view op,
                                     absl::Span<const std::string> keys,
                                     absl::Duration waited) const {
  if (status.ok()) return status;
  const std::vector<absl::string_view> views = Views(keys);
  return absl::Status(
      status.code(),
      absl::StrCat(
          "node-local store proxy: ", options_.upstream_name, " answered ", op,
          views.empty() ? "" : absl::StrCat(" of ", DescribeKeys(views)),
          InJob(options_.job), " after ", FormatWaited(waited),
          " with: ", status.message()));
}

Forwarder::Ticket Forwarder::StartBlocking(BlockingOp op,
                                           std::vector<std::string> keys,
                                           absl::Time deadline, CallDone done) {
  Ticket ticket;
  ticket.call_key = CallKey(op, keys);
  const absl::Time now = absl::Now();
  bool start = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!shut_down_) {
      CallTable::Joined joined =
          table_.Join(ticket.call_key, now, deadline, std::move(done));
      ticket.caller = joined.caller;
      start = joined.start_upstream;
      if (start) {
        calls_[ticket.call_key] = Call{op, std::move(keys), ticket.call_key};
      }
    }
  }
  if (ticket.caller == 0) {
    done(absl::UnavailableError(absl::StrCat(
        "node-local store proxy for ", options_.upstream_name,
        " is shutting down; ", BlockingOpName(op), " was not forwarded")));
    return ticket;
  }
  timer_wake_.notify_one();
  if (start) {
    Call call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      call = calls_.at(ticket.call_key);
    }
    if (!blocking_pool_.Submit([this, call] { RunUpstream(call); })) {
      // Shut down in between: Shutdown answered the callers already; drop
      // the entry the upstream call would have finished.
      std::lock_guard<std::mutex> lock(mu_);
      table_.Finish(call.call_key, absl::CancelledError("shut down"), now);
      calls_.erase(call.call_key);
    }
  }
  return ticket;
}

int64_t Forwarder::waiting_callers() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(table_.callers());
}

bool Forwarder::Cancel(const Ticket& ticket) {
  if (ticket.caller == 0) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return table_.Leave(ticket.call_key, ticket.caller);
}

bool Forwarder::RunQuick(std::function<void(Store&)> call) {
  return quick_pool_.Submit(
      [upstream = upstream_, call = std::move(call)] { call(*upstream); });
}

CallResult Forwarder::CallUpstream(const Call& call, absl::Duration timeout) {
  upstream_blocking_calls_.fetch_add(1);
  switch (call.op) {
    case BlockingOp::kGet: {
      absl::StatusOr<std::string> value =
          upstream_->Get(call.keys.front(), timeout);
      if (!value.ok()) return value.status();
      return std::vector<std::string>{std::move(*value)};
    }
    case BlockingOp::kWait: {
      absl::Status status = upstream_->Wait(call.keys, timeout);
      if (!status.ok()) return status;
      return std::vector<std::string>{};
    }
    case BlockingOp::kMultiGet:
      return upstream_->MultiGet(call.keys, timeout);
  }
  return absl::InternalError("unknown blocking op");
}

void Forwarder::RunUpstream(const Call& call) {
  for (;;) {
    const absl::Time start = absl::Now();
    std::optional<absl::Time> until;
    {
      std::lock_guard<std::mutex> lock(mu_);
      until =
          table_.StartUpstream(call.call_key, start, options_.upstream_slice);
    }
    // Everyone left while the call was queued or running: ask nothing more.
    CallResult result = absl::DeadlineExceededError("no caller left");
    if (until.has_value()) {
      result =
          CallUpstream(call, std::max(*until - start, absl::ZeroDuration()));
    }
    const absl::Time now = absl::Now();
    CallTable::Finished finished;
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished = table_.Finish(call.call_key, result, now);
      if (!finished.restart) calls_.erase(call.call_key);
    }
    AnswerExpired(call, std::move(finished.expired), now);
    for (CallTable::Answer& answer : finished.answered) {
      if (result.ok()) {
        answer.done(result);
      } else {
        answer.done(FromUpstream(result.status(), BlockingOpName(call.op),
                                 call.keys, now - answer.joined));
      }
    }
    if (!finished.restart) return;
  }
}

void Forwarder::AnswerExpired(const Call& call,
                              std::vector<CallTable::Answer> due,
                              absl::Time now) {
  const std::vector<absl::string_view> views = Views(call.keys);
  for (CallTable::Answer& answer : due) {
    answer.done(absl::DeadlineExceededError(absl::StrCat(
        "timed out after ", FormatWaited(now - answer.joined), " waiting for ",
        DescribeKeys(views), InJob(options_.job), " (", BlockingOpName(call.op),
        " through the node-local store proxy; upstream ",
        options_.upstream_name, ")")));
  }
}

void Forwarder::TimerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!shut_down_) {
    const absl::Time now = absl::Now();
    const absl::Time wake =
        std::min(table_.NextDeadline().value_or(absl::InfiniteFuture()),
                 now + kMaxTimerSleep);
    if (wake > now) {
      timer_wake_.wait_until(lock, absl::ToChronoTime(wake));
      continue;
    }
    std::vector<CallTable::Answer> due = table_.ExpireDue(now);
    // The calls' keys, copied while their entries are sure to exist.
    std::vector<Call> of;
    of.reserve(due.size());
    for (const CallTable::Answer& answer : due) {
      of.push_back(calls_.at(answer.call_key));
    }
    lock.unlock();
    for (size_t i = 0; i < due.size(); ++i) {
      std::vector<CallTable::Answer> one;
      one.push_back(std::move(due[i]));
      AnswerExpired(of[i], std::move(one), now);
    }
    lock.lock();
  }
}

void Forwarder::Shutdown() {
  std::vector<CallTable::Answer> all;
  std::vector<Call> of;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    all = table_.TakeAll();
    for (const CallTable::Answer& answer : all) {
      of.push_back(calls_.at(answer.call_key));
    }
  }
  timer_wake_.notify_all();
  for (size_t i = 0; i < all.size(); ++i) {
    all[i].done(absl::UnavailableError(
        absl::StrCat("node-local store proxy for ", options_.upstream_name,
                     " shut down while ", BlockingOpName(of[i].op), " waited ",
                     FormatWaited(absl::Now() - all[i].joined), " for ",
                     DescribeKeys(Views(of[i].keys)), InJob(options_.job))));
  }
  if (timer_.joinable()) timer_.join();
  // Queued tasks still run (and finish their calls); nothing new is taken.
  quick_pool_.Stop();
  blocking_pool_.Stop();
}

}  // namespace tplaunch
