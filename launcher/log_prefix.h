// log_prefix: the console line prefix template (--log-prefix, torchrun's
// --log-line-prefix-template), such as
//   [${host} rank${rank}]:
// and the rule that keeps a line from getting a prefix it already carries.
#ifndef TPLAUNCH_LAUNCHER_LOG_PREFIX_H_
#define TPLAUNCH_LAUNCHER_LOG_PREFIX_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// The values a template may refer to, torchrun's
// TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE names (${role_name} ${rank}
// ${local_rank}, and ${hostname} since torchrun 2.14) plus ours:
//   ${rank} ${local_rank} ${node_rank} ${role_name} ${host} ${attempt}
// where ${hostname} is ${host}.
// As in torchrun (Python's string.Template) a field may also be written
// without braces ($rank) and "$$" is a literal "$"; a "$" followed by anything
// else is literal.
struct LogPrefixFields {
  int rank = 0;
  int local_rank = 0;
  int node_rank = 0;
  std::string role_name;
  std::string host;
  int attempt = 0;
};

// Defaults: "[rank${rank}]:" on one node, "[${host} rank${rank}]:" on several.
std::string DefaultLogPrefixTemplate(bool multi_node);

// InvalidArgument naming an unknown ${name} (or $name) or an unterminated
// "${".
absl::Status ValidateLogPrefixTemplate(absl::string_view tmpl);

// Substitutes the fields; a valid template is assumed. A non-empty result ends
// with a space so the worker's text does not run into the prefix.
std::string RenderLogPrefix(absl::string_view tmpl,
                            const LogPrefixFields& fields);

// "[rank<rank>]:", the prefix PyTorch >= 2 puts on its own lines of a rank
// (tracebacks as "[rank2]: Traceback ...", C++ warnings as "[rank2]:[W ...").
std::string TorchRankPrefix(int rank);

// Whether `line` already carries a prefix, so the console must not get a
// second one: it starts with `prefix` exactly (what RenderLogPrefix returned
// for this worker, trailing space included), or with `torch_prefix`
// (TorchRankPrefix of this worker's global rank). An empty prefix never
// matches. Exactly these two: "[rank3]:" on rank 2's line is rank 2's text
// and keeps rank 2's prefix.
bool LineCarriesPrefix(absl::string_view line, absl::string_view prefix,
                       absl::string_view torch_prefix);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_LOG_PREFIX_H_
