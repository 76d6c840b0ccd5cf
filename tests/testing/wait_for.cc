#include "tests/testing/wait_for.h"

#include "absl/time/clock.h"

namespace tplaunch {
namespace testing {

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return condition();
}

}  // namespace testing
}  // namespace tplaunch
