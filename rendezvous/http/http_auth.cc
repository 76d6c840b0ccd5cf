#include "rendezvous/http/http_auth.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tplaunch {
namespace {

// Constant time in the candidate's contents, so the token cannot be guessed
// byte by byte from response times.
bool SameToken(absl::string_view token, absl::string_view candidate) {
  if (token.empty() || candidate.size() != token.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) diff |= token[i] ^ candidate[i];
  return diff == 0;
}

}  // namespace

HttpAuth CheckHttpAuth(absl::string_view token, absl::string_view authorization,
                       absl::string_view cookie,
                       absl::string_view query_token) {
  if (token.empty()) return HttpAuth::kAllowed;
  absl::string_view bearer = authorization;
  if (absl::ConsumePrefix(&bearer, "Bearer ") && SameToken(token, bearer)) {
    return HttpAuth::kAllowed;
  }
  for (absl::string_view part : absl::StrSplit(cookie, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, kTokenCookie) &&
        absl::ConsumePrefix(&part, "=") && SameToken(token, part)) {
      return HttpAuth::kAllowed;
    }
  }
  if (SameToken(token, query_token)) return HttpAuth::kAllowedSetCookie;
  return HttpAuth::kDenied;
}

std::string SessionCookie(absl::string_view token) {
  return absl::StrCat(kTokenCookie, "=", token,
                      "; Path=/; HttpOnly; SameSite=Strict");
}

}  // namespace tplaunch
