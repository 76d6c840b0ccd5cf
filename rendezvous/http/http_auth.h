// http_auth: the live view's token check. With the daemon's token set, a
// request is let in by `Authorization: Bearer <token>`, by the cookie
// kTokenCookie, or once by `?token=<token>` (a browser link), which answers
// with that cookie (HttpOnly, SameSite=Strict) so later requests, the page's
// own fetches included, carry it. /healthz needs none.
#ifndef TPLAUNCH_RENDEZVOUS_HTTP_HTTP_AUTH_H_
#define TPLAUNCH_RENDEZVOUS_HTTP_HTTP_AUTH_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tplaunch {

inline constexpr char kTokenCookie[] = "tprdzv_token";

enum class HttpAuth {
  kAllowed,
  kAllowedSetCookie,  // By ?token=: answer with SessionCookie(token).
  kDenied,
};

// `authorization` and `cookie` are the request's headers ("" when absent),
// `query_token` its ?token= parameter. Comparisons take constant time.
HttpAuth CheckHttpAuth(absl::string_view token, absl::string_view authorization,
                       absl::string_view cookie, absl::string_view query_token);

// The Set-Cookie header value carrying `token`.
std::string SessionCookie(absl::string_view token);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_HTTP_HTTP_AUTH_H_
