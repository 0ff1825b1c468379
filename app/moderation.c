/*
 * moderation.c — decisions on submissions, and what reviewers read.
 *
 * Who may act is decided in one place, access_of(): the author; the admins of
 * the author's organisation (they read); a reviewer whose organisation's
 * kind is one of the guichet's authorities and whose territory holds the
 * record; platform admins. Validated objects are readable by every account
 * (amendments start from them). Others get 404, so that ids tell nothing.
 *
 * A transition runs in one SERIALIZABLE transaction that locks the row,
 * checks the version the client saw, the transition's rules and its
 * justification, then writes the state, the decision, the event and the
 * notifications together. Two reviewers deciding at once: the second finds
 * the row changed (its version, or a state the action no longer leaves)
 * and gets 409.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "form.h"
#include "http.h"
#include "moderation.h"
#include "notify.h"
#include "submission.h"
#include "util.h"
#include "workflow.h"

#define AUTH_ADMIN	(-2)

/* What access_of() reads of a record. */
struct rec {
	int64_t		 id;
	char		 state[24];
	int		 version;
	int64_t		 author;
	int64_t		 org;
	char		 commune[8];
	int		 round;
	char		 operation[8];
	char		 target_commune[8];	/* an amendment's object's place */
	char		*label;
	char		*signed_off;	/* authorities that validated this round */
};

enum access { NO_ACCESS = 0, READER, INVOLVED };

static void
rec_free(struct rec *x)
{
	free(x->label);
	free(x->signed_off);
	x->label = x->signed_off = NULL;
}

static const struct form *
form_of(struct req *r)
{
	return form_find(req_param(r, "guichet")->s);
}

static void
idstr(char *out, size_t n, int64_t id)
{
	snprintf(out, n, "%lld", (long long)id);
}

int
mod_authority(const struct form *f, const struct identity *who,
    const char *commune)
{
	int	a;

	if (who == NULL || authz_route(who, ACT_REVIEW).status != 0)
		return -1;
	if (who->role == ROLE_ADMIN)
		return AUTH_ADMIN;
	if ((a = form_authority_of_kind(f, who->org_kind)) < 0 || commune == NULL ||
	    commune[0] == '\0' || authz_place(who, ACT_REVIEW, commune).status)
		return -1;
	return a;
}

static const char *
authority_code(const struct form *f, int a)
{
	return a == AUTH_ADMIN ? "admin" : form_authority(f, (size_t)a, NULL);
}

/* Has authority code signed off in this round? (a PostgreSQL array text) */
static int
signed_off(const struct rec *x, const char *code)
{
	char	**v;
	size_t	  n, i;
	int	  found = 0;

	if (x->signed_off == NULL || pgarray_parse(x->signed_off, &v, &n))
		return 0;
	for (i = 0; i < n; i++)
		found |= strcmp(v[i], code) == 0;
	pgarray_free(v, n);
	return found;
}

#define REC_COLUMNS "s.id, s.state, s.version, s.author_id, " \
	"s.organisation_id, s.insee_commune, s.round, s.operation, s.label, " \
	"(SELECT coalesce(array_agg(authority), '{}') FROM reviews WHERE " \
	"submission_id = s.id AND round = s.round AND decision = 'validate'), " \
	"(SELECT insee_commune FROM submissions t WHERE t.id = s.target_id)"

static int
rec_read(PGresult *res, struct rec *x)
{
	memset(x, 0, sizeof(*x));
	if (PQntuples(res) == 0)
		return -1;
	x->id = atoll(PQgetvalue(res, 0, 0));
	snprintf(x->state, sizeof(x->state), "%s", PQgetvalue(res, 0, 1));
	x->version = atoi(PQgetvalue(res, 0, 2));
	x->author = atoll(PQgetvalue(res, 0, 3));
	x->org = atoll(PQgetvalue(res, 0, 4));
	snprintf(x->commune, sizeof(x->commune), "%s", PQgetvalue(res, 0, 5));
	x->round = atoi(PQgetvalue(res, 0, 6));
	snprintf(x->operation, sizeof(x->operation), "%s", PQgetvalue(res, 0, 7));
	x->label = xstrdup(PQgetvalue(res, 0, 8));
	x->signed_off = xstrdup(PQgetvalue(res, 0, 9));
	snprintf(x->target_commune, sizeof(x->target_commune), "%s",
	    PQgetvalue(res, 0, 10));
	return 0;
}

/*
 * The authority who reviews a record for: competent where it lies and,
 * for an amendment, where its object lies (a move needs both places'
 * consent); -1 when none.
 */
static int
reviews_for(const struct form *f, const struct identity *who,
    const struct rec *x)
{
	int	a = mod_authority(f, who, x->commune);

	if (a != -1 && x->target_commune[0] != '\0' && strcmp(x->commune,
	    x->target_commune) != 0 && mod_authority(f, who,
	    x->target_commune) == -1)
		return -1;
	return a;
}

/* Drafts are their authors'; reviewers see what was sent to them. */
static int
sent(const struct rec *x)
{
	return strcmp(x->state, "draft") != 0 && x->round > 0;
}

static enum access
access_of(const struct form *f, const struct identity *who,
    const struct rec *x)
{
	if (who->user_id == x->author || who->role == ROLE_ADMIN ||
	    (who->role == ROLE_ORG_ADMIN && who->org_id == x->org) ||
	    (sent(x) && (mod_authority(f, who, x->commune) != -1 ||
	    (x->target_commune[0] != '\0' && mod_authority(f, who,
	    x->target_commune) != -1))))
		return INVOLVED;
	if (strcmp(x->state, "validated") == 0 || strcmp(x->state, "deleted") == 0)
		return READER;
	return NO_ACCESS;
}

/*
 * Loads record id of the route's guichet and checks the caller's access;
 * answers 404 (or the database error) and returns -1 when it falls short of
 * need.
 */
static int
load_access(struct req *r, const struct form *f, int64_t id, enum access need,
    struct rec *x)
{
	struct db_err	 e;
	PGresult	*res;
	char		 ids[24];
	const char	*v[2] = { ids, form_guichet(f) };

