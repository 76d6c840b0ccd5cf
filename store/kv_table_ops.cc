// KvTable's value operations, TCPStore's set/get/check/add/compare_set/append/
// multi_set/delete_key/num_keys/list: each checks its input, changes or reads
// the job's map under the table's lock, hands a change to the journal and
// wakes the waiters it completes, then replies once the change (or the state a
// read saw) is durable. The table's core (jobs, journal, waits, expiry) is
// kv_table.cc.
#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "store/error_text.h"
#include "store/kv_table.h"

namespace tplaunch {
namespace {

KvMutation PutOf(absl::string_view job, absl::string_view key,
                 absl::string_view value) {
  KvMutation put;
  put.kind = KvMutation::Kind::kPut;
  put.job = job;
  put.key = key;
  put.value = value;
  return put;
}

// A stored counter is strict decimal: an optional '-' and digits, nothing
// else. SimpleAtoi alone would also take " 7\n" and "+5", which PyTorch's
// clients never write and which would make Add rewrite a value it did not
// understand.
bool ParseCounter(absl::string_view text, int64_t* value) {
  absl::string_view digits = text;
  if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
  if (digits.empty()) return false;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(text, value);
}

}  // namespace

absl::Status KvTable::Set(absl::string_view job, absl::string_view key,
                          absl::string_view value) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  if (auto s = CheckValue(key, value.size()); !s.ok()) return s;
  std::vector<Completion> done;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindOrCreateJobLocked(job);
    if (!j->kv.contains(key)) {
      if (auto s = QuotaLocked(*j, job, 1); !s.ok()) {
        MaybeDropJobLocked(job);
        return s;
      }
    }
    ticket = RecordLocked(*j, {PutOf(job, key, value)});
    PutLocked(*j, key, std::string(value), done);
  }
  return Commit(ticket, done);
}

absl::StatusOr<std::string> KvTable::TryGet(absl::string_view job,
                                            absl::string_view key) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  std::optional<std::string> value;
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindJobLocked(job);
    if (j != nullptr) {
      auto it = j->kv.find(key);
      if (it != j->kv.end()) value = it->second;
    }
    seen = last_ticket_;
  }
  if (auto s = Durable(seen); !s.ok()) return s;
  if (value.has_value()) return *std::move(value);
  return absl::NotFoundError(absl::StrCat("key ", QuoteKey(key),
                                          " does not exist in job \"",
                                          absl::CHexEscape(job), "\""));
}

absl::StatusOr<bool> KvTable::Check(absl::string_view job,
                                    absl::Span<const std::string> keys) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
  if (auto s = CheckRequestSize(keys.size()); !s.ok()) return s;
  for (const std::string& key : keys) {
    if (auto s = CheckKey(key); !s.ok()) return s;
  }
  bool all = true;
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindJobLocked(job);
    for (const std::string& key : keys) {
      if (j == nullptr || !j->kv.contains(key)) all = false;
    }
    seen = last_ticket_;
  }
  if (auto s = Durable(seen); !s.ok()) return s;
  return all;
}

absl::StatusOr<int64_t> KvTable::Add(absl::string_view job,
                                     absl::string_view key, int64_t delta) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  std::vector<Completion> done;
  int64_t result = 0;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindOrCreateJobLocked(job);
    int64_t current = 0;
    auto it = j->kv.find(key);
    if (it == j->kv.end()) {
      if (auto s = QuotaLocked(*j, job, 1); !s.ok()) {
        MaybeDropJobLocked(job);
        return s;
      }
    } else if (!ParseCounter(it->second, &current)) {
      return absl::FailedPreconditionError(
          absl::StrCat("Add on key ", QuoteKey(key), " in job \"",
                       absl::CHexEscape(job), "\": the stored value ",
                       QuoteKey(it->second), " is not a decimal int64"));
    }
    if (__builtin_add_overflow(current, delta, &result)) {
      return absl::OutOfRangeError(absl::StrCat("Add on key ", QuoteKey(key),
                                                ": ", current, " + ", delta,
                                                " overflows int64"));
    }
    std::string text = absl::StrCat(result);
    ticket = RecordLocked(*j, {PutOf(job, key, text)});
    PutLocked(*j, key, std::move(text), done);
  }
  if (auto s = Commit(ticket, done); !s.ok()) return s;
  return result;
}

