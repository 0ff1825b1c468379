/*
 * sandbox.h — least privilege for `guichet serve`: the switch from root to
 * the configured account (key `user`), and the seccomp allow-list of the
 * system calls the server makes (key `seccomp`), which every thread
 * inherits. Both happen at start-up, in the main thread, before any other
 * thread exists; failures are fatal().
 */
#ifndef GUICHET_SANDBOX_H
#define GUICHET_SANDBOX_H

/* check-config: fatal() when `user` names no account. */
void	 sandbox_user_check(void);
/*
 * Started as root with `user` set: switches to that account, its group and
 * its supplementary groups for good, and checks that root cannot be
 * regained. Started as root without it: a warning. Call it once the
 * listening socket is bound and before anything else is read.
 */
void	 sandbox_drop_privileges(void);
/*
 * Installs the allow-list on the calling thread and on any other (there
 * should be none yet); logs how many system calls it allows.
 */
void	 sandbox_seccomp_install(void);
/*
 * `guichet sandbox-check`: installs the same filter, then tries calls
 * outside it and prints what each got. 0 when every one was denied.
 */
int	 sandbox_probe(void);

#endif