	idstr(ids, sizeof(ids), id);
	res = db_query(&e, DB_IDEMPOTENT, "SELECT " REC_COLUMNS " FROM "
	    "submissions s WHERE s.id = $1 AND s.guichet = $2", 2, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		return -1;
	}
	if (rec_read(res, x) != 0 || access_of(f, r->who, x) < need) {
		PQclear(res);
		rec_free(x);
		http_reply_error(r, 404, "not_found", "Cette saisie n'existe pas.",
		    NULL);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* May who take transition w on x now? */
static int
may(const struct form *f, const struct identity *who, const struct rec *x,
    const struct wf_transition *w)
{
	int	a;

	if (!wf_leaves(w, x->state))
		return 0;
	if (w->by == WF_AUTHOR)
		return who->user_id == x->author &&
		    authz_route(who, ACT_SUBMIT).status == 0;
	if ((a = reviews_for(f, who, x)) == -1)
		return 0;
	if (who->user_id == x->author)
		return 0;	/* no one decides on their own submission */
	if (strcmp(w->action, "validate") == 0 && a != AUTH_ADMIN &&
	    signed_off(x, authority_code(f, a)))
		return 0;	/* signed off already in this round */
	return 1;
}

static json_t *
allowed_actions(const struct form *f, const struct identity *who,
    const struct rec *x)
{
	json_t	*list = json_array();
	size_t	 i;

	for (i = 0; i < wf_count(); i++)
		if (may(f, who, x, wf_get(i)))
			json_array_append_new(list, json_string(wf_get(i)->action));
	return list;
}

/* --- the record as the API shows it -------------------------------------- */

#define RECORD_JSON "json_build_object('id', s.id, 'uid', s.uid, 'guichet', " \
	"s.guichet, 'state', s.state, 'version', s.version, 'attributes', " \
	"s.attributes, 'geometry', ST_AsGeoJSON(s.geom)::json, 'label', s.label, " \
	"'insee_commune', s.insee_commune, 'departement', s.departement, " \
	"'author_id', s.author_id, 'author_name', (SELECT display_name FROM " \
	"users WHERE id = s.author_id), 'organisation_id', s.organisation_id, " \
	"'organisation_name', (SELECT name FROM organisations WHERE id = " \
	"s.organisation_id), 'warnings', s.warnings, 'voie_uid', s.voie_uid, " \
	"'operation', s.operation, 'target_id', s.target_id, 'target_version', " \
	"s.target_version, 'round', s.round, 'due_at', s.due_at, 'overdue', " \
	"coalesce(s.state IN ('submitted', 'in_review') AND s.due_at < now(), " \
	"false), 'decided_at', s.decided_at, 'created_at', s.created_at, " \
	"'updated_at', s.updated_at, 'submitted_at', s.submitted_at, " \
	"'assignments', (SELECT coalesce(json_agg(json_build_object('authority', " \
	"a.authority, 'user_id', a.user_id, 'user_name', u.display_name, " \
	"'assigned_at', a.assigned_at) ORDER BY a.authority), '[]') FROM " \
	"assignments a JOIN users u ON u.id = a.user_id WHERE a.submission_id = " \
	"s.id), 'round_reviews', (SELECT coalesce(json_agg(json_build_object(" \
	"'authority', v.authority, 'decision', v.decision, 'reviewer_name', " \
	"u.display_name, 'at', v.created_at) ORDER BY v.id), '[]') FROM reviews " \
	"v JOIN users u ON u.id = v.reviewer_id WHERE v.submission_id = s.id AND " \
	"v.round = s.round), 'last_review', (SELECT json_build_object('id', v.id, " \
	"'version', v.version, 'round', v.round, 'decision', v.decision, " \
	"'authority', v.authority, 'reason', v.reason, 'comment', v.comment, " \
	"'remarks', v.remarks, 'reviewer_name', u.display_name, " \
	"'organisation_name', o.name, 'at', v.created_at) FROM reviews v JOIN " \
	"users u ON u.id = v.reviewer_id JOIN organisations o ON o.id = " \
	"v.organisation_id WHERE v.submission_id = s.id ORDER BY v.id DESC " \
	"LIMIT 1))"

/*
 * One sign-off per authority of the form for the current round: who
 * validated, or null. An admin's validation stands for every authority.
 */
static json_t *
signoffs(const struct form *f, json_t *reviews)
{
	json_t		*out = json_array(), *v, *hit;
	const char	*code, *label, *a;
	size_t		 i, j;

	for (i = 0; i < form_authority_count(f); i++) {
		code = form_authority(f, i, &label);
		hit = NULL;
		json_array_foreach(reviews, j, v) {
			a = json_string_value(json_object_get(v, "authority"));
			if (strcmp(json_string_value(json_object_get(v,
			    "decision")), "validate") == 0 && (strcmp(a, code) == 0 ||
			    strcmp(a, "admin") == 0))
				hit = v;
		}
		json_array_append_new(out, json_pack("{s:s, s:s, s:O?, s:O?, s:O?}",
		    "authority", code, "label", label, "decision", hit ?
		    json_object_get(hit, "decision") : NULL, "reviewer_name", hit ?
		    json_object_get(hit, "reviewer_name") : NULL, "at", hit ?
		    json_object_get(hit, "at") : NULL));
	}
	return out;
}

static void
set_etag(struct req *r, int version)
{
	snprintf(r->etag, sizeof(r->etag), "\"%d\"", version);
}

/* The record's JSON, decorated for who; NULL (answered) on failure. */
static json_t *
record(struct req *r, const struct form *f, int64_t id, struct rec *x)
{
	PGresult	*res;
	char		 ids[24];
	const char	*v[1] = { ids };
	json_t		*j;

	idstr(ids, sizeof(ids), id);
	if ((res = db_query_row(r, "SELECT " RECORD_JSON " FROM submissions s "
	    "WHERE s.id = $1", 1, v, "Cette saisie n'existe pas.")) == NULL)
		return NULL;
	j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (j == NULL) {
		http_reply_error(r, 500, "internal_error", "Erreur interne.", NULL);
		return NULL;
	}
	json_object_set_new(j, "signoffs", signoffs(f, json_object_get(j,
	    "round_reviews")));
	json_object_del(j, "round_reviews");
	json_object_set_new(j, "review_mode", json_string(form_review_all(f) ?
	    "all" : "any"));
	json_object_set_new(j, "allowed_actions", allowed_actions(f, r->who, x));
	/* Those who only read a validated object see the object, not who
	 * reviewed it nor what they said. */
	if (access_of(f, r->who, x) == READER) {
		json_object_del(j, "last_review");
		json_object_del(j, "assignments");
		json_object_del(j, "signoffs");
	}
	return j;
}

void
mod_reply_record(struct req *r, const struct form *f, int64_t id,
    unsigned status, json_t *extra)
{
	struct rec	 x;
	json_t		*j;

	if (load_access(r, f, id, READER, &x) != 0)
		return;
	if ((j = record(r, f, id, &x)) != NULL) {
		if (extra != NULL)
			json_object_update(j, extra);
		set_etag(r, x.version);
		http_reply_json(r, status, j);
	}
	rec_free(&x);
}

void
mod_reply_stale(struct req *r, const struct form *f, int64_t id)
{
	struct rec	 x;
	json_t		*j, *body;

	if (load_access(r, f, id, READER, &x) != 0)
		return;
	if ((j = record(r, f, id, &x)) != NULL) {
		body = http_error_json("stale_version", "La saisie a été modifiée "
		    "entre-temps : rechargez-la avant de recommencer.", "version");
		json_object_set_new(body, "current_version", json_integer(x.version));
		json_object_set_new(body, "current", j);
		set_etag(r, x.version);
		http_reply_json(r, 409, body);
	}
	rec_free(&x);
}

/*
 * If-Match compares strongly (RFC 9110): a weak tag never matches, so it is
 * refused like any other malformed value. A body version that differs from
 * the header is a contradiction, refused too.
 */
long long
mod_wanted_version(struct req *r)
{
	const struct param_val *ver = req_param(r, "version");
	const char	*h = req_header(r, "If-Match");
	char		*end;
	long long	 n = -1;

	if (h != NULL && strcmp(h, "*") != 0) {
		if (h[0] != '"' || h[1] < '1' || h[1] > '9' ||
		    (n = strtoll(h + 1, &end, 10)) < 1 || n > 2147483647 ||
		    end[0] != '"' || end[1] != '\0') {
			http_reply_error(r, 400, "if_match_invalid", "L'en-tête "
			    "If-Match doit être l'ETag reçu (\"5\").",
			    "If-Match");
			return -2;
		}
	}
	if (ver != NULL && ver->set) {
		if (n != -1 && n != ver->i) {
			http_reply_error(r, 400, "version_conflict", "La version "
			    "du corps et celle de l'en-tête If-Match "
			    "diffèrent.", "version");
			return -2;
		}
		return ver->i;
	}
	return n;
}

/* --- transitions ------------------------------------------------------------ */

/* What a transition asks for, and how it ended. */
struct tx {
	struct req			*r;
	const struct form		*f;
	const struct wf_transition	*w;
	int64_t				 id;
	long long			 version;	/* -1: not checked */
	const char			*comment;
	const char			*reason;
	json_t				*remarks;
	/* Outcome: 0, or a refusal. */
	unsigned			 status;
	const char			*code;
	char				 message[256];
	const char			*field;
	json_t				*allowed;
	int				 stale;
};

static int
refuse(struct tx *t, struct db_err *e, unsigned status, const char *code,
    const char *field, const char *message)
{
	t->status = status;
	t->code = code;
	t->field = field;
	snprintf(t->message, sizeof(t->message), "%s", message);
	memset(e, 0, sizeof(*e));
	return -1;
}

/* Text without control characters but line breaks and tabs. */
static int
plain_text(json_t *v)
{
	const unsigned char *p = (const unsigned char *)json_string_value(v);
	size_t	 i, n = json_string_length(v);

	for (i = 0; i < n; i++)
		if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' &&
		    p[i] != '\t') || p[i] == 0x7f)
			return 0;
	return 1;
}

