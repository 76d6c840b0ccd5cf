#include "store/grpc/incarnation.h"

#include <utility>

namespace tplaunch {

IncarnationTracker::IncarnationTracker(ChangeCallback on_change)
    : on_change_(std::move(on_change)) {}

void IncarnationTracker::Observe(absl::string_view incarnation) {
  if (incarnation.empty()) return;
  std::string first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (latest_ == incarnation) return;
    latest_ = std::string(incarnation);
    if (first_.empty()) {
      first_ = latest_;
      return;
    }
    if (changed_ || first_ == latest_) return;
    changed_ = true;
    first = first_;
  }
  if (on_change_) on_change_(first, std::string(incarnation));
}

absl::StatusOr<std::string> IncarnationTracker::First() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (first_.empty()) {
    return absl::NotFoundError(
        "no reply from tprdzvd has named its incarnation yet");
  }
  return first_;
}

std::string IncarnationTracker::Latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

bool IncarnationTracker::Changed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return changed_;
}

}  // namespace tplaunch
