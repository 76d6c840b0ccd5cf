// grace_signals: what a signal that arrives while tplaunch is stopping its
// workers (the grace period between the stop signal and SIGKILL) does. Pure:
// the agent reads the signalfd and acts on the answer.
//
// Why it is not "any second signal kills at once": schedulers repeat their
// stop signal. Slurm's slurmstepd (tplaunch's parent under srun) sends SIGCONT
// and SIGTERM for the time-limit notice and again for the job's termination,
// milliseconds apart, and only SIGKILLs after KillWait; a second SIGTERM
// cutting the grace short would SIGKILL workers still in their handlers
// (checkpointing) before the scheduler's own deadline. A person who wants the
// job dead now presses Ctrl-C again or sends the signal again from elsewhere.
#ifndef TPLAUNCH_LAUNCHER_GRACE_SIGNALS_H_
#define TPLAUNCH_LAUNCHER_GRACE_SIGNALS_H_

#include <sys/types.h>

namespace tplaunch {

// One signal as signalfd reports it.
struct ReceivedSignal {
  int signo = 0;
  pid_t sender = 0;  // ssi_pid: 0 for the kernel and senders outside our pid
                     // namespace.
  int code = 0;      // ssi_code: SI_USER for kill(2), SI_KERNEL for a
                     // terminal's Ctrl-C / Ctrl-\.
};

enum class GraceSignalAction {
  kForward,  // a non-terminating signal (SIGUSR1 from srun --signal): pass it
             // to the workers, the grace goes on
  kIgnore,   // the parent repeating its stop signal: the grace goes on
  kKillNow,  // a deliberate second stop: SIGKILL the workers now
};

// `parent` is getppid() (0 or 1 when tplaunch is a container's init or was
// orphaned: then no sender counts as the parent).
GraceSignalAction ActionDuringGrace(const ReceivedSignal& signal, pid_t parent);

}  // namespace tplaunch

#endif  // TPLAUNCH_LAUNCHER_GRACE_SIGNALS_H_
