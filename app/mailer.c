/*
 * mailer.c — the outbox sender.
 *
 * A thread wakes every few seconds, claims the oldest unsent message whose
 * retry time has come (FOR UPDATE SKIP LOCKED, so that nodes share the
 * work), speaks plain SMTP to the configured relay (RFC 5321: EHLO, MAIL,
 * RCPT, DATA, QUIT) and marks the message sent, or records the error and
 * retries later with a growing delay. TLS and authentication are the
 * relay's business (a local Postfix or the organisation's smarthost).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "db.h"
#include "mailer.h"
#include "util.h"

#define SMTP_TIMEOUT_MS	10000

static pthread_t	thread;
static atomic_int	running;
static int		started;

/* A subject in RFC 2047 encoded words when it is not plain ASCII. */
static void
put_subject(struct buf *b, const char *s)
{
	const unsigned char	*p;
	char			 enc[sodium_base64_ENCODED_LEN(45,
				    sodium_base64_VARIANT_ORIGINAL)];
	size_t			 len = strlen(s), off, n;

	for (p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x80 || *p < 0x20)
			break;
	if (*p == '\0') {
		buf_appendf(b, "Subject: %s\r\n", s);
		return;
	}
	buf_puts(b, "Subject:");
	/* 45 bytes per word; a cut inside a character is allowed by RFC 2047
	 * only between words of whole characters, so back off to a start byte. */
	for (off = 0; off < len; off += n) {
		n = len - off > 45 ? 45 : len - off;
		while (off + n < len && ((unsigned char)s[off + n] & 0xc0) == 0x80)
			n--;
		sodium_bin2base64(enc, sizeof(enc), (const unsigned char *)s + off,
		    n, sodium_base64_VARIANT_ORIGINAL);
		buf_appendf(b, " =?UTF-8?B?%s?=\r\n", enc);
	}
}

void
mailer_format(struct buf *out, const char *from, const char *to,
    const char *subject, const char *body, const char *date,
    const char *msgid)
{
	const char	*p;

	buf_appendf(out, "From: Guichet <%s>\r\nTo: <%s>\r\n", from, to);
	put_subject(out, subject);
	buf_appendf(out, "Date: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n", date, msgid);
	/* Body lines end in CRLF; a line starting with "." gets another. */
	for (p = body; *p != '\0'; p++) {
		if ((p == body || p[-1] == '\n') && *p == '.')
			buf_puts(out, ".");
		if (*p == '\n') {
			if (p == body || p[-1] != '\r')
				buf_puts(out, "\r");
		}
		buf_append(out, p, 1);
	}
	if (out->len < 2 || out->data[out->len - 1] != '\n')
		buf_puts(out, "\r\n");
}

