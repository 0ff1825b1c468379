/*
 * notify.c — in-app notifications, mail at once or in a daily digest.
 *
 * One statement per event finds the recipients, writes their in-app rows
 * and queues the mails of those who want them at once; the digest thread
 * later gathers, per user, what is neither read nor digested yet. Marking
 * rows as digested in the statement that queues the mail makes two servers
 * running the digest at the same hour send each row once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "form.h"
#include "http.h"
#include "notify.h"
#include "util.h"

/* Active people (no service accounts) and their mail preference. */
#define PEOPLE "SELECT u.id, u.email, u.notify FROM users u " \
	"JOIN organisations o ON o.id = u.organisation_id " \
	"WHERE u.active AND o.active AND NOT u.is_service AND u.id <> $2 "

static const char *const recipients[] = {
	[NOTIFY_AUTHOR] = PEOPLE "AND u.id = (SELECT author_id FROM "
	    "submissions WHERE id = $1)",
	/* Reviewers of the guichet's authorities whose territory (their own
	 * restriction, else their organisation's) holds the record, and its
	 * object for an amendment (moderation.c decides alike). */
	[NOTIFY_REVIEWERS] = PEOPLE "AND u.role IN ('reviewer', 'org_admin') "
	    "AND o.kind = ANY($7::text[]) AND EXISTS (SELECT 1 FROM submissions "
	    "s WHERE s.id = $1 AND s.author_id <> u.id AND guichet_user_covers("
	    "u, o, s.insee_commune, s.departement) AND (s.target_id IS NULL OR "
	    "(SELECT guichet_user_covers(u, o, t.insee_commune, t.departement) "
	    "FROM submissions t WHERE t.id = s.target_id)))",
	[NOTIFY_THREAD] = PEOPLE "AND u.id IN (SELECT author_id FROM submissions "
	    "WHERE id = $1 UNION SELECT reviewer_id FROM reviews WHERE "
	    "submission_id = $1 UNION SELECT user_id FROM assignments WHERE "
	    "submission_id = $1 UNION SELECT author_id FROM comments WHERE "
	    "submission_id = $1)",
};

