#include "rendezvous/torch_store/session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "rendezvous/torch_store/encoder.h"
#include "store/error_text.h"

namespace tplaunch {
namespace torch_store {
namespace {

absl::Status Annotate(const absl::Status& status, const Request& request) {
  return absl::Status(
      status.code(),
      absl::StrCat(OpName(request.op),
                   request.keys.empty() ? "" : " " + QuoteKey(request.keys[0]),
                   ": ", status.message()));
}

void AppendWaitReply(std::string* out, WaitReply reply) {
  AppendU8(out, static_cast<uint8_t>(reply));
}

}  // namespace

Session::Session(StoreContext* context, std::shared_ptr<NoticeSink> sink,
                 uint64_t id)
    : context_(context),
      sink_(std::move(sink)),
      id_(id),
      decoder_(context->limits) {}

Session::~Session() {
  for (auto& [seq, wait] : waits_) {
    context_->table->CancelWaiter(wait.waiter);
    if (wait.queue_registered) {
      context_->queues.RemoveWaiter(id_, seq, wait.keys);
    }
  }
  if (watching_) context_->watches.RemoveSession(id_);
}

absl::Status Session::Consume(absl::string_view* input, std::string* out,
                              size_t out_limit) {
  while (!input->empty() && out->size() < out_limit) {
    absl::StatusOr<bool> done = decoder_.Next(input, &request_);
    if (!done.ok()) return done.status();
    if (!*done) break;
    if (absl::Status status = Execute(request_, out); !status.ok()) {
      return Annotate(status, request_);
    }
  }
  return absl::OkStatus();
}

WaiterCallback Session::WaitCallback(uint64_t seq) {
  // Runs on whichever thread released the waiter; only posts.
  return [sink = sink_, id = id_,
          seq](absl::StatusOr<std::vector<std::string>> result) {
    Notice notice;
    notice.kind = Notice::Kind::kWaitDone;
    notice.wait_seq = seq;
    notice.status = result.status();
    sink->Post(id, std::move(notice));
  };
}

absl::Status Session::Set(absl::string_view key, absl::string_view value) {
  if (!context_->watches.Watched(key)) {
    return context_->table->Set(context_->job, key, value);
  }
  absl::StatusOr<std::string> old = context_->table->TryGet(context_->job, key);
  if (absl::Status status = context_->table->Set(context_->job, key, value);
      !status.ok()) {
    return status;
  }
  NotifyWatchers(key, old.ok(), old.ok() ? *old : "", value,
                 WatchReply::kKeyUpdated);
  return absl::OkStatus();
}

void Session::NotifyWatchers(absl::string_view key, bool existed,
                             absl::string_view old_value,
                             absl::string_view new_value, WatchReply changed) {
  context_->watches.Notify(key, existed ? changed : WatchReply::kKeyCreated,
                           old_value, new_value);
}

absl::Status Session::Execute(Request& request, std::string* out) {
  KvTable& table = *context_->table;
  const std::string& job = context_->job;
  const bool v2 = decoder_.dialect() == Dialect::kV2;
  switch (request.op) {
    case Op::kValidate:
      return absl::OkStatus();

    case Op::kSet:
      return Set(request.keys[0], request.values[0]);

    case Op::kCompareSet: {
      const std::string& key = request.keys[0];
      const bool watched = context_->watches.Watched(key);
      absl::StatusOr<std::string> old;
      if (watched) old = table.TryGet(job, key);
      absl::StatusOr<std::string> result =
          table.CompareSet(job, key, request.values[0], request.values[1]);
      if (!result.ok()) return result.status();
      if (watched) {
        const bool applied =
            old.ok() ? *old == request.values[0] : request.values[0].empty();
        if (applied) {
          NotifyWatchers(key, old.ok(), request.values[0], request.values[1],
                         WatchReply::kKeyUpdated);
        }
      }
      AppendBlob(out, *result);
      return absl::OkStatus();
    }

    case Op::kGet: {
      absl::StatusOr<std::string> value = table.TryGet(job, request.keys[0]);
      if (value.ok()) {
        AppendBlob(out, *value);
        return absl::OkStatus();
      }
      // PyTorch's libuv server (the >= 2.4 default) answers an empty value;
      // the 1.x server's tcpStore_.at() throws and drops the connection.
      if (absl::IsNotFound(value.status()) && v2) {
        AppendBlob(out, "");
        return absl::OkStatus();
      }
      return value.status();
    }

    case Op::kAdd: {
      const std::string& key = request.keys[0];
      const bool watched = context_->watches.Watched(key);
      absl::StatusOr<std::string> old;
      if (watched) old = table.TryGet(job, key);
      absl::StatusOr<int64_t> sum = table.Add(job, key, request.i64);
      if (!sum.ok()) return sum.status();
      AppendI64(out, *sum);
      if (watched) {
        NotifyWatchers(key, old.ok(), old.ok() ? *old : "", absl::StrCat(*sum),
                       WatchReply::kKeyUpdated);
      }
      return absl::OkStatus();
    }

    case Op::kCheck: {
      bool ready = true;
      if (v2) {
        // The libuv server counts a non-empty queue as an existing key.
        std::vector<std::string> rest;
        {
          auto lock = context_->queues.Lock();
          for (std::string& key : request.keys) {
            if (!context_->queues.NonEmptyLocked(key)) {
              rest.push_back(std::move(key));
            }
          }
        }
        absl::StatusOr<bool> all = table.Check(job, rest);
        if (!all.ok()) return all.status();
        ready = *all;
      } else {
        absl::StatusOr<bool> all = table.Check(job, request.keys);
        if (!all.ok()) return all.status();
        ready = *all;
      }
      AppendU8(out, static_cast<uint8_t>(ready ? CheckReply::kReady
                                               : CheckReply::kNotReady));
      return absl::OkStatus();
    }

    case Op::kWait:
      return Wait(request, out);

    case Op::kGetNumKeys: {
      absl::StatusOr<int64_t> count = table.NumKeys(job);
      if (!count.ok()) return count.status();
      AppendI64(out, *count);
      return absl::OkStatus();
    }

    case Op::kWatchKey:
      context_->watches.Add(request.keys[0], sink_, id_);
      watching_ = true;
      AppendU8(out, static_cast<uint8_t>(WatchReply::kCallbackRegistered));
      return absl::OkStatus();

    case Op::kDeleteKey: {
      const std::string& key = request.keys[0];
      const bool watched = context_->watches.Watched(key);
      absl::StatusOr<std::string> old;
      if (watched) old = table.TryGet(job, key);
      absl::StatusOr<bool> deleted = table.DeleteKey(job, key);
      if (!deleted.ok()) return deleted.status();
      AppendI64(out, *deleted ? 1 : 0);
      if (watched && *deleted && old.ok()) {
        context_->watches.Notify(key, WatchReply::kKeyDeleted, *old, "");
      }
      return absl::OkStatus();
    }

    case Op::kAppend: {
      const std::string& key = request.keys[0];
      const bool watched = context_->watches.Watched(key);
      bool existed = false;
      if (watched) existed = table.TryGet(job, key).ok();
      if (absl::Status status = table.Append(job, key, request.values[0]);
          !status.ok()) {
        return status;
      }
      // As the 1.x server: the event carries only the appended bytes.
      if (watched) {
        NotifyWatchers(key, existed, "", request.values[0],
                       WatchReply::kKeyAppended);
      }
      return absl::OkStatus();
    }

    case Op::kMultiGet: {
      absl::StatusOr<std::optional<std::vector<std::string>>> all =
          table.TryGetAll(job, request.keys, /*want_values=*/true);
      if (!all.ok()) return all.status();
      if (all->has_value()) {
        for (const std::string& value : **all) AppendBlob(out, value);
        return absl::OkStatus();
      }
      if (!v2) {
        return absl::NotFoundError(
            "a key does not exist (the 1.x server drops the connection too)");
      }
      // libuv server: missing keys read as empty values.
      for (const std::string& key : request.keys) {
        absl::StatusOr<std::string> value = table.TryGet(job, key);
        if (!value.ok() && !absl::IsNotFound(value.status())) {
          return value.status();
        }
        AppendBlob(out, value.ok() ? *value : "");
      }
      return absl::OkStatus();
    }

    case Op::kMultiSet: {
      if (!context_->watches.Empty()) {
        for (size_t i = 0; i < request.keys.size(); ++i) {
          if (absl::Status status = Set(request.keys[i], request.values[i]);
              !status.ok()) {
            return status;
          }
        }
        return absl::OkStatus();
      }
      std::vector<std::pair<std::string, std::string>> entries;
      entries.reserve(request.keys.size());
      for (size_t i = 0; i < request.keys.size(); ++i) {
        entries.emplace_back(std::move(request.keys[i]),
                             std::move(request.values[i]));
      }
      return table.MultiSet(job, entries);
    }

    case Op::kCancelWait:
      CancelWait(out);
      return absl::OkStatus();

    case Op::kPing:
      AppendU32(out, request.u32);
      return absl::OkStatus();

    case Op::kQueuePush:
      return context_->queues.Push(request.keys[0],
                                   std::move(request.values[0]));

    case Op::kQueuePop: {
      std::string value;
      const int64_t length = context_->queues.Pop(request.keys[0], &value);
      AppendI64(out, length);
      if (length > 0) AppendBlob(out, value);
      return absl::OkStatus();
    }

    case Op::kQueueLen:
      AppendI64(out, context_->queues.Len(request.keys[0]));
      return absl::OkStatus();

    case Op::kListKeys: {
      absl::StatusOr<std::vector<std::string>> keys = table.ListKeys(job, "");
      if (!keys.ok()) return keys.status();
      AppendI64(out, static_cast<int64_t>(keys->size()));
      for (const std::string& key : *keys) AppendBlob(out, key);
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unhandled request type");
}

absl::Status Session::Wait(Request& request, std::string* out) {
  const uint64_t seq = next_wait_seq_++;
  if (decoder_.dialect() != Dialect::kV2) {
    return ParkOrAnswer(seq, std::move(request.keys), false, out);
  }
  // Keys satisfied by a non-empty queue count as present; the rest are
  // registered so that a push can release the wait. Holding the queue lock
  // across the KvTable call means no push can fall between the two.
  auto lock = context_->queues.Lock();
  std::vector<std::string> keys;
  for (std::string& key : request.keys) {
    if (!context_->queues.NonEmptyLocked(key)) keys.push_back(std::move(key));
  }
  return ParkOrAnswer(seq, std::move(keys), true, out);
}

absl::Status Session::ParkOrAnswer(uint64_t seq, std::vector<std::string> keys,
                                   bool register_queues, std::string* out) {
  // TCPStore's server never times a wait out: the client does (and sends
  // CANCEL_WAIT, or with 1.x nothing at all).
  absl::StatusOr<KvTable::WaitStart> start =
      context_->table->StartWait(context_->job, keys, absl::InfiniteFuture(),
                                 /*want_values=*/false, WaitCallback(seq));
  if (!start.ok()) return start.status();
  if (start->ready) {
    AppendWaitReply(out, WaitReply::kStopWaiting);
    return absl::OkStatus();
  }
  ParkedWait& wait = waits_[seq];
  wait.waiter = start->id;
  wait.keys = std::move(keys);
  if (register_queues) {
    for (const std::string& key : wait.keys) {
      context_->queues.AddWaiterLocked(key, {sink_, id_, seq});
    }
    wait.queue_registered = true;
  }
  return absl::OkStatus();
}

void Session::ForgetWait(uint64_t seq, ParkedWait& wait) {
  if (wait.queue_registered) {
    context_->queues.RemoveWaiter(id_, seq, wait.keys);
  }
}

void Session::CancelWait(std::string* out) {
  // As PyTorch's clearClientWaitState: every parked wait of the connection
  // goes. A waiter that was already released has its STOP_WAITING in flight;
  // the client expects that before WAIT_CANCELED, so it is written now and the
  // late notice is ignored.
  std::vector<uint64_t> seqs;
  seqs.reserve(waits_.size());
  for (const auto& entry : waits_) seqs.push_back(entry.first);
  std::sort(seqs.begin(), seqs.end());
  for (uint64_t seq : seqs) {
    ParkedWait& wait = waits_[seq];
    const bool cancelled = context_->table->CancelWaiter(wait.waiter);
    ForgetWait(seq, wait);
    if (!cancelled) AppendWaitReply(out, WaitReply::kStopWaiting);
    waits_.erase(seq);
  }
  AppendWaitReply(out, WaitReply::kWaitCanceled);
}

absl::Status Session::OnNotice(Notice notice, std::string* out) {
  switch (notice.kind) {
    case Notice::Kind::kBytes:
      out->append(notice.bytes);
      return absl::OkStatus();

    case Notice::Kind::kWaitDone: {
      auto it = waits_.find(notice.wait_seq);
      if (it == waits_.end()) return absl::OkStatus();  // Cancelled meanwhile.
      ForgetWait(it->first, it->second);
      waits_.erase(it);
      if (!notice.status.ok()) {
        return absl::Status(
            notice.status.code(),
            absl::StrCat("parked WAIT ended: ", notice.status.message()));
      }
      AppendWaitReply(out, WaitReply::kStopWaiting);
      return absl::OkStatus();
    }

    case Notice::Kind::kQueueWake: {
      auto it = waits_.find(notice.wait_seq);
      if (it == waits_.end() ||
          !context_->table->CancelWaiter(it->second.waiter)) {
        // The wait ended (or is ending) on its own: hand the item on.
        context_->queues.Rewake(notice.bytes);
        return absl::OkStatus();
      }
      ParkedWait wait = std::move(it->second);
      ForgetWait(it->first, wait);
      waits_.erase(it);
      std::vector<std::string> rest;
      for (std::string& key : wait.keys) {
        if (key != notice.bytes) rest.push_back(std::move(key));
      }
      // A fresh sequence number: the cancelled waiter's notice, still on its
      // way, must not match the wait parked now.
      auto lock = context_->queues.Lock();
      return ParkOrAnswer(next_wait_seq_++, std::move(rest), true, out);
    }
  }
  return absl::OkStatus();
}

}  // namespace torch_store
}  // namespace tplaunch
