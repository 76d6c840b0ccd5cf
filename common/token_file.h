// Bearer tokens for the rendezvous daemon, read one way by every program:
// tplaunch, tprdzvd and tprdzvctl take `--token-file FILE`, else (the daemon
// and its CLI) the TPLAUNCH_RDZV_TOKEN variable.
//
// A token file holds the token on one line; surrounding whitespace (the
// newline `echo` writes) is not part of it. An empty or unreadable file is an
// error, never "no token": a typo must not turn auth off.
#ifndef TPLAUNCH_COMMON_TOKEN_FILE_H_
#define TPLAUNCH_COMMON_TOKEN_FILE_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/read_file.h"

namespace tplaunch {

// The environment variable that carries a token when no file is given.
inline constexpr char kRdzvTokenVariable[] = "TPLAUNCH_RDZV_TOKEN";

// Tokens are short secrets; a bigger file is a wrong path (a PEM, a log).
inline constexpr size_t kMaxTokenFileBytes = 4096;

// Reads the token from `path`. InvalidArgument names the flag and the path:
// unreadable, empty (after stripping whitespace), or over kMaxTokenFileBytes.
inline absl::StatusOr<std::string> ReadTokenFile(
    const std::string& path, const char* flag = "--token-file") {
  absl::StatusOr<std::string> contents =
      ReadFileCapped(path, flag, kMaxTokenFileBytes);
  if (!contents.ok()) return contents.status();
  std::string token(absl::StripAsciiWhitespace(*contents));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, " holds an empty token"));
  }
  return token;
}

// The token from `token_file` when given, else from `env_value` (the value of
// kRdzvTokenVariable, or nullopt when unset; an empty or blank value means no
// token, as if unset). Returns "" for no token.
inline absl::StatusOr<std::string> ResolveToken(
    const std::string& token_file, const std::optional<std::string>& env_value,
    const char* flag = "--token-file") {
  if (!token_file.empty()) return ReadTokenFile(token_file, flag);
  if (!env_value.has_value()) return std::string();
  return std::string(absl::StripAsciiWhitespace(*env_value));
}

}  // namespace tplaunch

#endif  // TPLAUNCH_COMMON_TOKEN_FILE_H_
