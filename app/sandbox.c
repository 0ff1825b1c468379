/*
 * sandbox.c — least privilege for `guichet serve` (sandbox.h).
 *
 * Two layers, both set once at start-up by the main thread, before any
 * other thread exists, so that every thread started later inherits them:
 *
 * 1. The account. Started as root (to bind a port under 1024), the server
 *    binds its socket, then switches to `user` — supplementary groups,
 *    group, then user, real, effective and saved ids alike — and checks
 *    that root cannot be regained. Everything else it reads (forms,
 *    migrations, static files, the database's password file) is read with
 *    that account's rights, so a file it could not read later stops
 *    start-up now instead of failing a request.
 *
 * 2. The system calls (seccomp, libseccomp). The allow-list below comes
 *    from evidence: every `guichet serve` of the whole API suite was run
 *    under `strace -f` without the filter (every route, exports in every
 *    format through GDAL, imports of CSV, GeoJSON and GeoPackage, mail
 *    over SMTP, a PostgreSQL restart, SIGKILL, graceful shutdown), and
 *    the calls made once its first thread had started were kept; then
 *    those of paths the suite does not take, traced alike (a database
 *    host and an SMTP relay found by name through DNS, libpq finding its
 *    user name through NSS). What start-up alone needs (execve, bind,
 *    setuid...) is not in it. Calls are named, not numbered, so that the
 *    list reads the same on every architecture; a name an architecture
 *    does not have is skipped.
 *
 * A few calls are allowed only with some arguments: socket() for AF_UNIX,
 * AF_INET and AF_INET6; clone() for threads only (no fork); clone3(), whose
 * flags live in memory a filter cannot read, answers ENOSYS so that glibc
 * falls back to clone(); mmap() and mprotect() never for memory both
 * writable and executable (what systemd's MemoryDenyWriteExecute does);
 * ioctl() and prctl() for the few requests used; tgkill() for this
 * process only (abort()).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <seccomp.h>

#include "conf.h"
#include "sandbox.h"
#include "util.h"

/*
 * The sanitizer build's leak checker stops the threads at exit from a
 * helper process that shares our memory (clone without CLONE_THREAD) and
 * attaches to them with ptrace: that build allows both, and keeps the
 * process dumpable after the switch of user so the attach is permitted.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED	1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED	0
#endif

/*
 * The calls allowed whatever their arguments, by what needs them. Each
 * was seen in the traces, except where a comment says why it is here; a
 * call's *at or p* twin (openat and open, poll and ppoll) is listed with
 * it, since architectures without the old one (arm64) use the twin.
 */
static const char *const allowed[] = {
	/* Memory (malloc, GEOS, GDAL); mmap and mprotect are below. brk:
	 * malloc's main arena, which the main thread's allocations grow (the
	 * traces show it at start-up only; the shutdown path allocates). */
	"brk", "munmap", "mremap", "madvise",
	/* Threads (clone is below) and their locks; getpid and tgkill (below)
	 * are what abort() needs to end with SIGABRT. */
	"futex", "set_robust_list", "rseq", "getpid", "exit", "exit_group",
	/* Signals: the main thread's sigwait, SIGPIPE ignored; rt_sigreturn
	 * for any handler a library installs. */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait",
	/* Time: naps of the background threads and usleep. clock_gettime and
	 * gettimeofday run in the vDSO, but fall back to system calls on a
	 * clock source the vDSO cannot read (some virtual machines). */
	"clock_nanosleep", "nanosleep", "clock_gettime", "gettimeofday",
	/* Files: static files (sendfile), export folders, uploads, GDAL's
	 * GeoPackage through SQLite (pread, pwrite, fcntl locks, syncs, its
	 * journal; fchown when root; fdatasync, ftruncate and fchmod on paths
	 * of SQLite the tests do not take: a journal truncated, or created
	 * under another umask than systemd's), proj.db, libpq's .pgpass. */
	"openat", "open", "close", "read", "write", "pread64", "pwrite64",
	"lseek", "newfstatat", "fstat", "stat", "lstat", "fcntl", "fsync",
	"fdatasync", "ftruncate", "fchown", "fchmod", "rename", "renameat",
	"renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "getdents64",
	"access", "faccessat", "readlink", "readlinkat", "getcwd", "sendfile",
	"dup",
	/* Sockets (socket is below): clients through libmicrohttpd's epoll,
	 * PostgreSQL, the SMTP relay, DNS (sendmmsg: glibc asks for A and
	 * AAAA at once). */
	"accept4", "connect", "getsockopt", "setsockopt", "getsockname",
	"sendto", "recvfrom", "sendmsg", "sendmmsg", "shutdown", "poll",
	"ppoll", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"eventfd2",
	/* Identity and the machine, read by SQLite, GDAL and libsodium. */
	"getuid", "geteuid", "uname", "getrandom",
};

