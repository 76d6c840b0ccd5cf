#include "rendezvous/auth.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"

namespace tplaunch {
namespace {

TEST_CASE("ConstantTimeEquals compares bytes and lengths", "[auth]") {
  CHECK(ConstantTimeEquals("", ""));
  CHECK(ConstantTimeEquals("secret", "secret"));
  CHECK_FALSE(ConstantTimeEquals("secret", "secreT"));
  CHECK_FALSE(ConstantTimeEquals("secret", "secret2"));
  CHECK_FALSE(ConstantTimeEquals("secret", ""));
  CHECK_FALSE(ConstantTimeEquals(std::string("a\0b", 3), "a"));
}

TEST_CASE("CheckBearerToken", "[auth]") {
  CHECK(CheckBearerToken(std::nullopt, "").ok());
  CHECK(CheckBearerToken("Bearer s3cret", "s3cret").ok());
  const absl::Status missing = CheckBearerToken(std::nullopt, "s3cret");
  CHECK(absl::IsUnauthenticated(missing));
  CHECK(absl::IsUnauthenticated(CheckBearerToken("s3cret", "s3cret")));
  const absl::Status wrong = CheckBearerToken("Bearer guess", "s3cret");
  CHECK(absl::IsUnauthenticated(wrong));
  // Neither token may leak into messages (they end up in logs and client
  // errors).
  CHECK_FALSE(absl::StrContains(wrong.message(), "s3cret"));
  CHECK_FALSE(absl::StrContains(wrong.message(), "guess"));
  CHECK_FALSE(absl::StrContains(missing.message(), "s3cret"));
}

}  // namespace
}  // namespace tplaunch
