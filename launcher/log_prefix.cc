#include "launcher/log_prefix.h"

#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace {

// Calls on_text for literal runs and on_var for each ${name}; stops at the
// first error.
template <typename OnText, typename OnVar>
absl::Status Scan(absl::string_view tmpl, OnText on_text, OnVar on_var) {
  size_t pos = 0;
  while (pos < tmpl.size()) {
    size_t start = tmpl.find("${", pos);
    if (start == absl::string_view::npos) {
      on_text(tmpl.substr(pos));
      break;
    }
    on_text(tmpl.substr(pos, start - pos));
    size_t end = tmpl.find('}', start);
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--log-prefix '", tmpl, "': '${' at offset ", start,
                       " is never closed"));
    }
    absl::string_view name = tmpl.substr(start + 2, end - start - 2);
    if (!on_var(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--log-prefix '", tmpl, "': unknown field ${", name,
          "}; known: ${rank} ${local_rank} ${node_rank} ${role_name} ${host} "
          "${attempt}"));
    }
    pos = end + 1;
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
  } else if (name == "host") {
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

}  // namespace tplaunch
