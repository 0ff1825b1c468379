/*
 * mail.c — the outbox.
 */
#include "conf.h"
#include "mail.h"
#include "util.h"

int
mail_queue(PGconn *c, struct db_err *e, const char *to, const char *subject,
    const char *body)
{
	const char	*v[3] = { to, subject, body };
	PGresult	*res;

	res = db_exec(c, e, "INSERT INTO outbox (to_addr, subject, body) "
	    "VALUES ($1, $2, $3)", 3, v);
	if (res == NULL)
		return -1;
	PQclear(res);
	if (conf.mail_log)
		log_info("mail to <%s>: %s | %s", to, subject, body);
	return 0;
}
