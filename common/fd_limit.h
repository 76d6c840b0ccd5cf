// RaiseFdLimit: lift the soft RLIMIT_NOFILE to the hard limit, once, at the
// start of a program that holds a descriptor per peer (tprdzvd: one per
// connection; tplaunch: pipes per worker). Distributions ship a soft limit of
// 1024 under a hard limit of 2^20 or more; a daemon that keeps the soft one
// fails with EMFILE at a few hundred clients although it was allowed more.
#ifndef TPLAUNCH_COMMON_FD_LIMIT_H_
#define TPLAUNCH_COMMON_FD_LIMIT_H_

#include <sys/resource.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace tplaunch {

struct FdLimit {
  int64_t soft = 0;  // What the process may open now (after the raise).
  int64_t hard = 0;  // The ceiling; RLIM_INFINITY reads as INT64_MAX.
};

// The current RLIMIT_NOFILE. Errors: Internal (getrlimit failed).
inline absl::StatusOr<FdLimit> CurrentFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::InternalError(
        absl::StrCat("getrlimit(RLIMIT_NOFILE): ", std::strerror(errno)));
  }
  auto value = [](rlim_t v) {
    return v == RLIM_INFINITY ? INT64_MAX : static_cast<int64_t>(v);
  };
  return FdLimit{value(limit.rlim_cur), value(limit.rlim_max)};
}

// Raises the soft limit to the hard one and returns the limits in force
// afterwards. An infinite hard limit is capped at the kernel's nr_open
// (setrlimit refuses more), read from /proc/sys/fs/nr_open when present.
// Errors: Internal (getrlimit or setrlimit failed; the limit is unchanged).
inline absl::StatusOr<FdLimit> RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::InternalError(
        absl::StrCat("getrlimit(RLIMIT_NOFILE): ", std::strerror(errno)));
  }
  if (limit.rlim_cur != limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (raised.rlim_cur == RLIM_INFINITY) raised.rlim_cur = 1 << 20;
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      return absl::InternalError(absl::StrCat("setrlimit(RLIMIT_NOFILE, ",
                                              raised.rlim_cur,
                                              "): ", std::strerror(errno)));
    }
  }
  return CurrentFdLimit();
}

}  // namespace tplaunch

#endif  // TPLAUNCH_COMMON_FD_LIMIT_H_
