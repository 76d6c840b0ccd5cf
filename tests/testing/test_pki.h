// TestPki: throwaway TLS material for tests, made at test time with the openssl
// CLI (no private key is checked in): a CA, a server and a client certificate
// it signed (both for localhost and 127.0.0.1), their keys, and an unrelated
// CA.
#ifndef TPLAUNCH_TESTS_TESTING_TEST_PKI_H_
#define TPLAUNCH_TESTS_TESTING_TEST_PKI_H_

#include <string>

namespace tplaunch {
namespace testing {

// PEM text of each piece; all empty when openssl failed (tests REQUIRE one
// non-empty so that a missing openssl fails them instead of passing).
struct TestPki {
  std::string ca;
  std::string other_ca;  // Signed nothing here: a CA a client must not trust.
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
};

// Made once per test binary (P-256 keys, valid two days) under TEST_TMPDIR.
const TestPki& SharedTestPki();

}  // namespace testing
}  // namespace tplaunch

#endif  // TPLAUNCH_TESTS_TESTING_TEST_PKI_H_
