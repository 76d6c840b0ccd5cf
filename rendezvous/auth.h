// Bearer-token authentication for tprdzvd: parsing the `authorization` metadata
// value and comparing it with the configured token in constant time. No gRPC.
#ifndef TPLAUNCH_RENDEZVOUS_AUTH_H_
#define TPLAUNCH_RENDEZVOUS_AUTH_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// Whether a == b, taking time that depends only on the lengths, so a network
// client cannot find the token byte by byte by timing the answers.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// Checks an `authorization` metadata value (nullopt when absent) against
// `token`. OK when token is empty (authentication off). Unauthenticated
// otherwise, with a message that never contains either token.
absl::Status CheckBearerToken(std::optional<absl::string_view> authorization,
                              absl::string_view token);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_AUTH_H_
