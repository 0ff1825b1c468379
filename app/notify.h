/*
 * notify.h — notifications: an in-app list per user, and mail through the
 * outbox, at once or in a daily digest as each user chose. They are written
 * in the transaction of what they announce, so that they exist if and only
 * if it committed.
 */
#ifndef GUICHET_NOTIFY_H
#define GUICHET_NOTIFY_H

#include <libpq-fe.h>
#include <stdint.h>

#include "db.h"

struct form;
struct req;

/* Who hears of an event on a submission. */
enum notify_to {
	NOTIFY_AUTHOR,		/* its author */
	NOTIFY_REVIEWERS,	/* the reviewers competent where it lies */
	NOTIFY_THREAD		/* the author and the reviewers who took part */
};

/*
 * Notifies the recipients of submission sub_id, except the actor: kind is
 * stable ("decision", "submitted", "comment"), message French. Each gets a
 * link to the page it works on the record with: the author its entry
 * page, the others the review page.
 */
int	 notify(PGconn *, struct db_err *, enum notify_to, const struct form *,
	    int64_t sub_id, int64_t actor_id, const char *kind,
	    const char *subject, const char *message);

/*
 * Notifies the reviewers competent for the records of import batch
 * import_id, once for the batch, with a link to their queue filtered on it.
 */
int	 notify_import(PGconn *, struct db_err *, const struct form *,
	    int64_t import_id, int64_t actor_id, const char *subject,
	    const char *message);

/* Mails the digests due now; returns the number of mails, -1 on error. */
int	 notify_digest(PGconn *, struct db_err *);
/* The thread that sends the digests once a day, at digest_hour. */
void	 notify_start(void);
void	 notify_stop(void);

void	 notify_list(struct req *);	/* GET /api/v1/notifications */
void	 notify_read(struct req *);	/* POST /api/v1/notifications/read */
void	 notify_prefs(struct req *);	/* GET, PATCH /api/v1/account/notifications */

#endif