/* The justification a transition requires: comment, reason, remarks. */
static int
justified(struct tx *t, struct db_err *e)
{
	const char	*k;
	json_t		*v;
	int		 has_comment = t->comment != NULL && t->comment[0] != '\0';

	json_object_foreach(t->remarks, k, v) {
		if (strcmp(k, "geometry") != 0 && form_field_label(t->f, k) == NULL)
			return refuse(t, e, 422, "remark_unknown_field", "remarks",
			    "Une remarque porte sur un champ que le formulaire "
			    "n'a pas.");
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 2000 || !plain_text(v))
			return refuse(t, e, 422, "remark_invalid", "remarks",
			    "Chaque remarque est un texte de 1 à 2000 octets, "
			    "sans caractère de contrôle.");
	}
	if (t->w->comment == WF_COMMENT_REQUIRED && !has_comment)
		return refuse(t, e, 422, "comment_required", "comment",
		    "Un commentaire est obligatoire pour cette décision.");
	if (t->w->comment == WF_COMMENT_OR_REMARKS && !has_comment &&
	    json_object_size(t->remarks) == 0)
		return refuse(t, e, 422, "comment_required", "comment",
		    "Dites ce qui doit changer : un commentaire ou une remarque "
		    "sur un champ.");
	if (t->w->reason && !wf_reason_ok(t->reason))
		return refuse(t, e, 422, "reason_required", "reason",
		    "Choisissez un motif dans la liste.");
	if (!t->w->reason)
		t->reason = NULL;	/* a reason only goes with a refusal */
	return 0;
}

/*
 * A validated amendment changes its object, if the object is still at the
 * version the amendment started from; else the reviewer must look again.
 */
static int
apply_amendment(PGconn *c, struct tx *t, struct db_err *e, const char *op,
    const char *actor)
{
	char		 ids[24];
	const char	*v[2] = { ids, actor };
	PGresult	*res;
	int		 n;

	idstr(ids, sizeof(ids), t->id);
	res = db_exec(c, e, strcmp(op, "modify") == 0 ?
	    "UPDATE submissions o SET attributes = a.attributes, geom = a.geom, "
	    "label = a.label, insee_commune = a.insee_commune, departement = "
	    "a.departement, voie_uid = a.voie_uid, version = o.version + 1, "
	    "updated_by = $2, updated_at = now() FROM submissions a WHERE "
	    "a.id = $1 AND o.id = a.target_id AND o.state = 'validated' AND "
	    "o.version = a.target_version RETURNING o.id" :
	    "UPDATE submissions o SET state = 'deleted', version = o.version + 1, "
	    "updated_by = $2, updated_at = now(), decided_at = now() FROM "
	    "submissions a WHERE a.id = $1 AND o.id = a.target_id AND o.state = "
	    "'validated' AND o.version = a.target_version RETURNING o.id", 2, v);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	if (n == 1) {
		int64_t target = atoll(PQgetvalue(res, 0, 0));

		PQclear(res);
		return audit_append(c, e, strcmp(op, "modify") == 0 ?
		    "object.modified" : "object.deleted", atoll(actor), target,
		    json_pack("{s:I}", "amendment", (json_int_t)t->id));
	}
	PQclear(res);
	return refuse(t, e, 409, "target_changed", NULL, "L'objet validé a "
	    "changé depuis que cette demande a été faite : elle ne peut plus "
	    "s'appliquer telle quelle.");
}