/*
 * The sanitizer build's run-time: an alternate signal stack and the
 * bounds of each thread's stack (pthread_getattr_np: the CPU affinity,
 * the stack limit), its own gettid, and the leak checker, which lists
 * /proc/PID/task (getdents), attaches to each thread and waits for it.
 */
static const char *const allowed_sanitized[] = {
	"sigaltstack", "sched_getaffinity", "prlimit64", "gettid", "getdents",
	"ptrace", "wait4", "getppid", "sched_yield", "kill", "tgkill",
};

/* Calls with at least one allow rule, and those with argument checks. */
#define NR_MAX	1024
struct filter {
	scmp_filter_ctx	 ctx;
	unsigned char	 allowed[NR_MAX / 8];
	unsigned char	 checked[NR_MAX / 8];
};

/* Adds one rule for the call named, when the architecture has that call. */
static void
rule(struct filter *f, uint32_t action, const char *name, unsigned n,
    const struct scmp_arg_cmp *cmp)
{
	int	nr, rc;

	nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR || nr < 0)
		return;
	if ((rc = seccomp_rule_add_array(f->ctx, action, nr, n, cmp)) != 0)
		fatal("seccomp: cannot add the rule for %s: %s", name,
		    strerror(-rc));
	if (action != SCMP_ACT_ALLOW || nr >= NR_MAX)
		return;
	f->allowed[nr / 8] |= 1u << (nr % 8);
	if (n > 0)
		f->checked[nr / 8] |= 1u << (nr % 8);
}

static int
count(const unsigned char *set)
{
	int	i, n = 0;

	for (i = 0; i < NR_MAX; i++)
		n += (set[i / 8] >> (i % 8)) & 1;
	return n;
}

static void
allow_all(struct filter *f, const char *const *names, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		rule(f, SCMP_ACT_ALLOW, names[i], 0, NULL);
}

/* Allows the call when argument arg equals one of the values (n of them). */
static void
allow_values(struct filter *f, const char *name, unsigned arg,
    const scmp_datum_t *values, size_t n)
{
	struct scmp_arg_cmp	cmp;
	size_t			i;

	for (i = 0; i < n; i++) {
		cmp = SCMP_CMP(arg, SCMP_CMP_EQ, values[i]);
		rule(f, SCMP_ACT_ALLOW, name, 1, &cmp);
	}
}

/*
 * mmap and mprotect: any protection but writable and executable at once,
 * so that code injected into memory cannot be made to run.
 */
static void
allow_wxorx(struct filter *f, const char *name)
{
	const scmp_datum_t	 wx = PROT_WRITE | PROT_EXEC;
	const scmp_datum_t	 ok[] = { 0, PROT_WRITE, PROT_EXEC };
	struct scmp_arg_cmp	 cmp;
	size_t			 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cmp = SCMP_CMP(2, SCMP_CMP_MASKED_EQ, wx, ok[i]);
		rule(f, SCMP_ACT_ALLOW, name, 1, &cmp);
	}
}

/*
 * Builds the filter. The default action is ERRNO(EPERM), not
 * KILL_PROCESS: the list comes from the paths the tests take, and a path
 * they do not take (an error path of a library, a GDAL driver reading an
 * odd file, an NSS module) may need a call that is not in it. Killed, the
 * whole server would go down with every request and job in flight, and a
 * user retrying the same upload would take it down again; denied, that
 * one call fails, its caller's error path answers or logs, and the rest
 * serves on. An attack gains nothing either way: the call is not made.
 * Each denial is written to the kernel's audit log (SCMP_FLTATR_CTL_LOG),
 * so a missing call shows there (type 1326, with its number) instead of
 * as an unexplained error. A call of another architecture's ABI (int 0x80
 * on x86-64) is never ours: that kills the process.
 */
