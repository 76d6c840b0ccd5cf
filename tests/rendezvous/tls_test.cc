// ValidateTlsMaterial with PEMs made at test time by the openssl CLI
// (tests/testing/test_pki.h): a matching certificate and key pass, a key of
// another certificate, garbage, empty text and a key where a certificate
// belongs are each InvalidArgument with a reason that names the piece.
#include "rendezvous/tls.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/status/status.h"
#include "tests/testing/test_pki.h"

namespace tplaunch {
namespace {

using Catch::Contains;
using testing::SharedTestPki;
using testing::TestPki;

constexpr char kGarbage[] =
    "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
    "-----END CERTIFICATE-----\n";

const TestPki& Pki() {
  const TestPki& pki = SharedTestPki();
  // Without openssl every case below would fail for the wrong reason.
  REQUIRE_FALSE(pki.server_cert.empty());
  REQUIRE_FALSE(pki.client_key.empty());
  return pki;
}

void CheckRejected(const absl::Status& status, const std::string& reason) {
  INFO(status.ToString());
  CHECK(absl::IsInvalidArgument(status));
  CHECK_THAT(std::string(status.message()), Contains(reason));
}

TEST_CASE("tls: a certificate and its own key are valid", "[tls]") {
  const TestPki& pki = Pki();
  CHECK(ValidateTlsMaterial(pki.server_cert, pki.server_key, "").ok());
  CHECK(ValidateTlsMaterial(pki.client_cert, pki.client_key, "").ok());
  // With a client CA too.
  CHECK(ValidateTlsMaterial(pki.server_cert, pki.server_key, pki.ca).ok());
}

TEST_CASE("tls: a key of another certificate does not match", "[tls]") {
  const TestPki& pki = Pki();
  CheckRejected(ValidateTlsMaterial(pki.server_cert, pki.client_key, ""),
                "the TLS key does not match the TLS certificate");
  CheckRejected(ValidateTlsMaterial(pki.client_cert, pki.server_key, pki.ca),
                "does not match");
}

TEST_CASE("tls: garbage PEM is not a certificate, key or CA", "[tls]") {
  const TestPki& pki = Pki();
  CheckRejected(ValidateTlsMaterial(kGarbage, pki.server_key, ""),
                "the TLS certificate is not a PEM certificate");
  CheckRejected(ValidateTlsMaterial("not a pem", pki.server_key, ""),
                "the TLS certificate is not a PEM certificate");
  CheckRejected(ValidateTlsMaterial(pki.server_cert, "not a pem", ""),
                "the TLS key is not an unencrypted PEM private key");
  CheckRejected(ValidateTlsMaterial(pki.server_cert, pki.server_key, kGarbage),
                "the TLS client CA is not a PEM certificate");
  // A key where the certificate belongs, and a certificate for the key.
  CheckRejected(ValidateTlsMaterial(pki.server_key, pki.server_key, ""),
                "the TLS certificate is not a PEM certificate");
  CheckRejected(ValidateTlsMaterial(pki.server_cert, pki.server_cert, ""),
                "the TLS key is not an unencrypted PEM private key");
}

TEST_CASE("tls: empty material is rejected, naming the piece", "[tls]") {
  const TestPki& pki = Pki();
  CheckRejected(ValidateTlsMaterial("", "", ""),
                "the TLS certificate is not a PEM certificate");
  CheckRejected(ValidateTlsMaterial(pki.server_cert, "", ""),
                "the TLS key is not an unencrypted PEM private key");
  // An empty client CA means "no client certificates", not an error.
  CHECK(ValidateTlsMaterial(pki.server_cert, pki.server_key, "").ok());
}

}  // namespace
}  // namespace tplaunch
