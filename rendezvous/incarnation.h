// NewIncarnation: the random id a tprdzvd's state carries, so clients can tell
// when the state they relied on may be gone (docs/protocol.md, "Incarnation").
#ifndef TPLAUNCH_RENDEZVOUS_INCARNATION_H_
#define TPLAUNCH_RENDEZVOUS_INCARNATION_H_

#include <string>

#include "absl/status/statusor.h"

namespace tplaunch {

// 128 bits from the kernel's CSPRNG (getrandom(2)) as 32 lowercase hex
// characters. Two daemons, or one daemon started twice, never share one by
// chance. Possible errors: Internal (getrandom failed; the message says why).
absl::StatusOr<std::string> NewIncarnation();

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_INCARNATION_H_
