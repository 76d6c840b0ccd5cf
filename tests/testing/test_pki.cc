#include "tests/testing/test_pki.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "tests/testing/files.h"

namespace tplaunch {
namespace testing {

const TestPki& SharedTestPki() {
  static const TestPki* pki = [] {
    const std::string dir = absl::StrCat(TestTmpDir(), "/test_pki");
    const std::string key =
        "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script = absl::StrCat(
        "set -e; rm -rf ", dir, "; mkdir -p ", dir, "; cd ", dir, "\n",
        "for ca in ca other_ca; do openssl req -x509 ", key,
        " -keyout $ca.key -out $ca.pem -days 2 -subj /CN=$ca 2>/dev/null; "
        "done\n",
        "for who in server client; do\n", "  openssl req -new ", key,
        " -keyout $who.key -out $who.csr",
        " -subj /CN=$who -addext subjectAltName=DNS:localhost,IP:127.0.0.1",
        " 2>/dev/null\n",
        "  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial",
        " -out $who.pem -days 2 -copy_extensions copy 2>/dev/null\n", "done\n");
    auto* out = new TestPki;
    if (std::system(script.c_str()) != 0) return out;
    out->ca = ReadFile(dir + "/ca.pem");
    out->other_ca = ReadFile(dir + "/other_ca.pem");
    out->server_cert = ReadFile(dir + "/server.pem");
    out->server_key = ReadFile(dir + "/server.key");
    out->client_cert = ReadFile(dir + "/client.pem");
    out->client_key = ReadFile(dir + "/client.key");
    return out;
  }();
  return *pki;
}

}  // namespace testing
}  // namespace tplaunch
