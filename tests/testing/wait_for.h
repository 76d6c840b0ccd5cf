// WaitFor: polls a condition until it holds or a deadline passes. For state a
// test can only observe by polling (a daemon's waiter count, a file a child
// writes), which no event signals; never a sleep as synchronisation.
#ifndef TPLAUNCH_TESTS_TESTING_WAIT_FOR_H_
#define TPLAUNCH_TESTS_TESTING_WAIT_FOR_H_

#include <functional>

#include "absl/time/time.h"

namespace tplaunch {
namespace testing {

// Generous for a loaded 2-core machine; a healthy condition holds within
// milliseconds.
inline constexpr absl::Duration kDefaultWaitFor = absl::Seconds(10);

// Polls `condition` every millisecond until it holds (true) or `timeout` has
// passed; it is checked once more at the deadline, so a condition that became
// true while the poller was descheduled still counts.
bool WaitFor(const std::function<bool()>& condition,
             absl::Duration timeout = kDefaultWaitFor);

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_TESTING_WAIT_FOR_H_
