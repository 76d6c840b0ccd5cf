// log_prefix: the console line prefix template (--log-prefix), such as
//   [${host} rank${rank}]:
#ifndef TPLAUNCH_LAUNCHER_LOG_PREFIX_H_
#define TPLAUNCH_LAUNCHER_LOG_PREFIX_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// The values a template may refer to, torchrun's
// TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE names plus ours:
//   ${rank} ${local_rank} ${node_rank} ${role_name} ${host} ${attempt}
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

// InvalidArgument naming an unknown ${name} or an unterminated "${".
absl::Status ValidateLogPrefixTemplate(absl::string_view tmpl);

// Substitutes the fields; a valid template is assumed. A non-empty result ends
// with a space so the worker's text does not run into the prefix.
std::string RenderLogPrefix(absl::string_view tmpl,
                            const LogPrefixFields& fields);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_LOG_PREFIX_H_