/* Are all the form's authorities signed off, with code's now? */
static int
all_signed(const struct form *f, const struct rec *x, const char *code)
{
	size_t	i;

	for (i = 0; i < form_authority_count(f); i++) {
		const char *a = form_authority(f, i, NULL);

		if (strcmp(a, code) != 0 && !signed_off(x, a))
			return 0;
	}
	return 1;
}

/* Tells the author of a decision, in its transaction. */
static int
notify_decision(PGconn *c, struct db_err *e, struct tx *t,
    const struct rec *x, const char *to, int a)
{
	const char	*by = "l'administration de la plateforme", *what;
	char		*msg;
	int		 rc;

	if (a >= 0)
		form_authority(t->f, (size_t)a, &by);
	what = strcmp(to, "validated") == 0 ? "validée" :
	    strcmp(to, "rejected") == 0 ? "refusée" :
	    strcmp(to, "changes_requested") == 0 ? "modifications demandées" :
	    "validée";
	msg = xasprintf("Votre saisie « %s » (n° %lld) : %s par %s%s.", x->label,
	    (long long)t->id, what, by, strcmp(to, "in_review") == 0 ?
	    " ; d'autres autorités doivent encore se prononcer" : "");
	rc = notify(c, e, NOTIFY_AUTHOR, t->f, t->id, t->r->who->user_id,
	    "decision", "Guichet : décision sur votre saisie", msg);
	free(msg);
	return rc;
}

static int
transition_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct tx	*t = arg;
	const struct identity *who = t->r->who;
	struct rec	 x;
	PGresult	*res;
	char		 ids[24], uid[24], oid[24], round[16], ver[16];
	const char	*v[10], *to = t->w->to, *code = NULL;
	const char	*comment = t->comment && t->comment[0] ? t->comment : NULL;
	char		*remarks = NULL;
	int		 a, final = 0, rc = -1;
	json_t		*payload;

	idstr(ids, sizeof(ids), t->id);
	idstr(uid, sizeof(uid), who->user_id);
	idstr(oid, sizeof(oid), who->org_id);
	v[0] = ids;
	v[1] = form_guichet(t->f);
	if (audit_begin(c, e))
		return -1;
	if ((res = db_exec(c, e, "SELECT " REC_COLUMNS " FROM submissions s "
	    "WHERE s.id = $1 AND s.guichet = $2 FOR UPDATE", 2, v)) == NULL)
		return -1;
	if (rec_read(res, &x) != 0 || access_of(t->f, who, &x) == NO_ACCESS) {
		PQclear(res);
		rec_free(&x);
		return refuse(t, e, 404, "not_found", NULL,
		    "Cette saisie n'existe pas.");
	}
	PQclear(res);
	if (t->version >= 0 && t->version != x.version) {
		t->stale = 1;
		rc = refuse(t, e, 409, "stale_version", "version", "");
		goto out;
	}
	if (!may(t->f, who, &x, t->w)) {
		json_decref(t->allowed);
		t->allowed = allowed_actions(t->f, who, &x);
		rc = refuse(t, e, 409, "transition_forbidden", "action",
		    "Cette action n'est pas possible sur cette saisie, dans son "
		    "état, pour vous.");
		goto out;
	}
	if (justified(t, e) != 0)
		goto out;
	a = t->w->by == WF_REVIEWER ? reviews_for(t->f, who, &x) : -1;
	if (a != -1)
		code = authority_code(t->f, a);
	if (strcmp(t->w->action, "validate") == 0) {
		final = a == AUTH_ADMIN || !form_review_all(t->f) ||
		    all_signed(t->f, &x, code);
		if (!final)
			to = "in_review";
	} else
		final = strcmp(t->w->action, "reject") == 0;
	snprintf(round, sizeof(round), "%d", x.round);
	snprintf(ver, sizeof(ver), "%d", x.version);
	/* The decision, as the reviewer saw the record (version). */
	if (strcmp(t->w->action, "validate") == 0 ||
	    strcmp(t->w->action, "reject") == 0 ||
	    strcmp(t->w->action, "request_changes") == 0) {
		remarks = t->remarks ? json_dumps(t->remarks, JSON_COMPACT) :
		    NULL;
		v[0] = ids; v[1] = round; v[2] = ver; v[3] = code; v[4] = oid;
		v[5] = uid; v[6] = t->w->action; v[7] = t->reason;
		v[8] = comment;
		v[9] = remarks ? remarks : "{}";
		if (db_run(c, e, "INSERT INTO reviews (submission_id, round, "
		    "version, authority, organisation_id, reviewer_id, decision, "
		    "reason, comment, remarks) VALUES ($1, $2, $3, $4, $5, $6, $7, "
		    "$8, $9, $10::jsonb)", 10, v))
			goto out;
	}
	if (strcmp(t->w->action, "claim") == 0) {
		v[0] = ids; v[1] = code; v[2] = uid;
		if (db_run(c, e, "INSERT INTO assignments (submission_id, "
		    "authority, user_id, assigned_by) VALUES ($1, $2, $3, $3) "
		    "ON CONFLICT (submission_id, authority) DO UPDATE SET "
		    "user_id = $3, assigned_by = $3, assigned_at = now()", 3, v))
			goto out;
	}
	v[0] = ids; v[1] = to; v[2] = uid; v[3] = final ? "t" : "f";
	if (db_run(c, e, "UPDATE submissions SET state = $2, version = version "
	    "+ 1, updated_by = $3, updated_at = now(), decided_at = CASE WHEN "
	    "$4::boolean THEN now() ELSE decided_at END WHERE id = $1", 4, v))
		goto out;
	if (final && strcmp(t->w->action, "validate") == 0 &&
	    strcmp(x.operation, "create") != 0 &&
	    apply_amendment(c, t, e, x.operation, uid) != 0)
		goto out;
	payload = json_pack("{s:s, s:s, s:s, s:i, s:s?, s:s?, s:s?, s:O?, s:b}",
	    "action", t->w->action, "from", x.state, "to", to, "version",
	    x.version + 1, "authority", code, "comment", comment, "reason",
	    t->reason, "remarks",
	    json_object_size(t->remarks) ? t->remarks : NULL, "final", final);
	if (audit_append(c, e, "transition", who->user_id, t->id, payload))
		goto out;
	if (t->w->by == WF_REVIEWER && strcmp(t->w->action, "claim") != 0 &&
	    notify_decision(c, e, t, &x, to, a) != 0)
		goto out;
	rc = 0;