static int
smtp_connect(char *err, size_t errlen)
{
	struct addrinfo	 hints, *res, *ai;
	char		 port[8];
	int		 fd = -1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%lld", conf.smtp_port);
	if ((rc = getaddrinfo(conf.smtp_host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", conf.smtp_host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "%s:%s: %s", conf.smtp_host, port,
		    strerror(errno));
	return fd;
}

/*
 * Reads one (possibly multi-line) SMTP reply and returns its code, or -1.
 * Keeps the last line in err for the outbox record.
 */
static int
smtp_reply(int fd, char *err, size_t errlen)
{
	char		 line[1024];
	size_t		 n = 0;
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	ssize_t		 r;

	for (;;) {
		if (n == sizeof(line) - 1)
			n = 0;		/* an endless line: keep its tail */
		if (poll(&pfd, 1, SMTP_TIMEOUT_MS) <= 0) {
			snprintf(err, errlen, "no answer from the SMTP relay");
			return -1;
		}
		if ((r = read(fd, line + n, 1)) <= 0) {
			snprintf(err, errlen, "the SMTP relay closed the connection");
			return -1;
		}
		if (line[n++] != '\n')
			continue;
		line[n] = '\0';
		if (n < 4) {
			snprintf(err, errlen, "malformed SMTP reply");
			return -1;
		}
		if (line[3] == '-') {	/* more lines follow */
			n = 0;
			continue;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		snprintf(err, errlen, "%.300s", line);
		return atoi(line);
	}
}

static int
smtp_send(int fd, const char *s, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = send(fd, s, n, MSG_NOSIGNAL)) <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One command, one expected reply class (2 or 3). */
static int
smtp_cmd(int fd, const char *cmd, int want, char *err, size_t errlen)
{
	int	code;

	if (cmd != NULL && smtp_send(fd, cmd, strlen(cmd)) != 0) {
		snprintf(err, errlen, "cannot write to the SMTP relay");
		return -1;
	}
	code = smtp_reply(fd, err, errlen);
	return code / 100 == want ? 0 : -1;
}

static int
deliver(const char *to, const char *subject, const char *body, long long id,
    char *err, size_t errlen)
{
	struct buf	 msg = { 0 }, cmd = { 0 };
	char		 host[256], date[64], msgid[128];
	time_t		 now = time(NULL);
	struct tm	 tm;
	int		 fd, rc = -1;

	if (strpbrk(to, "\r\n<>") != NULL) {
		snprintf(err, errlen, "invalid recipient");
		return -1;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "guichet");
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(msgid, sizeof(msgid), "outbox.%lld.%lld@%.64s", id,
	    (long long)now, host);
	mailer_format(&msg, conf.mail_from, to, subject, body, date, msgid);
	if ((fd = smtp_connect(err, errlen)) < 0)
		goto out;
	buf_appendf(&cmd, "EHLO %s\r\n", host);
	if (smtp_cmd(fd, NULL, 2, err, errlen) ||
	    smtp_cmd(fd, cmd.data, 2, err, errlen))
		goto close;
	cmd.len = 0;
	buf_appendf(&cmd, "MAIL FROM:<%s>\r\n", conf.mail_from);
	if (smtp_cmd(fd, cmd.data, 2, err, errlen))
		goto close;
	cmd.len = 0;
	buf_appendf(&cmd, "RCPT TO:<%s>\r\n", to);
	if (smtp_cmd(fd, cmd.data, 2, err, errlen) ||
	    smtp_cmd(fd, "DATA\r\n", 3, err, errlen) ||
	    smtp_send(fd, msg.data, msg.len) != 0 ||
	    smtp_cmd(fd, ".\r\n", 2, err, errlen))
		goto close;
	(void)smtp_cmd(fd, "QUIT\r\n", 2, host, sizeof(host));
	rc = 0;
close:
	close(fd);
out:
	sodium_memzero(msg.data, msg.cap);
	buf_free(&msg);
	buf_free(&cmd);
	return rc;
}

/*
 * Claims and sends one due message. Returns 1 when one was handled (sent or
 * failed), 0 when none was due, -1 on a database error.
 */
static int
send_one(void)
{
	struct db_err	 e;
	PGresult	*res;
	char		 err[512], id[24];
	const char	*v[2] = { id, err };
	int		 ok;

	if ((res = db_query(&e, 0, "BEGIN", 0, NULL)) == NULL)
		return -1;
	PQclear(res);
	/* Retries wait 1, 2, 4... minutes after each failure, up to a limit. */
	res = db_query(&e, 0, "SELECT id, to_addr, subject, body FROM outbox "
	    "WHERE sent_at IS NULL AND attempts < 10 AND (last_error IS NULL "
	    "OR created_at + make_interval(mins => (1 << attempts) - 1) <= now()) "
	    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", 0, NULL);
	if (res == NULL || PQntuples(res) == 0) {
		PQclear(res);
		PQclear(db_query(&e, 0, "ROLLBACK", 0, NULL));
		return res == NULL ? -1 : 0;
	}
	snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
	ok = deliver(PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
	    PQgetvalue(res, 0, 3), atoll(id), err, sizeof(err)) == 0;
	PQclear(res);
	if (ok)
		PQclear(db_query(&e, 0, "UPDATE outbox SET sent_at = now(), "
		    "attempts = attempts + 1, last_error = NULL WHERE id = $1",
		    1, v));
	else {
		log_warn("mail %s not sent: %s", id, err);
		PQclear(db_query(&e, 0, "UPDATE outbox SET attempts = attempts + 1, "
		    "last_error = $2 WHERE id = $1", 2, v));
	}
	PQclear(db_query(&e, 0, "COMMIT", 0, NULL));
	return 1;
}

static void *
run(void *arg)
{
	(void)arg;
	do {
		while (atomic_load(&running) && send_one() == 1)
			;
	} while (bg_nap(&running, 2000));
	db_thread_close();
	return NULL;
}

void
mailer_start(void)
{
	if (conf.smtp_host[0] == '\0')
		return;
	atomic_store(&running, 1);
	bg_start(&thread, run, NULL, "mail");
	started = 1;
	log_info("sending mail through %s:%lld", conf.smtp_host, conf.smtp_port);
}

void
mailer_stop(void)
{
	if (!started)
		return;
	atomic_store(&running, 0);
	pthread_join(thread, NULL);
	started = 0;
}
