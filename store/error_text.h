// How Store errors name keys, jobs and waits: one wording for KvTable (and so
// MemoryStore and the daemon) and GrpcStore, so that a timeout reads the same
// whichever store produced it.
//
// Keys are bytes and may be 8 KiB long: they are shown C-escaped, in single
// quotes, cut after kMaxKeyShownBytes; lists name at most kMaxKeysNamed keys.
#ifndef TPLAUNCH_STORE_ERROR_TEXT_H_
#define TPLAUNCH_STORE_ERROR_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace tplaunch {

inline constexpr size_t kMaxKeysNamed = 8;
inline constexpr size_t kMaxKeyShownBytes = 96;

// "'k'", or "'<first 96 bytes>'... (N bytes)".
std::string QuoteKey(absl::string_view key);

// "'a', 'b'", at most kMaxKeysNamed of them, then " and N more".
std::string QuoteKeys(absl::Span<const absl::string_view> keys);

// "key 'a'" or "3 keys 'a', 'b', 'c'".
std::string DescribeKeys(absl::Span<const absl::string_view> keys);

// " in job 'j'", or "" for an empty job.
std::string InJob(absl::string_view job);

// A duration to the millisecond ("300ms", "1m5.25s").
std::string FormatWaited(absl::Duration d);

// "timed out after T waiting for <what><in job>", where <what> is
//   "key 'a'" / "3 keys 'a', 'b', 'c'"                  every key is missing,
//   "2 of 3 keys (missing 'b', 'c')"                    `exact`: all were
//   looked at, "70 keys (at least 64 missing: 'r0', ...)"          only the
//   first ones were.
// `missing` lists the missing keys among those looked at, of `total` waited
// for.
std::string TimeoutMessage(absl::Duration timeout,
                           absl::Span<const absl::string_view> missing,
                           size_t total, bool exact, absl::string_view job);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_ERROR_TEXT_H_
