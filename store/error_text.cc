#include "store/error_text.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tplaunch {

std::string QuoteKey(absl::string_view key) {
  if (key.size() <= kMaxKeyShownBytes) {
    return absl::StrCat("'", absl::CHexEscape(key), "'");
  }
  return absl::StrCat("'", absl::CHexEscape(key.substr(0, kMaxKeyShownBytes)),
                      "'... (", key.size(), " bytes)");
}

std::string QuoteKeys(absl::Span<const absl::string_view> keys) {
  std::vector<std::string> shown;
  for (size_t i = 0; i < keys.size() && i < kMaxKeysNamed; ++i) {
    shown.push_back(QuoteKey(keys[i]));
  }
  std::string more;
  if (keys.size() > kMaxKeysNamed) {
    more = absl::StrCat(" and ", keys.size() - kMaxKeysNamed, " more");
  }
  return absl::StrCat(absl::StrJoin(shown, ", "), more);
}

std::string DescribeKeys(absl::Span<const absl::string_view> keys) {
  if (keys.size() == 1) return absl::StrCat("key ", QuoteKey(keys[0]));
  return absl::StrCat(keys.size(), " keys ", QuoteKeys(keys));
}

std::string InJob(absl::string_view job) {
  if (job.empty()) return "";
  return absl::StrCat(" in job '", absl::CHexEscape(job), "'");
}

std::string FormatWaited(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

std::string TimeoutMessage(absl::Duration timeout,
                           absl::Span<const absl::string_view> missing,
                           size_t total, bool exact, absl::string_view job) {
  std::string what;
  if (missing.size() == total) {
    what = DescribeKeys(missing);
  } else if (exact) {
    what = absl::StrCat(missing.size(), " of ", total, " keys (missing ",
                        QuoteKeys(missing), ")");
  } else {
    what = absl::StrCat(total, " keys (at least ", missing.size(),
                        " missing: ", QuoteKeys(missing), ")");
  }
  return absl::StrCat("timed out after ", FormatWaited(timeout),
                      " waiting for ", what, InJob(job));
}

}  // namespace tplaunch