absl::StatusOr<std::string> KvTable::CompareSet(absl::string_view job,
                                                absl::string_view key,
                                                absl::string_view expected,
                                                absl::string_view desired) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  if (auto s = CheckValue(key, desired.size()); !s.ok()) return s;
  // `expected` is compared, never stored, but is as big as a value can be.
  if (auto s = CheckValue(key, expected.size()); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CompareSet's expected ", s.message()));
  }
  std::vector<Completion> done;
  std::string result;
  // The ticket of this call's change, or of the state an unchanged answer saw.
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindOrCreateJobLocked(job);
    auto it = j->kv.find(key);
    const bool missing = it == j->kv.end();
    if (missing && !expected.empty()) {
      // TCPStore: a missing key with a non-empty expected value sets nothing
      // and answers with the expected value.
      MaybeDropJobLocked(job);
      result = std::string(expected);
      ticket = last_ticket_;
    } else if (!missing && it->second != expected) {
      result = it->second;
      ticket = last_ticket_;
    } else {
      if (missing) {
        if (auto s = QuotaLocked(*j, job, 1); !s.ok()) {
          MaybeDropJobLocked(job);
          return s;
        }
      }
      result = std::string(desired);
      ticket = RecordLocked(*j, {PutOf(job, key, desired)});
      PutLocked(*j, key, std::string(desired), done);
    }
  }
  if (auto s = Commit(ticket, done); !s.ok()) return s;
  return result;
}

absl::Status KvTable::Append(absl::string_view job, absl::string_view key,
                             absl::string_view value) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  if (auto s = CheckValue(key, value.size()); !s.ok()) return s;
  std::vector<Completion> done;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindOrCreateJobLocked(job);
    auto it = j->kv.find(key);
    if (it == j->kv.end()) {
      if (auto s = QuotaLocked(*j, job, 1); !s.ok()) {
        MaybeDropJobLocked(job);
        return s;
      }
      ticket = RecordLocked(*j, {PutOf(job, key, value)});
      PutLocked(*j, key, std::string(value), done);
    } else {
      if (auto s = CheckValue(key, it->second.size() + value.size()); !s.ok()) {
        return s;
      }
      std::string grown = std::move(it->second);
      grown.append(value.data(), value.size());
      ticket = RecordLocked(*j, {PutOf(job, key, grown)});
      PutLocked(*j, key, std::move(grown), done);
    }
  }
  return Commit(ticket, done);
}

absl::Status KvTable::MultiSet(
    absl::string_view job,
    absl::Span<const std::pair<std::string, std::string>> entries) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
  if (auto s = CheckRequestSize(entries.size()); !s.ok()) return s;
  for (const auto& [key, value] : entries) {
    if (auto s = CheckKey(key); !s.ok()) return s;
    if (auto s = CheckValue(key, value.size()); !s.ok()) return s;
  }
  std::vector<Completion> done;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindOrCreateJobLocked(job);
    absl::flat_hash_set<absl::string_view> fresh;
    for (const auto& entry : entries) {
      if (!j->kv.contains(entry.first)) fresh.insert(entry.first);
    }
    if (auto s = QuotaLocked(*j, job, fresh.size()); !s.ok()) {
      MaybeDropJobLocked(job);
      return s;
    }
    if (options_.journal != nullptr) {
      std::vector<KvMutation> puts;
      puts.reserve(entries.size());
      for (const auto& [key, value] : entries)
        puts.push_back(PutOf(job, key, value));
      ticket = RecordLocked(*j, std::move(puts));
    }
    for (const auto& [key, value] : entries) PutLocked(*j, key, value, done);
  }
  return Commit(ticket, done);
}

absl::StatusOr<bool> KvTable::DeleteKey(absl::string_view job,
                                        absl::string_view key) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
  if (auto s = CheckKey(key); !s.ok()) return s;
  bool deleted = false;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindJobLocked(job);
    ticket = last_ticket_;
    auto it = j != nullptr ? j->kv.find(key) : decltype(j->kv.find(key))();
    if (j != nullptr && it != j->kv.end()) {
      KvMutation removal = PutOf(job, key, "");
      removal.kind = KvMutation::Kind::kDeleteKey;
      ticket = RecordLocked(*j, {removal});
      j->kv.erase(it);
      --total_keys_;
      deleted = true;
      MaybeDropJobLocked(job);
    }
  }
  if (auto s = Durable(ticket); !s.ok()) return s;
  return deleted;
}

absl::StatusOr<int64_t> KvTable::NumKeys(absl::string_view job) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
  int64_t n = 0;
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    Job* j = FindJobLocked(job);
    n = j == nullptr ? 0 : static_cast<int64_t>(j->kv.size());
    seen = last_ticket_;
  }
  if (auto s = Durable(seen); !s.ok()) return s;
  return n;
}

absl::StatusOr<std::vector<std::string>> KvTable::ListKeys(
    absl::string_view job, absl::string_view prefix) {
  if (auto s = CheckJobName(job); !s.ok()) return s;
  std::vector<std::string> keys;
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = CheckOpenLocked(); !s.ok()) return s;
    seen = last_ticket_;
    Job* j = FindJobLocked(job);
    if (j != nullptr) {
      for (const auto& entry : j->kv) {
        if (absl::StartsWith(entry.first, prefix)) keys.push_back(entry.first);
      }
    }
  }
  if (auto s = Durable(seen); !s.ok()) return s;
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace tplaunch
