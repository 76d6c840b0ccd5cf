// Pieces the bench programs share: the quantile rule of their latency
// summaries, seconds as a steady_clock duration, and the descriptor limit.
#ifndef TPLAUNCH_BENCH_BENCH_UTIL_H_
#define TPLAUNCH_BENCH_BENCH_UTIL_H_

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace tplaunch {
namespace bench {

// The sample at index q * size of an ascending vector (the last one at most);
// -1.0 when there is none.
inline double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return -1.0;
  return sorted[std::min(sorted.size() - 1,
                         static_cast<size_t>(q * sorted.size()))];
}

// `seconds` as a steady_clock duration, for deadlines and measuring windows.
inline std::chrono::steady_clock::duration Seconds(double seconds) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(seconds));
}

// Every connection is a descriptor: raises the soft RLIMIT_NOFILE to the hard
// one (best effort).
inline void RaiseFdLimit() {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace bench
}  // namespace tplaunch

#endif  // TPLAUNCH_BENCH_BENCH_UTIL_H_