out:
	free(remarks);
	rec_free(&x);
	return rc;
}

/* Runs one transition; 0, or the refusal (or database error) in t and e. */
static int
transition_run(struct tx *t, struct db_err *e)
{
	t->status = 0;
	if (db_tx(e, transition_tx, t) == 0)
		return 0;
	if (t->status == 0)
		t->status = db_http_status(e->rc);
	return -1;
}

static void
reply_refusal(struct req *r, struct tx *t, struct db_err *e)
{
	json_t	*body;

	if (t->stale) {
		mod_reply_stale(r, t->f, t->id);
		return;
	}
	if (t->code == NULL) {
		db_reply_error(r, e);
		return;
	}
	body = http_error_json(t->code, t->message, t->field);
	if (t->allowed != NULL)
		json_object_set(body, "allowed", t->allowed);
	http_reply_json(r, t->status, body);
}

void
mod_transition(struct req *r)
{
	struct tx	 t = { r, form_of(r), NULL, req_param(r, "id")->i, -1,
	    req_param(r, "comment")->s, req_param(r, "reason")->s,
	    req_param(r, "remarks")->a, 0, NULL, "", NULL, NULL, 0 };
	struct db_err	 e;

	if ((t.version = mod_wanted_version(r)) == -2)
		return;
	t.w = wf_find(req_param(r, "action")->s);
	if (t.w == NULL) {
		http_reply_error(r, 422, "action_unknown", "Cette action n'existe "
		    "pas.", "action");
		return;
	}
	if (t.remarks != NULL && !json_is_object(t.remarks)) {
		http_reply_error(r, 422, "remark_invalid", "Les remarques sont un "
		    "objet {champ: remarque}.", "remarks");
		return;
	}
	/* Sending (again) re-checks the stored content, as a save would. */
	if (t.w->by == WF_AUTHOR && strcmp(t.w->action, "withdraw") != 0) {
		struct rec x;

		if (load_access(r, t.f, t.id, READER, &x) != 0)
			return;
		if (!may(t.f, r->who, &x, t.w)) {
			json_t *body = http_error_json("transition_forbidden",
			    "Cette action n'est pas possible sur cette saisie, "
			    "dans son état, pour vous.", "action");

			json_object_set_new(body, "allowed", allowed_actions(t.f,
			    r->who, &x));
			http_reply_json(r, 409, body);
		} else
			sub_send(r, t.id, t.version);
		rec_free(&x);
		return;
	}
	if (transition_run(&t, &e) != 0)
		reply_refusal(r, &t, &e);
	else
		mod_reply_record(r, t.f, t.id, 200, NULL);
	json_decref(t.allowed);
}

/*
 * Bulk decisions: each record in its own transaction, recorded as its own
 * event, so that one refusal does not undo the others; the answer lists
 * each outcome.
 */
void
mod_bulk(struct req *r)
{
	json_t		*ids = req_param(r, "ids")->a, *results = json_array(), *id;
	struct db_err	 e;
	size_t		 i;

	json_array_foreach(ids, i, id) {
		struct tx t = { r, form_of(r), wf_find(req_param(r, "action")->s),
		    json_integer_value(id), -1, req_param(r, "comment")->s,
		    req_param(r, "reason")->s, NULL, 0, NULL, "", NULL, NULL, 0 };

		if (t.w == NULL || t.w->by != WF_REVIEWER ||
		    strcmp(t.w->action, "claim") == 0) {
			json_decref(results);
			http_reply_error(r, 422, "action_unknown", "Seules les "
			    "décisions s'appliquent en lot.", "action");
			return;
		}
		if (transition_run(&t, &e) == 0)
			json_array_append_new(results, json_pack("{s:O, s:i}",
			    "id", id, "status", 200));
		else
			json_array_append_new(results, json_pack("{s:O, s:i, "
			    "s:s, s:s}", "id", id, "status", t.status, "code",
			    t.code ? t.code : "database_error", "message",
			    t.code ? (t.stale ? "La saisie a été modifiée "
			    "entre-temps." : t.message) : "Erreur de la base de "
			    "données."));
		json_decref(t.allowed);
	}
	http_reply_json(r, 200, json_pack("{s:o}", "results", results));
}

/* --- assignment --------------------------------------------------------------- */

struct assign_tx {
	struct req	*r;
	int64_t		 id;
	const char	*authority;
	int		 refused;	/* the assignee may not take it */
	int		 decided;	/* no longer awaiting a decision */
};

static int
assign_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct assign_tx *t = arg;
	const struct param_val *u = req_param(t->r, "user_id");
	char		 ids[24], uid[24], me[24], oid[24];
	const char	*v[5] = { ids, t->authority, uid, me, oid };
	PGresult	*res;
	int		 n;

	idstr(ids, sizeof(ids), t->id);
	idstr(uid, sizeof(uid), u->isnull ? 0 : u->i);
	idstr(me, sizeof(me), t->r->who->user_id);
	idstr(oid, sizeof(oid), t->r->who->org_id);
	if (audit_begin(c, e))
		return -1;
	/* The state as of now, locked: a decision may have come meanwhile. */
	if ((res = db_exec(c, e, "SELECT 1 FROM submissions WHERE id = $1 AND "
	    "state IN ('submitted', 'in_review') FOR UPDATE", 1, v)) == NULL)
		return -1;
	n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		t->decided = 1;
		memset(e, 0, sizeof(*e));
		return -1;
	}
	/* An assignee is an active reviewer of the assigner's organisation
	 * whose territory holds the record (an admin, for an admin), never
	 * its author. */
	res = u->isnull ? db_exec(c, e, "DELETE FROM assignments WHERE "
	    "submission_id = $1 AND authority = $2", 2, v) : db_exec(c, e,
	    "INSERT INTO assignments (submission_id, authority, user_id, "
	    "assigned_by) SELECT $1, $2, u.id, $4 FROM users u JOIN "
	    "organisations o ON o.id = u.organisation_id, submissions s WHERE "
	    "u.id = $3 AND s.id = $1 AND u.active AND u.id <> s.author_id AND "
	    "CASE WHEN $2 = 'admin' THEN u.role = 'admin' ELSE u.role IN "
	    "('reviewer', 'org_admin') AND u.organisation_id = $5 AND "
	    "guichet_user_covers(u, o, s.insee_commune, s.departement) END "
	    "ON CONFLICT (submission_id, authority) DO UPDATE SET user_id = "
	    "EXCLUDED.user_id, assigned_by = EXCLUDED.assigned_by, assigned_at "
	    "= now()", 5, v);
	if (res == NULL)
		return -1;
	n = atoi(PQcmdTuples(res));
	PQclear(res);
	if (!u->isnull && n == 0) {
		t->refused = 1;
		memset(e, 0, sizeof(*e));
		return -1;
	}
	return audit_append(c, e, "assignment", t->r->who->user_id, t->id,
	    json_pack("{s:s, s:o}", "authority", t->authority, "user_id",
	    u->isnull ? json_null() : json_integer(u->i)));
}

