/*
 * mailer.h — sends the outbox by SMTP to a relay, from a thread of the
 * server, when smtp_host is configured. Several nodes may run it at once:
 * each message is claimed with SELECT ... FOR UPDATE SKIP LOCKED.
 */
#ifndef GUICHET_MAILER_H
#define GUICHET_MAILER_H

#include <stddef.h>

void	 mailer_start(void);
void	 mailer_stop(void);

/*
 * Writes the RFC 5322 message (headers and body, CRLF lines, dot-stuffed
 * for DATA, without the final ".") into out. For tests.
 */
struct buf;
void	 mailer_format(struct buf *out, const char *from, const char *to,
	    const char *subject, const char *body, const char *date,
	    const char *msgid);

#endif