static void
build(struct filter *f)
{
	static const scmp_datum_t domains[] = { AF_UNIX, AF_INET, AF_INET6 };
	/* isatty(), and FIONREAD: glibc's resolver sizes a DNS answer. */
	static const scmp_datum_t ioctls[] = { TCGETS, FIONREAD };
	/* libmicrohttpd names its threads. */
	static const scmp_datum_t prctls[] = { PR_SET_NAME };
	static const scmp_datum_t prctls_sanitized[] = { PR_GET_DUMPABLE,
		PR_SET_DUMPABLE, PR_SET_PTRACER, PR_SET_PDEATHSIG };
	const scmp_datum_t	 self = (scmp_datum_t)getpid();
	struct scmp_arg_cmp	 cmp;
	int			 rc;

	memset(f, 0, sizeof(*f));
	if ((f->ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM))) == NULL)
		fatal("seccomp: cannot create the filter");
	if ((rc = seccomp_attr_set(f->ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) != 0 ||
	    (rc = seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_TSYNC, 1)) != 0)
		fatal("seccomp: cannot set the filter's attributes: %s",
		    strerror(-rc));
	if (seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_LOG, 1) != 0)
		log_warn("seccomp: this kernel cannot log denied calls");

	allow_all(f, allowed, sizeof(allowed) / sizeof(allowed[0]));
	allow_values(f, "socket", 0, domains,
	    sizeof(domains) / sizeof(domains[0]));
	allow_values(f, "ioctl", 1, ioctls, sizeof(ioctls) / sizeof(ioctls[0]));
	allow_values(f, "prctl", 0, prctls, sizeof(prctls) / sizeof(prctls[0]));
	allow_wxorx(f, "mmap");
	allow_wxorx(f, "mprotect");
	rule(f, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	if (SANITIZED) {
		allow_all(f, allowed_sanitized, sizeof(allowed_sanitized) /
		    sizeof(allowed_sanitized[0]));
		allow_values(f, "prctl", 0, prctls_sanitized,
		    sizeof(prctls_sanitized) / sizeof(prctls_sanitized[0]));
		rule(f, SCMP_ACT_ALLOW, "clone", 0, NULL);
	} else {
		cmp = SCMP_CMP(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD,
		    CLONE_THREAD);
		rule(f, SCMP_ACT_ALLOW, "clone", 1, &cmp);
		allow_values(f, "tgkill", 0, &self, 1);
	}
}

void
sandbox_seccomp_install(void)
{
	struct filter	f;
	int		rc;

	build(&f);
	if ((rc = seccomp_load(f.ctx)) != 0)
		fatal("seccomp: cannot install the filter: %s (set seccomp = "
		    "no to run without it)", strerror(-rc));
	seccomp_release(f.ctx);
	log_info("seccomp filter on: %d system calls allowed (%d of them "
	    "with argument checks), any other fails with EPERM",
	    count(f.allowed), count(f.checked));
}

/* --- the account -------------------------------------------------------- */

struct account {
	uid_t	 uid;
	gid_t	 gid;
	char	*name;
	char	*home;
};

/* Looks `user` up; fatal() when there is no such account. */
static void
lookup(struct account *a)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(conf.user)) == NULL)
		fatal("user \"%s\" (key user, GUICHET_USER): %s", conf.user,
		    errno != 0 ? strerror(errno) : "no such account");
	if (pw->pw_uid == 0)
		fatal("user \"%s\" (key user, GUICHET_USER) is root: name an "
		    "unprivileged account", conf.user);
	a->uid = pw->pw_uid;
	a->gid = pw->pw_gid;
	a->name = xstrdup(pw->pw_name);
	a->home = xstrdup(pw->pw_dir);
}

void
sandbox_user_check(void)
{
	struct account	a;

	if (conf.user[0] == '\0')
		return;
	lookup(&a);
	free(a.name);
	free(a.home);
}

/*
 * The switch: supplementary groups first (initgroups needs root), then
 * the group, then the user, each of real, effective and saved ids, so
 * that nothing is left to switch back to. It is then checked, not
 * assumed: a failed setuid(0) and ids that all match. HOME becomes the
 * account's, where libpq looks for ~/.pgpass.
 */
