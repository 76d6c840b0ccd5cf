#include "rendezvous/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

std::unique_ptr<BIO, BioFree> MemBio(absl::string_view pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// OpenSSL's own reason for the most recent failure, and clears its error queue.
std::string OpensslReason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no PEM block found";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

std::unique_ptr<X509, X509Free> ReadCert(absl::string_view pem) {
  auto bio = MemBio(pem);
  return std::unique_ptr<X509, X509Free>(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

}  // namespace

absl::Status ValidateTlsMaterial(absl::string_view cert_pem,
                                 absl::string_view key_pem,
                                 absl::string_view client_ca_pem) {
  auto cert = ReadCert(cert_pem);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the TLS certificate is not a PEM certificate: ", OpensslReason()));
  }
  auto key_bio = MemBio(key_pem);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("the TLS key is not an unencrypted PEM private key: ",
                     OpensslReason()));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "the TLS key does not match the TLS certificate");
  }
  if (!client_ca_pem.empty() && ReadCert(client_ca_pem) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the TLS client CA is not a PEM certificate: ", OpensslReason()));
  }
  return absl::OkStatus();
}

}  // namespace tplaunch