/*
 * Takes a record (user_id: oneself), hands it to a reviewer of one's own
 * organisation, or releases it (null). One assignee per authority: a
 * DDT(M) and an SDIS each have theirs.
 */
void
mod_assign(struct req *r)
{
	const struct form *f = form_of(r);
	struct assign_tx t = { r, req_param(r, "id")->i, NULL, 0, 0 };
	struct db_err	 e;
	struct rec	 x;
	int		 a;

	if (load_access(r, f, t.id, INVOLVED, &x) != 0)
		return;
	/* The author never chooses who reviews its own record. */
	if ((a = reviews_for(f, r->who, &x)) == -1 || r->who->user_id ==
	    x.author || (strcmp(x.state, "submitted") && strcmp(x.state,
	    "in_review"))) {
		http_reply_error(r, 409, "not_assignable", "Seule une saisie en "
		    "attente de décision peut être prise en charge, par une "
		    "autorité compétente autre que son auteur.", NULL);
		goto out;
	}
	t.authority = authority_code(f, a);
	if (db_tx(&e, assign_tx, &t) == 0)
		mod_reply_record(r, f, t.id, 200, NULL);
	else if (t.decided)
		http_reply_error(r, 409, "not_assignable", "Une décision a été "
		    "prise entre-temps sur cette saisie.", NULL);
	else if (t.refused)
		http_reply_error(r, 422, "assignee_invalid", "Cette personne ne "
		    "peut pas instruire cette saisie pour votre organisation.",
		    "user_id");
	else
		db_reply_error(r, &e);
out:
	rec_free(&x);
}

/* --- history ------------------------------------------------------------------ */

/* Answers the JSON of sql ($1: the record's id) to those with access need. */
static void
reply_about(struct req *r, enum access need, const char *sql)
{
	struct rec	 x;
	char		 ids[24];
	const char	*v[1] = { ids };

	if (load_access(r, form_of(r), req_param(r, "id")->i, need, &x) != 0)
		return;
	rec_free(&x);
	idstr(ids, sizeof(ids), req_param(r, "id")->i);
	db_reply_json(r, sql, 1, v, "");
}

void
mod_versions(struct req *r)
{
	reply_about(r, INVOLVED, "SELECT json_build_object('versions', coalesce(json_agg("
	    "json_build_object('version', v.version, 'state', v.state, "
	    "'saved_at', v.saved_at, 'saved_by', v.saved_by, 'saved_by_name', "
	    "u.display_name, 'changed', (SELECT coalesce(json_agg(k ORDER BY k), "
	    "'[]') FROM (SELECT jsonb_object_keys(v.attributes) k UNION SELECT "
	    "jsonb_object_keys(coalesce(p.attributes, '{}'))) keys WHERE p.version "
	    "IS NOT NULL AND v.attributes->k IS DISTINCT FROM p.attributes->k), "
	    "'geometry_changed', p.version IS NOT NULL AND CASE WHEN v.geom IS "
	    "NULL OR p.geom IS NULL THEN (v.geom IS NULL) <> (p.geom IS NULL) "
	    "ELSE NOT ST_OrderingEquals(v.geom, p.geom) END) ORDER BY v.version), "
	    "'[]')) FROM submission_versions v LEFT JOIN submission_versions p "
	    "ON p.submission_id = v.submission_id AND p.version = v.version - 1 "
	    "LEFT JOIN users u ON u.id = v.saved_by WHERE v.submission_id = $1");
}

/*
 * The changes between two versions (to: the current one by default): each
 * field that differs, in the form's order, with its label; whether the
 * geometry changed and by how much its centre moved.
 */
void
mod_diff(struct req *r)
{
	const struct form *f = form_of(r);
	const struct param_val *from = req_param(r, "from"), *to = req_param(r,
	    "to");
	struct db_err	 e;
	struct rec	 x;
	PGresult	*res = NULL;
	char		 ids[24], a[16], b[16];
	const char	*v[3] = { ids, a, b }, *name;
	json_t		*j = NULL, *diffs, *fields, *fd, *d;
	size_t		 i;

	if (load_access(r, f, req_param(r, "id")->i, INVOLVED, &x) != 0)
		return;
	idstr(ids, sizeof(ids), x.id);
	snprintf(a, sizeof(a), "%lld", from->i);
	snprintf(b, sizeof(b), "%lld", to->set ? to->i : (long long)x.version);
	res = db_query(&e, DB_IDEMPOTENT, "SELECT json_build_object('from', "
	    "a.version, 'to', b.version, 'changes', (SELECT coalesce("
	    "json_object_agg(k, json_build_object('before', a.attributes->k, "
	    "'after', b.attributes->k)), '{}') FROM (SELECT jsonb_object_keys("
	    "a.attributes) k UNION SELECT jsonb_object_keys(b.attributes)) keys "
	    "WHERE a.attributes->k IS DISTINCT FROM b.attributes->k), "
	    "'geometry', json_build_object('changed', CASE WHEN a.geom IS NULL OR "
	    "b.geom IS NULL THEN (a.geom IS NULL) <> (b.geom IS NULL) ELSE NOT "
	    "ST_OrderingEquals(a.geom, b.geom) END, 'moved_m', round(ST_Distance("
	    "ST_Centroid(a.geom)::geography, ST_Centroid(b.geom)::geography)::"
	    "numeric, 1), 'before', ST_AsGeoJSON(a.geom)::json, 'after', "
	    "ST_AsGeoJSON(b.geom)::json), 'state_before', a.state, 'state_after', "
	    "b.state) FROM submission_versions a, submission_versions b WHERE "
	    "a.submission_id = $1 AND b.submission_id = $1 AND a.version = $2 "
	    "AND b.version = $3", 3, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		goto out;
	}
	if (PQntuples(res) == 0 || (j = json_loads(PQgetvalue(res, 0, 0), 0,
	    NULL)) == NULL) {
		http_reply_error(r, 404, "version_not_found", "Cette version "
		    "n'existe pas.", to->set ? "from, to" : "from");
		goto out;
	}
	diffs = json_object_get(j, "changes");
	fields = json_array();
	json_array_foreach(json_object_get(form_definition(f), "fields"), i, fd) {
		name = json_string_value(json_object_get(fd, "name"));
		if ((d = json_object_get(diffs, name)) != NULL)
			json_array_append_new(fields, json_pack("{s:s, s:O, s:O, "
			    "s:O}", "field", name, "label", json_object_get(fd,
			    "label"), "before", json_object_get(d, "before"),
			    "after", json_object_get(d, "after")));
	}
	json_object_del(j, "changes");
	json_object_set_new(j, "fields", fields);
	http_reply_json(r, 200, j);
out:
	PQclear(res);
	rec_free(&x);
}

