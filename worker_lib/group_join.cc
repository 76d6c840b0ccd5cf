#include "worker_lib/group_join.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/key_layout.h"
#include "common/status_macros.h"

namespace tplaunch {
std::string FormatRanks(const std::vector<int>& ranks, int limit) {
  std::vector<std::string> items;
  size_t i = 0;
  while (i < ranks.size()) {
    size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    items.push_back(j - i >= 2 ? absl::StrCat(ranks[i], "-", ranks[j])
                               : absl::StrCat(ranks[i]));
    if (j - i == 1) items.push_back(absl::StrCat(ranks[j]));
    i = j + 1;
  }
  if (static_cast<int>(items.size()) > limit) {
    items.resize(limit);
    return absl::StrCat(absl::StrJoin(items, ","), ",... (", ranks.size(),
                        " in all)");
  }
  return absl::StrJoin(items, ",");
}

absl::StatusOr<std::vector<int>> AbsentRanks(Store& store,
                                             absl::string_view key_prefix,
                                             int world_size) {
  ASSIGN_OR_RETURN(std::vector<std::string> keys, store.ListKeys(key_prefix));
  std::vector<bool> present(world_size, false);
  for (const std::string& key : keys) {
    int rank = -1;
    if (absl::SimpleAtoi(absl::string_view(key).substr(key_prefix.size()),
                         &rank) &&
        rank >= 0 && rank < world_size) {
      present[rank] = true;
    }
  }
  std::vector<int> absent;
  for (int r = 0; r < world_size; ++r) {
    if (!present[r]) absent.push_back(r);
  }
  return absent;
}

void PublishFailure(Store& store, int rank, const absl::Status& status) {
  (void)store.Set(GroupFailKey(rank),
                  absl::StrCat("rank ", rank, ": ", status.ToString()));
}

absl::StatusOr<std::string> FindPublishedFailure(Store& store) {
  ASSIGN_OR_RETURN(std::vector<std::string> keys,
                   store.ListKeys(kGroupFailPrefix));
  if (keys.empty()) return absl::NotFoundError("no rank published a failure");
  return store.TryGet(keys.front());
}

absl::StatusOr<std::vector<MemberRecord>> JoinGroup(Store& store,
                                                    const MemberRecord& self,
                                                    absl::Duration timeout,
                                                    absl::string_view where) {
  const int n = self.world_size;
  // CompareSet, not Set: two processes claiming one rank must not overwrite
  // each other.
  const std::string mine = self.Encode();
  const std::string my_key = GroupJoinKey(self.rank);
  ASSIGN_OR_RETURN(std::string stored, store.CompareSet(my_key, "", mine));
  if (stored != mine) {
    absl::StatusOr<MemberRecord> other = MemberRecord::Decode(my_key, stored);
    return absl::AlreadyExistsError(
        absl::StrFormat("%s: rank %d is already taken by pid %d on %s (two "
                        "workers were given the "
                        "same RANK)",
                        where, self.rank, other.ok() ? other->pid : -1,
                        other.ok() ? other->host : "?"));
  }
  std::vector<std::string> keys;
  keys.reserve(n);
  for (int r = 0; r < n; ++r) keys.push_back(GroupJoinKey(r));

  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<std::string>> values =
      store.MultiGet(keys, timeout);
  if (!values.ok()) {
    if (!absl::IsDeadlineExceeded(values.status())) return values.status();
    const absl::Duration waited = absl::Now() - start;
    absl::StatusOr<std::vector<int>> absent =
        AbsentRanks(store, kGroupJoinPrefix, n);
    if (!absent.ok()) return values.status();
    std::vector<int> joined;
    for (int r = 0, a = 0; r < n; ++r) {
      if (a < static_cast<int>(absent->size()) && (*absent)[a] == r) {
        ++a;
      } else {
        joined.push_back(r);
      }
    }
    return absl::DeadlineExceededError(absl::StrFormat(
        "%s: rank %d waited %s for rank(s) %s of %d to join (joined: %s; keys "
        "%s<rank>)",
        where, self.rank, absl::FormatDuration(waited), FormatRanks(*absent), n,
        joined.empty() ? "none" : FormatRanks(joined), kGroupJoinPrefix));
  }

  std::vector<MemberRecord> members;
  members.reserve(n);
  for (int r = 0; r < n; ++r) {
    ASSIGN_OR_RETURN(MemberRecord record,
                     MemberRecord::Decode(keys[r], (*values)[r]));
    if (record.world_size != self.world_size) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: rank %d (pid %d on %s) has world size %d, this rank %d has %d",
          where, r, record.pid, record.host, record.world_size, self.rank,
          self.world_size));
    }
    if (record.backend != self.backend) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: rank %d (pid %d on %s) chose backend %s, this rank %d chose %s "
          "(pass the same backend on every rank)",
          where, r, record.pid, record.host, record.backend, self.rank,
          self.backend));
    }
    members.push_back(std::move(record));
  }
  return members;
}

}  // namespace tplaunch
