// Validation of tprdzvd's TLS material before it is handed to gRPC, which
// otherwise reports a bad PEM only as a failure to start listening.
#ifndef TPLAUNCH_RENDEZVOUS_TLS_H_
#define TPLAUNCH_RENDEZVOUS_TLS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// Checks that cert_pem holds a certificate, key_pem a private key matching it,
// and client_ca_pem (when non-empty) a CA certificate. InvalidArgument names
// what is wrong.
absl::Status ValidateTlsMaterial(absl::string_view cert_pem,
                                 absl::string_view key_pem,
                                 absl::string_view client_ca_pem);

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_TLS_H_
