#include "worker_lib/group_registry.h"

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"

namespace tplaunch {
namespace {

// std::mutex rather than absl::Mutex so ThreadSanitizer sees the locking.
struct Registry {
  std::mutex mu;
  std::set<std::pair<std::string, int>> members;
  std::map<std::pair<std::string, int>, int> claims;
};

Registry& GetRegistry() {
  static Registry* const registry = new Registry();
  return *registry;
}

}  // namespace

absl::StatusOr<int> ClaimGroupMembership(absl::string_view group_name,
                                         int rank) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  const std::pair<std::string, int> key(std::string(group_name), rank);
  if (!r.members.insert(key).second) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "process group '%s' is already initialized for rank %d in this "
        "process; "
        "destroy it first, or use another group_name for a second group",
        group_name, rank));
  }
  return r.claims[key]++;
}

void ReleaseGroupMembership(absl::string_view group_name, int rank) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.members.erase({std::string(group_name), rank});
}

bool IsGroupClaimed(absl::string_view group_name) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.members.lower_bound({std::string(group_name), -1});
  return it != r.members.end() && it->first == group_name;
}

}  // namespace tplaunch
