#include "launcher/grace_signals.h"

#include <signal.h>

#include "launcher/exit_on_signal.h"

namespace tplaunch {

GraceSignalAction ActionDuringGrace(const ReceivedSignal& signal,
                                    pid_t parent) {
  if (!IsTerminatingSignal(signal.signo)) return GraceSignalAction::kForward;
  // A terminal's keystroke is a person, whoever our parent is.
  if (signal.code == SI_KERNEL) return GraceSignalAction::kKillNow;
  if (parent > 1 && signal.sender == parent) return GraceSignalAction::kIgnore;
  return GraceSignalAction::kKillNow;
}

}  // namespace tplaunch
