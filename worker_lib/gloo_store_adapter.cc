#include "worker_lib/gloo_store_adapter.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gloo/common/error.h"
#include "worker_lib/group_join.h"

namespace tplaunch {
namespace {

// Gloo's connectFullMesh (this Gloo version) first publishes the host name of
// every rank under "rank_<i>" and reads those of lower ranks, then publishes
// each rank's pair addresses under "<i>" and reads every other rank's.
constexpr absl::string_view kHostKeyPrefix = "rank_";

bool AllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

}  // namespace

GlooStoreAdapter::GlooStoreAdapter(tplaunch::Store* store,
                                   GlooStoreAdapterOptions options)
    : store_(store), options_(std::move(options)) {}

int GlooStoreAdapter::RankOfKey(const std::string& key) {
  absl::string_view digits = key;
  if (absl::StartsWith(digits, kHostKeyPrefix)) {
    digits.remove_prefix(kHostKeyPrefix.size());
  }
  int rank = -1;
  if (!AllDigits(digits) || !absl::SimpleAtoi(digits, &rank)) return -1;
  return rank;
}

std::vector<std::string> GlooStoreAdapter::PhaseKeys(
    const std::string& key) const {
  const int rank = RankOfKey(key);
  if (!options_.prefetch || rank < 0 || rank >= options_.world_size)
    return {key};
  std::vector<std::string> keys;
  if (absl::StartsWith(key, kHostKeyPrefix)) {
    for (int r = 0; r < options_.rank; ++r) {
      keys.push_back(absl::StrCat(kHostKeyPrefix, r));
    }
  } else {
    for (int r = 0; r < options_.world_size; ++r) {
      if (r != options_.rank) keys.push_back(absl::StrCat(r));
    }
  }
  if (std::find(keys.begin(), keys.end(), key) == keys.end()) return {key};
  return keys;
}

void GlooStoreAdapter::Fail(absl::Status status) {
  if (error_.ok()) error_ = status;
  throw gloo::IoException(std::string(status.message()));
}

void GlooStoreAdapter::Fetch(const std::vector<std::string>& wanted,
                             absl::Duration timeout) {
  std::vector<std::string> keys;
  for (const std::string& key : wanted) {
    for (const std::string& k : PhaseKeys(key)) {
      if (!cache_.contains(k) &&
          std::find(keys.begin(), keys.end(), k) == keys.end()) {
        keys.push_back(k);
      }
    }
  }
  if (keys.empty()) return;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<std::string>> values =
      store_->MultiGet(keys, timeout);
  const absl::Duration waited = absl::Now() - start;
  store_time_ += waited;
  ++store_calls_;
  if (values.ok()) {
    for (size_t i = 0; i < keys.size(); ++i) {
      cache_[keys[i]] = std::move((*values)[i]);
    }
    return;
  }
  if (!absl::IsDeadlineExceeded(values.status())) {
    Fail(absl::Status(
        values.status().code(),
        absl::StrFormat("%s: rank %d reading key(s) %s: %s", options_.where,
                        options_.rank, absl::StrJoin(keys, ","),
                        values.status().message())));
  }
  // Name the ranks whose keys never appeared.
  std::vector<int> missing_ranks;
  std::vector<std::string> missing_keys;
  absl::StatusOr<std::vector<std::string>> present = store_->ListKeys("");
  for (const std::string& key : keys) {
    if (present.ok() &&
        std::binary_search(present->begin(), present->end(), key)) {
      continue;
    }
    missing_keys.push_back(key);
    if (int r = RankOfKey(key); r >= 0) missing_ranks.push_back(r);
  }
  std::sort(missing_ranks.begin(), missing_ranks.end());
  // A rank that published no host name never reached connectFullMesh; the
  // others are merely stuck behind it.
  std::vector<int> never_arrived;
  for (int r = 0; r < options_.world_size && present.ok(); ++r) {
    if (r != options_.rank &&
        !std::binary_search(present->begin(), present->end(),
                            absl::StrCat(kHostKeyPrefix, r))) {
      never_arrived.push_back(r);
    }
  }
  Fail(absl::DeadlineExceededError(absl::StrFormat(
      "%s: rank %d waited %s for rank(s) %s of %d to publish their Gloo "
      "addresses "
      "(never arrived: %s; missing key(s): %s)",
      options_.where, options_.rank, absl::FormatDuration(waited),
      missing_ranks.empty() ? "?" : FormatRanks(missing_ranks),
      options_.world_size,
      never_arrived.empty() ? "none" : FormatRanks(never_arrived),
      absl::StrJoin(missing_keys.size() > 8
                        ? std::vector<std::string>(missing_keys.begin(),
                                                   missing_keys.begin() + 8)
                        : missing_keys,
                    ","))));
}

void GlooStoreAdapter::set(const std::string& key,
                           const std::vector<char>& data) {
  if (!options_.host_names.empty() && absl::StartsWith(key, kHostKeyPrefix)) {
    return;  // Every rank already knows every host name.
  }
  const absl::Time start = absl::Now();
  absl::Status status =
      store_->Set(key, absl::string_view(data.data(), data.size()));
  store_time_ += absl::Now() - start;
  ++store_calls_;
  if (!status.ok()) {
    Fail(absl::Status(
        status.code(),
        absl::StrFormat("%s: rank %d setting key %s: %s", options_.where,
                        options_.rank, key, status.message())));
  }
}

std::vector<char> GlooStoreAdapter::get(const std::string& key) {
  if (!options_.host_names.empty() && absl::StartsWith(key, kHostKeyPrefix)) {
    const int rank = RankOfKey(key);
    if (rank >= 0 && rank < static_cast<int>(options_.host_names.size())) {
      const std::string& host = options_.host_names[rank];
      return std::vector<char>(host.begin(), host.end());
    }
  }
  Fetch({key}, options_.timeout);
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    Fail(absl::InternalError(
        absl::StrCat(options_.where, ": key ", key, " missing after fetch")));
  }
  return std::vector<char>(it->second.begin(), it->second.end());
}

void GlooStoreAdapter::wait(const std::vector<std::string>& keys) {
  Fetch(keys, options_.timeout);
}

void GlooStoreAdapter::wait(const std::vector<std::string>& keys,
                            const std::chrono::milliseconds& timeout) {
  // Gloo passes kNoTimeout (zero) for "no limit": the group timeout still
  // applies.
  absl::Duration limit = absl::FromChrono(timeout);
  if (limit <= absl::ZeroDuration() || limit > options_.timeout) {
    limit = options_.timeout;
  }
  Fetch(keys, limit);
}

}  // namespace tplaunch