void
sandbox_drop_privileges(void)
{
	struct account	a;
	uid_t		r, e, s;
	gid_t		rg, eg, sg;

	if (conf.user[0] == '\0') {
		if (geteuid() == 0)
			log_warn("running as root: set the key user "
			    "(GUICHET_USER) to an unprivileged account for the "
			    "server to switch to once its port is bound");
		return;
	}
	lookup(&a);
	if (geteuid() != 0) {
		if (getuid() != a.uid || geteuid() != a.uid)
			fatal("user \"%s\" (key user, GUICHET_USER): cannot "
			    "switch to it from uid %u without root", conf.user,
			    (unsigned)geteuid());
		log_info("running as user %s (uid %u, gid %u)", a.name,
		    (unsigned)a.uid, (unsigned)getgid());
		goto out;
	}
	if (initgroups(a.name, a.gid) != 0 ||
	    setresgid(a.gid, a.gid, a.gid) != 0 ||
	    setresuid(a.uid, a.uid, a.uid) != 0)
		fatal("cannot switch to user \"%s\": %s", conf.user,
		    strerror(errno));
	if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1 ||
	    getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
	    r != a.uid || e != a.uid || s != a.uid ||
	    rg != a.gid || eg != a.gid || sg != a.gid)
		fatal("user \"%s\": root could still be regained after the "
		    "switch", conf.user);
	if (setenv("HOME", a.home, 1) != 0)
		fatal("cannot set HOME: %s", strerror(errno));
	if (SANITIZED)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	log_info("running as user %s (uid %u, gid %u)", a.name,
	    (unsigned)a.uid, (unsigned)a.gid);
out:
	free(a.name);
	free(a.home);
}

/* --- sandbox-check ------------------------------------------------------ */

/*
 * Each probe makes one call the filter must deny, chosen so that the
 * answer without a filter would be something else than EPERM (a success
 * or ENOENT), whatever account runs it: EPERM can only be the filter's.
 * The probes that could succeed undo what they did.
 */
static long
probe_execve(void)
{
	char *const argv[] = { "guichet-probe", NULL };

	return execve("/nonexistent/guichet-probe", argv, argv + 1);
}

static long
probe_fork(void)
{
	pid_t	pid = fork();

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid < 0 ? -1 : 0;
}

static long
probe_ptrace(void)
{
	return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

static long
probe_netlink(void)
{
	int	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd >= 0)
		close(fd);
	return fd < 0 ? -1 : 0;
}

static long
probe_wx(void)
{
	void	*p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		munmap(p, 4096);
	return p == MAP_FAILED ? -1 : 0;
}

static long
probe_setuid(void)
{
	return syscall(SYS_setuid, getuid());
}

static const struct {
	const char	*what;
	long		 (*fn)(void);
	int		 sanitized;	/* also denied in the sanitizer build */
} probes[] = {
	{ "execve (run a program)",			probe_execve,	1 },
	{ "fork",					probe_fork,	0 },
	{ "ptrace",					probe_ptrace,	0 },
	{ "socket(AF_NETLINK)",				probe_netlink,	1 },
	{ "mmap(PROT_WRITE|PROT_EXEC)",			probe_wx,	1 },
	{ "setuid",					probe_setuid,	1 },
};

int
sandbox_probe(void)
{
	size_t	i;
	int	fails = 0;
	long	rc;

	sandbox_seccomp_install();
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		if (SANITIZED && !probes[i].sanitized) {
			printf("%s: not checked (allowed in the sanitizer "
			    "build)\n", probes[i].what);
			continue;
		}
		errno = 0;
		rc = probes[i].fn();
		if (rc == -1 && errno == EPERM)
			printf("%s: denied (%s)\n", probes[i].what,
			    strerror(errno));
		else {
			printf("%s: NOT DENIED (%s)\n", probes[i].what,
			    rc == -1 ? strerror(errno) : "it succeeded");
			fails++;
		}
	}
	if (getpid() <= 0 || access("/", F_OK) != 0) {
		printf("allowed calls: FAILED (%s)\n", strerror(errno));
		fails++;
	} else
		printf("allowed calls: working\n");
	printf("%s\n", fails ? "the seccomp filter does NOT hold" :
	    "the seccomp filter holds");
	fflush(stdout);
	return fails ? 1 : 0;
}
