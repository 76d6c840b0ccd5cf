#include "rendezvous/http/http_auth.h"

#include <catch2/catch.hpp>

namespace tplaunch {
namespace {

TEST_CASE("without a token everything is allowed") {
  CHECK(CheckHttpAuth("", "", "", "") == HttpAuth::kAllowed);
}

TEST_CASE("a token is taken from the header, the cookie, or the query once") {
  const char* t = "s3cret";
  CHECK(CheckHttpAuth(t, "", "", "") == HttpAuth::kDenied);
  CHECK(CheckHttpAuth(t, "Bearer s3cret", "", "") == HttpAuth::kAllowed);
  CHECK(CheckHttpAuth(t, "Bearer s3cre", "", "") == HttpAuth::kDenied);
  CHECK(CheckHttpAuth(t, "Basic s3cret", "", "") == HttpAuth::kDenied);
  CHECK(CheckHttpAuth(t, "", "a=b; tprdzv_token=s3cret", "") ==
        HttpAuth::kAllowed);
  CHECK(CheckHttpAuth(t, "", "tprdzv_token=wrong", "") == HttpAuth::kDenied);
  CHECK(CheckHttpAuth(t, "", "", "s3cret") == HttpAuth::kAllowedSetCookie);
  CHECK(CheckHttpAuth(t, "", "", "s3cretX") == HttpAuth::kDenied);
}

TEST_CASE("the cookie is HttpOnly and SameSite=Strict") {
  const std::string cookie = SessionCookie("s3cret");
  CHECK(cookie.find("tprdzv_token=s3cret") == 0);
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  CHECK(cookie.find("SameSite=Strict") != std::string::npos);
}

}  // namespace
}  // namespace tplaunch
