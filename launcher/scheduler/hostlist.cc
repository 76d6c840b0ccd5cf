#include "launcher/scheduler/hostlist.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace tplaunch {
namespace {

// One bracketed group, expanded to its values' text ("01", "02", "07").
using Group = std::vector<std::string>;

// A name split at its brackets: literals[0] group[0] literals[1] group[1] ...
// literals[n]; literals has one more entry than groups.
struct Pattern {
  std::vector<std::string> literals;
  std::vector<Group> groups;
};

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("hostlist '", absl::CEscape(text), "': ", why));
}

bool AllDigits(absl::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// "01-04,07" -> {"01", "02", "03", "04", "07"}. The width of each range is
// its low bound's length: Slurm pads to it.
absl::StatusOr<Group> ExpandRanges(absl::string_view whole,
                                   absl::string_view ranges, int64_t budget) {
  Group values;
  for (absl::string_view range : absl::StrSplit(ranges, ',')) {
    std::vector<absl::string_view> bounds =
        absl::StrSplit(range, absl::MaxSplits('-', 1));
    absl::string_view lo_text = bounds[0];
    absl::string_view hi_text = bounds.size() == 2 ? bounds[1] : bounds[0];
    int64_t lo = 0;
    int64_t hi = 0;
    if (!AllDigits(lo_text) || !AllDigits(hi_text) ||
        !absl::SimpleAtoi(lo_text, &lo) || !absl::SimpleAtoi(hi_text, &hi)) {
      return Invalid(whole, absl::StrCat("'", absl::CEscape(range),
                                         "' is not a number or LOW-HIGH"));
    }
    if (lo > hi) {
      return Invalid(whole, absl::StrCat("range '", range,
                                         "' runs backwards (LOW > HIGH)"));
    }
    if (hi - lo + 1 > budget - static_cast<int64_t>(values.size())) {
      return Invalid(whole,
                     absl::StrCat("more than ", kMaxExpandedHosts, " hosts"));
    }
    const size_t width = lo_text.size();
    for (int64_t v = lo; v <= hi; ++v) {
      std::string digits = absl::StrCat(v);
      if (digits.size() < width) {
        digits.insert(0, width - digits.size(), '0');
      }
      values.push_back(std::move(digits));
    }
  }
  return values;
}

absl::StatusOr<Pattern> ParsePattern(absl::string_view whole,
                                     absl::string_view token, int64_t budget) {
  Pattern p;
  p.literals.emplace_back();
  size_t i = 0;
  while (i < token.size()) {
    char c = token[i];
    if (c == ']') return Invalid(whole, "']' without '['");
    if (c != '[') {
      p.literals.back().push_back(c);
      ++i;
      continue;
    }
    size_t close = token.find_first_of("[]", i + 1);
    if (close == absl::string_view::npos || token[close] == '[') {
      return Invalid(whole, "'[' without a matching ']'");
    }
    ASSIGN_OR_RETURN(
        Group g,
        ExpandRanges(whole, token.substr(i + 1, close - i - 1), budget));
    p.groups.push_back(std::move(g));
    p.literals.emplace_back();
    i = close + 1;
  }
  if (!p.groups.empty() && !p.literals.back().empty()) {
    return Invalid(whole, absl::StrCat("text '", p.literals.back(),
                                       "' after the last ']' of '", token,
                                       "' (Slurm accepts none)"));
  }
  return p;
}

// Slurm's order for several groups: the last group varies fastest, then the
// first, the second, ... (an artefact of how Slurm expands the prefix
// before the last group, kept so that "the first host" agrees with srun).
absl::Status AppendExpansion(absl::string_view whole, const Pattern& p,
                             std::vector<std::string>& out) {
  const size_t n = p.groups.size();
  if (n == 0) {
    out.push_back(p.literals[0]);
    return absl::OkStatus();
  }
  int64_t total = 1;
  for (const Group& g : p.groups) {
    total *= static_cast<int64_t>(g.size());
    if (total + static_cast<int64_t>(out.size()) > kMaxExpandedHosts) {
      return Invalid(whole,
                     absl::StrCat("more than ", kMaxExpandedHosts, " hosts"));
    }
  }
  // significance[0] is the fastest-varying group.
  std::vector<size_t> significance = {n - 1};
  for (size_t g = 0; g + 1 < n; ++g) significance.push_back(g);
  std::vector<size_t> index(n, 0);
  for (int64_t k = 0; k < total; ++k) {
    std::string host = p.literals[0];
    for (size_t g = 0; g < n; ++g) {
      absl::StrAppend(&host, p.groups[g][index[g]], p.literals[g + 1]);
    }
    out.push_back(std::move(host));
    for (size_t g : significance) {
      if (++index[g] < p.groups[g].size()) break;
      index[g] = 0;
    }
  }
  return absl::OkStatus();
}

bool IsSeparator(char c) {
  return c == ',' || absl::ascii_isspace(static_cast<unsigned char>(c));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ExpandHostlist(
    absl::string_view text) {
  std::vector<std::string> hosts;
  size_t i = 0;
  while (i < text.size()) {
    if (IsSeparator(text[i])) {
      ++i;
      continue;
    }
    // A token ends at a separator outside brackets.
    size_t end = i;
    int depth = 0;
    while (end < text.size() && (depth > 0 || !IsSeparator(text[end]))) {
      if (text[end] == '[') ++depth;
      if (text[end] == ']') --depth;
      if (depth > 1) return Invalid(text, "nested '['");
      ++end;
    }
    const int64_t budget =
        kMaxExpandedHosts - static_cast<int64_t>(hosts.size());
    ASSIGN_OR_RETURN(Pattern p,
                     ParsePattern(text, text.substr(i, end - i), budget));
    RETURN_IF_ERROR(AppendExpansion(text, p, hosts));
    i = end;
  }
  return hosts;
}

absl::StatusOr<std::vector<int>> ExpandTasksPerNode(absl::string_view text) {
  std::vector<int> counts;
  auto invalid = [&](absl::string_view item) {
    return absl::InvalidArgumentError(
        absl::StrCat("tasks per node '", absl::CEscape(text), "': item '",
                     absl::CEscape(item),
                     "' is not COUNT or COUNT(xREPEAT) with COUNT >= 1"));
  };
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    absl::string_view count_text = item;
    absl::string_view repeat_text = "1";
    size_t paren = item.find('(');
    if (paren != absl::string_view::npos) {
      if (item.size() < paren + 4 || item[paren + 1] != 'x' ||
          item.back() != ')') {
        return invalid(item);
      }
      count_text = item.substr(0, paren);
      repeat_text = item.substr(paren + 2, item.size() - paren - 3);
    }
    int count = 0;
    int repeat = 0;
    if (!AllDigits(count_text) || !AllDigits(repeat_text) ||
        !absl::SimpleAtoi(count_text, &count) ||
        !absl::SimpleAtoi(repeat_text, &repeat) || count < 1 || repeat < 1) {
      return invalid(item);
    }
    if (repeat > kMaxExpandedHosts - static_cast<int>(counts.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("tasks per node '", absl::CEscape(text), "': more than ",
                       kMaxExpandedHosts, " nodes"));
    }
    counts.insert(counts.end(), repeat, count);
  }
  return counts;
}

}  // namespace tplaunch
