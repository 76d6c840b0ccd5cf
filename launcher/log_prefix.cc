#include "launcher/log_prefix.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace {

constexpr char kKnownFields[] =
    "${rank} ${local_rank} ${node_rank} ${role_name} ${host} (or "
    "${hostname}) ${attempt}";

// The length of a Python identifier ([_A-Za-z][_A-Za-z0-9]*) at the start of
// `s`, 0 when there is none: string.Template's $name.
size_t IdentifierLength(absl::string_view s) {
  if (s.empty() || !(absl::ascii_isalpha(s[0]) || s[0] == '_')) return 0;
  size_t n = 1;
  while (n < s.size() && (absl::ascii_isalnum(s[n]) || s[n] == '_')) ++n;
  return n;
}

// Calls on_text for literal runs and on_var for each ${name} or $name; stops
// at the first error.
template <typename OnText, typename OnVar>
absl::Status Scan(absl::string_view tmpl, OnText on_text, OnVar on_var) {
  size_t pos = 0;
  while (pos < tmpl.size()) {
    size_t start = tmpl.find('$', pos);
    if (start == absl::string_view::npos) {
      on_text(tmpl.substr(pos));
      break;
    }
    on_text(tmpl.substr(pos, start - pos));
    absl::string_view rest = tmpl.substr(start + 1);
    absl::string_view name;
    if (absl::StartsWith(rest, "$")) {
      on_text("$");
      pos = start + 2;
      continue;
    }
    if (absl::StartsWith(rest, "{")) {
      size_t end = tmpl.find('}', start);
      if (end == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("--log-prefix '", tmpl, "': '${' at offset ", start,
                         " is never closed"));
      }
      name = tmpl.substr(start + 2, end - start - 2);
      pos = end + 1;
    } else if (size_t n = IdentifierLength(rest); n > 0) {
      name = rest.substr(0, n);
      pos = start + 1 + n;
    } else {
      // As string.Template: a '$' that starts no field is literal.
      on_text("$");
      pos = start + 1;
      continue;
    }
    if (!on_var(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--log-prefix '", tmpl, "': unknown field ${", name,
                       "}; known: ", kKnownFields));
    }
  }
  return absl::OkStatus();
}

bool Lookup(absl::string_view name, const LogPrefixFields& f,
            std::string* out) {
  if (name == "rank") {
    *out = absl::StrCat(f.rank);
  } else if (name == "local_rank") {
    *out = absl::StrCat(f.local_rank);
  } else if (name == "node_rank") {
    *out = absl::StrCat(f.node_rank);
  } else if (name == "role_name") {
    *out = f.role_name;
  } else if (name == "host" || name == "hostname") {
    *out = f.host;
  } else if (name == "attempt") {
    *out = absl::StrCat(f.attempt);
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string DefaultLogPrefixTemplate(bool multi_node) {
  return multi_node ? "[${host} rank${rank}]:" : "[rank${rank}]:";
}

absl::Status ValidateLogPrefixTemplate(absl::string_view tmpl) {
  LogPrefixFields fields;
  std::string ignored;
  return Scan(
      tmpl, [](absl::string_view) {},
      [&](absl::string_view name) { return Lookup(name, fields, &ignored); });
}

std::string RenderLogPrefix(absl::string_view tmpl,
                            const LogPrefixFields& fields) {
  std::string out;
  Scan(
      tmpl, [&](absl::string_view text) { absl::StrAppend(&out, text); },
      [&](absl::string_view name) {
        std::string value;
        bool known = Lookup(name, fields, &value);
        absl::StrAppend(&out, value);
        return known;
      })
      .IgnoreError();
  if (!out.empty() && out.back() != ' ') out.push_back(' ');
  return out;
}

std::string TorchRankPrefix(int rank) {
  return absl::StrCat("[rank", rank, "]:");
}

bool LineCarriesPrefix(absl::string_view line, absl::string_view prefix,
                       absl::string_view torch_prefix) {
  return (!prefix.empty() && absl::StartsWith(line, prefix)) ||
         (!torch_prefix.empty() && absl::StartsWith(line, torch_prefix));
}

}  // namespace tplaunch
