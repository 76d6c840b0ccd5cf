// output_filters: torchrun's --duplicate-stdout-filters and
// --duplicate-stderr-filters: which console lines are also copied to the
// node's filtered_stdout.log / filtered_stderr.log.
#ifndef TPLAUNCH_LAUNCHER_OUTPUT_FILTERS_H_
#define TPLAUNCH_LAUNCHER_OUTPUT_FILTERS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tplaunch {

// Splits a filter list as torchrun does: at each ',', where ",," stands for a
// literal ',' inside a filter (read left to right, so "a,,,b" is "a," and
// "b"). Empty filters are kept: "" is one empty filter and "a," two, and an
// empty filter matches every line (torchrun's `needle in line`).
std::vector<std::string> ParseDuplicateFilters(absl::string_view value);

// Whether `line` (the worker's text, without tplaunch's prefix) contains any
// of `filters` as a substring. No filters: false.
bool MatchesAnyFilter(absl::string_view line,
                      const std::vector<std::string>& filters);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_OUTPUT_FILTERS_H_