void
mod_events(struct req *r)
{
	reply_about(r, INVOLVED, "SELECT json_build_object('events', coalesce(json_agg("
	    "json_build_object('seq', e.seq, 'at', e.at, 'kind', e.kind, "
	    "'actor_id', e.actor_id, 'actor_name', u.display_name, 'payload', "
	    "e.payload) ORDER BY e.seq), '[]')) FROM events e LEFT JOIN users u "
	    "ON u.id = e.actor_id WHERE e.submission_id = $1");
}

/* --- comments ----------------------------------------------------------------- */

#define COMMENT_JSON "json_build_object('id', c.id, 'author_id', c.author_id, " \
	"'author_name', u.display_name, 'field', c.field, 'body', c.body, " \
	"'created_at', c.created_at)"

void
mod_comments(struct req *r)
{
	reply_about(r, INVOLVED, "SELECT json_build_object('comments', coalesce(json_agg("
	    COMMENT_JSON " ORDER BY c.id), '[]')) FROM comments c JOIN users u "
	    "ON u.id = c.author_id WHERE c.submission_id = $1");
}

struct comment_tx {
	struct req		*r;
	const struct form	*f;
	struct rec		*x;
	json_t			*out;
};

static int
comment_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct comment_tx *t = arg;
	const char	*field = req_param(t->r, "field")->s;
	char		 ids[24], uid[24], *msg;
	const char	*v[4] = { ids, uid, field, req_param(t->r, "body")->s };
	PGresult	*res;
	int		 rc;

	idstr(ids, sizeof(ids), t->x->id);
	idstr(uid, sizeof(uid), t->r->who->user_id);
	if (audit_begin(c, e))
		return -1;
	res = db_exec(c, e, "WITH c AS (INSERT INTO comments (submission_id, "
	    "author_id, field, body) VALUES ($1, $2, $3, $4) RETURNING *) "
	    "SELECT " COMMENT_JSON ", c.id FROM c JOIN users u ON u.id = "
	    "c.author_id", 4, v);
	if (res == NULL)
		return -1;
	json_decref(t->out);
	t->out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (audit_append(c, e, "comment", t->r->who->user_id, t->x->id,
	    json_pack("{s:O?, s:s?, s:s}", "id", json_object_get(t->out, "id"),
	    "field", field, "body", req_param(t->r, "body")->s)))
		return -1;
	msg = xasprintf("Nouveau commentaire de %s sur « %s » (n° %lld).",
	    t->r->who->name, t->x->label, (long long)t->x->id);
	rc = notify(c, e, NOTIFY_THREAD, t->f, t->x->id, t->r->who->user_id,
	    "comment", "Guichet : nouveau commentaire", msg);
	free(msg);
	return rc;
}

void
mod_comment_add(struct req *r)
{
	const struct form *f = form_of(r);
	const char	*field = req_param(r, "field")->s;
	struct rec	 x;
	struct db_err	 e;
	struct comment_tx t = { r, f, &x, NULL };

	if (load_access(r, f, req_param(r, "id")->i, INVOLVED, &x) != 0)
		return;
	if (field != NULL && strcmp(field, "geometry") != 0 &&
	    form_field_label(f, field) == NULL)
		http_reply_error(r, 422, "field_unknown", "Ce champ n'existe pas "
		    "dans le formulaire.", "field");
	else if (db_tx(&e, comment_tx, &t) != 0)
		db_reply_error(r, &e);
	else {
		http_reply_json(r, 201, t.out);
		t.out = NULL;
	}
	json_decref(t.out);
	rec_free(&x);
}

/* --- the queue and the dashboard -------------------------------------------- */

/*
 * The caller's authority per guichet, as a JSON object for the queries
 * ({"erp": "sdis"}); empty when it reviews for none.
 */
