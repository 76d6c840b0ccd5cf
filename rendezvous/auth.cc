#include "rendezvous/auth.h"

#include <cstddef>

#include "absl/strings/match.h"

namespace tplaunch {

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Walk the longer input in full whatever the contents, and fold the length
  // mismatch into the same accumulator, so timing reveals the lengths only.
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

absl::Status CheckBearerToken(std::optional<absl::string_view> authorization,
                              absl::string_view token) {
  if (token.empty()) return absl::OkStatus();
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        "missing `authorization: Bearer <token>` metadata; this daemon "
        "requires a "
        "token");
  }
  constexpr absl::string_view kScheme = "Bearer ";
  if (!absl::StartsWith(*authorization, kScheme)) {
    return absl::UnauthenticatedError(
        "the authorization metadata is not of the form `Bearer <token>`");
  }
  if (!ConstantTimeEquals(authorization->substr(kScheme.size()), token)) {
    return absl::UnauthenticatedError("wrong token");
  }
  return absl::OkStatus();
}

}  // namespace tplaunch