/* Logs the mails a statement queued, in development (mail_log). */
static void
log_mails(PGresult *res)
{
	int	i;

	for (i = 0; conf.mail_log && i < PQntuples(res); i++)
		log_info("mail to <%s>: %s | %s", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
}

/* The guichet's authority kinds as a PostgreSQL array literal. */
static void
authority_kinds(const struct form *f, struct buf *kinds)
{
	size_t		 i, n;
	json_t		*kv;

	/* Kinds are [a-z_] words (form.c checks them): a safe literal. */
	buf_puts(kinds, "{");
	for (i = 0; f != NULL && i < form_authority_count(f); i++)
		json_array_foreach(form_authority_kinds(f, i), n, kv)
			buf_appendf(kinds, "%s%s", kinds->len > 1 ? "," : "",
			    json_string_value(kv));
	buf_puts(kinds, "}");
}

/*
 * The common tail of both statements below: given r (recipients with
 * their link), $3 kind, $4 message, $5 subject and $6 the public address,
 * writes the in-app rows and queues the mails of those who want them at
 * once.
 */
#define DELIVER(sub_id) "n AS (INSERT INTO notifications (user_id, kind, " \
	"submission_id, message, link) SELECT id, $3, " sub_id ", $4, link " \
	"FROM r) INSERT INTO outbox (to_addr, subject, body) SELECT email, " \
	"$5, $4 || E'\\n\\n' || $6 || link FROM r WHERE notify = " \
	"'immediate' RETURNING to_addr, subject, body"

/*
 * Runs a notifying statement with its n first parameters of: $1 id (a
 * submission or an import), $2 the actor, $3 kind, $4 message, $5 subject,
 * $6 the public address, $7 the guichet's authority kinds, $8 the guichet.
 * Logs what it mailed; 0 or -1.
 */
static int
deliver(PGconn *c, struct db_err *e, const char *sql, int n, int64_t id,
    int64_t actor_id, const char *kind, const struct form *f,
    const char *subject, const char *message)
{
	struct buf	 kinds = { 0 };
	char		 ids[24], aid[24];
	const char	*v[8] = { ids, aid, kind, message, subject,
	    conf.public_url, NULL, f != NULL ? form_guichet(f) : NULL };
	PGresult	*res;

	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	snprintf(aid, sizeof(aid), "%lld", (long long)actor_id);
	authority_kinds(f, &kinds);
	v[6] = kinds.data;
	res = db_exec(c, e, sql, n, v);
	if (res != NULL)
		log_mails(res);
	PQclear(res);
	buf_free(&kinds);
	return res ? 0 : -1;
}

int
notify(PGconn *c, struct db_err *e, enum notify_to to, const struct form *f,
    int64_t sub_id, int64_t actor_id, const char *kind, const char *subject,
    const char *message)
{
	struct buf	 sql = { 0 };
	int		 rc;

	/* The author edits its record; the others review it. */
	buf_appendf(&sql, "WITH r0 AS (%s), r AS (SELECT r0.*, CASE WHEN r0.id "
	    "= s.author_id THEN '/saisie.html' ELSE '/instruction.html' END || "
	    "'?guichet=' || s.guichet || '&id=' || s.id AS link FROM r0, "
	    "submissions s WHERE s.id = $1), " DELIVER("$1"), recipients[to]);
	rc = deliver(c, e, sql.data, to == NOTIFY_REVIEWERS ? 7 : 6, sub_id,
	    actor_id, kind, f, subject, message);
	buf_free(&sql);
	return rc;
}

/*
 * One notification per reviewer for a whole import batch rather than one
 * per record: the reviewers competent for at least one of its records
 * (matched on the batch's distinct places, not on each record), with a
 * link to their queue filtered on the batch.
 */
int
notify_import(PGconn *c, struct db_err *e, const struct form *f,
    int64_t import_id, int64_t actor_id, const char *subject,
    const char *message)
{
	return deliver(c, e, "WITH p AS (SELECT DISTINCT insee_commune, "
	    "departement FROM submissions WHERE import_id = $1::bigint), "
	    "r0 AS (" PEOPLE "AND u.role IN ('reviewer', 'org_admin') AND "
	    "o.kind = ANY($7::text[]) AND EXISTS (SELECT 1 FROM p WHERE "
	    "guichet_user_covers(u, o, p.insee_commune, p.departement))), "
	    "r AS (SELECT r0.*, '/moderation.html?guichet=' || $8 || "
	    "'&import=' || $1 AS link FROM r0), " DELIVER("NULL::bigint"),
	    8, import_id, actor_id, "import", f, subject, message);
}

/*
 * One mail per user who chose the digest, listing what they have neither
 * read nor had in a digest yet, oldest first; the rows are marked in the
 * same statement.
 */
int
notify_digest(PGconn *c, struct db_err *e)
{
	const char	*v[1] = { conf.public_url };
	PGresult	*res;
	int		 n;

	res = db_exec(c, e, "WITH d AS (UPDATE notifications n SET digested_at "
	    "= now() FROM users u WHERE u.id = n.user_id AND u.notify = "
	    "'digest' AND u.active AND n.digested_at IS NULL AND n.read_at IS "
	    "NULL RETURNING n.user_id, n.message, n.created_at) "
	    "INSERT INTO outbox (to_addr, subject, body) SELECT u.email, "
	    "'Guichet : ' || count(*) || ' notification(s) depuis le dernier "
	    "récapitulatif', string_agg('- ' || to_char(d.created_at, "
	    "'DD/MM/YYYY HH24:MI') || ' : ' || d.message, E'\\n' ORDER BY "
	    "d.created_at) || E'\\n\\n' || $1 || '/notifications.html' "
	    "FROM d JOIN users u ON u.id = d.user_id GROUP BY u.email "
	    "RETURNING to_addr, subject, body", 1, v);
	if (res == NULL)
		return -1;
	log_mails(res);
	n = PQntuples(res);
	PQclear(res);
	return n;
}

static pthread_t	digest_thread;
static atomic_int	digest_running;
static int		digest_started;

/* Looks at the clock every 30 s; sends once a day, at the hour. */
static void *
digest_run(void *arg)
{
	struct db_err	 e;
	char		 err[256];
	PGconn		*c = NULL;
	time_t		 now;
	struct tm	 tm;
	int		 done_day = -1;

	(void)arg;
	while (bg_nap(&digest_running, 30000)) {
		now = time(NULL);
		localtime_r(&now, &tm);
		if (tm.tm_hour != conf.digest_hour || tm.tm_yday == done_day)
			continue;
		if (c == NULL && (c = db_connect(err, sizeof(err))) == NULL) {
			log_warn("digest: %s", err);
			continue;
		}
		if (notify_digest(c, &e) < 0) {
			log_warn("digest: database error %s", e.sqlstate);
			PQfinish(c);
			c = NULL;
			continue;
		}
		done_day = tm.tm_yday;
	}
	PQfinish(c);
	return NULL;
}

void
notify_start(void)
{
	atomic_store(&digest_running, 1);
	bg_start(&digest_thread, digest_run, NULL, "digest");
	digest_started = 1;
}

void
notify_stop(void)
{
	if (!digest_started)
		return;
	atomic_store(&digest_running, 0);
	pthread_join(digest_thread, NULL);
	digest_started = 0;
}

void
notify_list(struct req *r)
{
	const struct param_val *unread = req_param(r, "unread"),
	    *lim = req_param(r, "limit"), *off = req_param(r, "offset");
	char		 uid[24], l[24], o[24];
	const char	*v[4] = { uid, unread->set && unread->i ? "t" : "f", l,
	    o };

	snprintf(uid, sizeof(uid), "%lld", (long long)r->who->user_id);
	snprintf(l, sizeof(l), "%lld", lim->set ? lim->i : 50);
	snprintf(o, sizeof(o), "%lld", off->set ? off->i : 0);
	db_reply_json(r, "SELECT json_build_object('unread', (SELECT count(*) "
	    "FROM notifications WHERE user_id = $1 AND read_at IS NULL), "
	    "'notifications', coalesce(json_agg(json_build_object('id', n.id, "
	    "'kind', n.kind, 'submission_id', n.submission_id, 'guichet', "
	    "s.guichet, 'message', n.message, 'link', n.link, 'created_at', "
	    "n.created_at, "
	    "'read_at', n.read_at) ORDER BY n.id DESC), '[]')) FROM (SELECT * "
	    "FROM notifications WHERE user_id = $1 AND (NOT $2::boolean OR "
	    "read_at IS NULL) ORDER BY id DESC LIMIT $3 OFFSET $4) n LEFT JOIN "
	    "submissions s ON s.id = n.submission_id", 4, v, "");
}

void
notify_read(struct req *r)
{
	const struct param_val *ids = req_param(r, "ids"),
	    *all = req_param(r, "all");
	struct db_err	 e;
	PGresult	*res;
	char		 uid[24], *list = NULL;
	const char	*v[3] = { uid, NULL, all->set && all->i ? "t" : "f" };

	if (!ids->set && !(all->set && all->i)) {
		http_reply_error(r, 422, "nothing_to_mark", "Donnez les "
		    "notifications à marquer (ids) ou all.", "ids");
		return;
	}
	snprintf(uid, sizeof(uid), "%lld", (long long)r->who->user_id);
	if (ids->set)
		v[1] = list = json_dumps(ids->a, JSON_COMPACT);
	res = db_query(&e, DB_IDEMPOTENT, "UPDATE notifications SET read_at = "
	    "now() WHERE user_id = $1 AND read_at IS NULL AND ($3::boolean OR "
	    "id IN (SELECT jsonb_array_elements_text($2::jsonb)::bigint))",
	    3, v);
	free(list);
	if (res == NULL)
		db_reply_error(r, &e);
	else
		http_reply_empty(r, 204);
	PQclear(res);
}

/* GET reads one's mail preference, PATCH sets it. */
void
notify_prefs(struct req *r)
{
	const struct param_val *mode = req_param(r, "notify");
	char		 uid[24];
	const char	*v[2] = { uid, mode ? mode->s : NULL };

	snprintf(uid, sizeof(uid), "%lld", (long long)r->who->user_id);
	if (mode == NULL)
		db_reply_json(r, "SELECT json_build_object('notify', notify) FROM "
		    "users WHERE id = $1", 1, v, "");
	else
		db_reply_json(r, "UPDATE users SET notify = $2 WHERE id = $1 "
		    "RETURNING json_build_object('notify', notify)", 2, v, "");
}
