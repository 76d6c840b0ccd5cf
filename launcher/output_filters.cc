#include "launcher/output_filters.h"

#include "absl/strings/match.h"

namespace tplaunch {

std::vector<std::string> ParseDuplicateFilters(absl::string_view value) {
  std::vector<std::string> filters(1);
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != ',') {
      filters.back().push_back(value[i]);
    } else if (i + 1 < value.size() && value[i + 1] == ',') {
      filters.back().push_back(',');
      ++i;
    } else {
      filters.emplace_back();
    }
  }
  return filters;
}

bool MatchesAnyFilter(absl::string_view line,
                      const std::vector<std::string>& filters) {
  for (const std::string& f : filters) {
    if (absl::StrContains(line, f)) return true;
  }
  return false;
}

}  // namespace tplaunch