static char *
authorities_of(const struct identity *who, const char *only)
{
	static const char *const g[] = { "erp", "equipco", "adresse" };
	json_t	*o = json_object();
	char	*s;
	size_t	 i;
	int	 a;

	for (i = 0; i < 3; i++) {
		const struct form *f = form_find(g[i]);

		if (only != NULL && strcmp(only, g[i]) != 0)
			continue;
		/* The territory is checked in SQL: any place of it will do. */
		if (authz_route(who, ACT_REVIEW).status != 0)
			continue;
		a = who->role == ROLE_ADMIN ? AUTH_ADMIN :
		    form_authority_of_kind(f, who->org_kind);
		if (a != -1)
			json_object_set_new(o, g[i], json_string(
			    authority_code(f, a)));
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Where a reviewer reviews: SQL on s (submissions) with $1 authorities,
 * $2 admin, $3 départements, $4 communes, $5 user. */
#define COMPETENT "(($1::jsonb ? s.guichet) AND ($2::boolean OR (" \
	"guichet_covers($3::text[], $4::text[], s.insee_commune, " \
	"s.departement) AND (s.target_id IS NULL OR (SELECT guichet_covers(" \
	"$3::text[], $4::text[], t.insee_commune, t.departement) FROM " \
	"submissions t WHERE t.id = s.target_id)))) AND s.author_id <> " \
	"$5::bigint)"

void
mod_queue(struct req *r)
{
	const struct param_val *g = req_param(r, "guichet"), *st = req_param(r,
	    "state"), *commune = req_param(r, "commune"), *as = req_param(r,
	    "assigned"), *od = req_param(r, "overdue"), *age = req_param(r,
	    "older_than_days"), *lim = req_param(r, "limit"), *off =
	    req_param(r, "offset"), *imp = req_param(r, "import");
	char		*auth = authorities_of(r->who, g->set ? g->s : NULL), *d, *c;
	char		 uid[24], l[16], o[16], days[16], iid[24];
	const char	*v[13];

	terr_to_pg(&r->who->terr, &d, &c);
	idstr(uid, sizeof(uid), r->who->user_id);
	snprintf(l, sizeof(l), "%lld", lim->set ? lim->i : 50);
	snprintf(o, sizeof(o), "%lld", off->set ? off->i : 0);
	snprintf(days, sizeof(days), "%lld", age->set ? age->i : 0);
	v[0] = auth;
	v[1] = r->who->role == ROLE_ADMIN ? "t" : "f";
	v[2] = d;
	v[3] = c;
	v[4] = uid;
	v[5] = st->set ? st->s : NULL;
	v[6] = commune->set ? commune->s : NULL;
	v[7] = as->set ? as->s : "any";
	v[8] = od->set && od->i ? "t" : "f";
	v[9] = days;
	v[10] = l;
	v[11] = o;
	idstr(iid, sizeof(iid), imp->set ? imp->i : 0);
	v[12] = imp->set ? iid : NULL;
	/* What the caller's authority has not validated yet in this round,
	 * oldest first. */
	db_reply_json(r, "WITH q AS (SELECT s.*, $1::jsonb->>s.guichet AS "
	    "mine FROM submissions s WHERE " COMPETENT " AND CASE WHEN $6::text "
	    "IS NULL THEN s.state IN ('submitted', 'in_review') ELSE s.state = "
	    "$6 END AND ($7::text IS NULL OR s.insee_commune = $7) AND "
	    "(NOT $9::boolean OR s.due_at < now()) AND s.submitted_at <= now() - "
	    "make_interval(days => $10::int) AND ($13::bigint IS NULL OR "
	    "s.import_id = $13) AND NOT EXISTS (SELECT 1 FROM "
	    "reviews v WHERE v.submission_id = s.id AND v.round = s.round AND "
	    "v.decision = 'validate' AND v.authority = $1::jsonb->>s.guichet) "
	    "AND CASE $8 WHEN 'me' THEN EXISTS (SELECT 1 FROM assignments a "
	    "WHERE a.submission_id = s.id AND a.user_id = $5::bigint) WHEN "
	    "'none' THEN NOT EXISTS (SELECT 1 FROM assignments a WHERE "
	    "a.submission_id = s.id AND (a.authority = $1::jsonb->>s.guichet "
	    "OR $2::boolean)) ELSE true END) "
	    "SELECT json_build_object('total', (SELECT count(*) FROM q), "
	    "'submissions', coalesce(json_agg(json_build_object('id', s.id, "
	    "'guichet', s.guichet, 'state', s.state, 'version', s.version, "
	    "'label', s.label, 'operation', s.operation, 'insee_commune', "
	    "s.insee_commune, 'commune_nom', (SELECT nom FROM ref_communes WHERE "
	    "code = s.insee_commune AND type = 'commune-actuelle'), "
	    "'departement', s.departement, 'author_name', (SELECT display_name "
	    "FROM users WHERE id = s.author_id), 'organisation_name', (SELECT "
	    "name FROM organisations WHERE id = s.organisation_id), "
	    "'submitted_at', s.submitted_at, 'due_at', s.due_at, 'overdue', "
	    "s.due_at < now(), 'authority', s.mine, 'assignments', (SELECT "
	    "coalesce(json_agg(json_build_object('authority', a.authority, "
	    "'user_id', a.user_id, 'user_name', u.display_name)), '[]') FROM "
	    "assignments a JOIN users u ON u.id = a.user_id WHERE "
	    "a.submission_id = s.id)) ORDER BY s.submitted_at, s.id), '[]')) "
	    "FROM (SELECT * FROM q ORDER BY submitted_at, id LIMIT $11 OFFSET "
	    "$12) s", 13, v, "");
	free(auth);
	free(d);
	free(c);
}

/*
 * Counts by guichet × state × département, overdue counts, and the median
 * time from (last) submission to a final decision over the past year — of
 * what the caller may see: all for admins, its competence for reviewers,
 * its organisation's records otherwise. Drafts are private and not counted.
 */
void
mod_dashboard(struct req *r)
{
	char		*auth = authorities_of(r->who, NULL), *d, *c;
	char		 oid[24];
	const char	*v[5];

	terr_to_pg(&r->who->terr, &d, &c);
	idstr(oid, sizeof(oid), r->who->org_id);
	v[0] = auth;
	v[1] = r->who->role == ROLE_ADMIN ? "t" : "f";
	v[2] = d;
	v[3] = c;
	v[4] = oid;
	db_reply_json(r, "WITH s AS (SELECT s.* FROM submissions s WHERE "
	    "s.state <> 'draft' AND ($2::boolean OR s.organisation_id = "
	    "$5::bigint OR (($1::jsonb ? s.guichet) AND guichet_covers("
	    "$3::text[], $4::text[], s.insee_commune, s.departement)))) "
	    "SELECT json_build_object("
	    "'counts', (SELECT coalesce(json_agg(t ORDER BY guichet, "
	    "departement, state), '[]') FROM (SELECT guichet, state, "
	    "departement, count(*) AS n FROM s GROUP BY 1, 2, 3) t), "
	    "'overdue', (SELECT coalesce(json_agg(t ORDER BY guichet, "
	    "departement), '[]') FROM (SELECT guichet, departement, count(*) AS "
	    "n FROM s WHERE state IN ('submitted', 'in_review') AND due_at < "
	    "now() GROUP BY 1, 2) t), "
	    "'median_hours', (SELECT coalesce(json_agg(t ORDER BY guichet), "
	    "'[]') FROM (SELECT guichet, round((percentile_cont(0.5) WITHIN "
	    "GROUP (ORDER BY extract(epoch FROM decided_at - submitted_at)) / "
	    "3600)::numeric, 1) AS hours, count(*) AS n FROM s WHERE state IN "
	    "('validated', 'rejected') AND decided_at > now() - interval '1 year' "
	    "AND submitted_at IS NOT NULL GROUP BY 1) t))", 5, v, "");
	free(auth);
	free(d);
	free(c);
}
