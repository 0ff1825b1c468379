/*
 * submission.c — creating, editing and reading submissions.
 *
 * One check (check.c) serves creation and edition. A draft is saved with
 * its problems listed; a submission is refused (422) while any error
 * remains, or while warnings are not confirmed (confirm_warnings).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "check.h"
#include "db.h"
#include "form.h"
#include "http.h"
#include "moderation.h"
#include "notify.h"
#include "submission.h"
#include "util.h"
#include "workflow.h"

/* The columns of a submission as the API shows it. */
#define SUB_JSON "json_build_object('id', s.id, 'uid', s.uid, 'guichet', " \
	"s.guichet, 'state', s.state, 'version', s.version, 'attributes', " \
	"s.attributes, 'geometry', ST_AsGeoJSON(s.geom)::json, 'insee_commune', " \
	"s.insee_commune, 'departement', s.departement, 'author_id', " \
	"s.author_id, 'organisation_id', s.organisation_id, 'warnings', " \
	"s.warnings, 'voie_uid', s.voie_uid, 'label', s.label, 'operation', " \
	"s.operation, 'target_id', s.target_id, 'round', s.round, 'due_at', " \
	"s.due_at, 'created_at', s.created_at, 'updated_at', s.updated_at, " \
	"'submitted_at', s.submitted_at)"

static const struct form *
form_of(struct req *r)
{
	return form_find(req_param(r, "guichet")->s);
}

void
sub_form(struct req *r)
{
	http_reply_json(r, 200, json_incref(form_definition(form_of(r))));
}

/* check_run on a request: the database's failure is answered (-1). */
static int
check_or_reply(struct req *r, struct check *c, json_t *attrs,
    json_t *geometry, int complete, int64_t self)
{
	struct db_err	e;

	if (check_run(c, r->who, attrs, geometry, complete, self, &e) == 0)
		return 0;
	db_reply_error(r, &e);
	return -1;
}

/* 422 with the lists, in the one error shape plus "errors" and "warnings". */
static void
reply_invalid(struct req *r, struct check *c, const char *code,
    const char *message)
{
	json_t	*first = json_array_get(c->errors, 0), *body;

	if (first == NULL)
		first = json_array_get(c->warnings, 0);
	body = http_error_json(code, message, json_string_value(
	    json_object_get(first, "field")));
	json_object_set(body, "errors", c->errors);
	json_object_set(body, "warnings", c->warnings);
	http_reply_json(r, 422, body);
}

/* The values a save writes from the checks, into v[1..6] ($2..$7). */
static void
row_values(const struct check *c, int go, const char *attrs, const char **v)
{
	v[1] = go ? "submitted" : "draft";
	v[2] = attrs;
	v[3] = c->hexwkb;
	v[4] = json_string_value(json_object_get(c->clean,
	    form_name_field(c->form)));
	v[5] = c->commune[0] ? c->commune : NULL;
	v[6] = c->dept[0] ? c->dept : NULL;
}

/*
 * After the checks: refuses what cannot be saved, and tells whether the
 * submission goes in (1) or stays a draft (0). Returns -1 when answered.
 */
static int
gate(struct req *r, struct check *c, int submit)
{
	char	msg[128];

	if (c->outside) {
		http_reply_error(r, 403, "outside_territory", "Cette commune est "
		    "hors du territoire de votre compte.",
		    form_commune_field(c->form));
		return -1;
	}
	if (!submit)
		return 0;
	if (json_array_size(c->errors) > 0) {
		snprintf(msg, sizeof(msg), "La saisie contient %zu erreur(s) : "
		    "corrigez-les avant de la soumettre.",
		    json_array_size(c->errors));
		reply_invalid(r, c, "validation_failed", msg);
		return -1;
	}
	if (json_array_size(c->warnings) > 0 &&
	    !req_param(r, "confirm_warnings")->i) {
		reply_invalid(r, c, "warnings_unconfirmed", "La saisie appelle des "
		    "remarques : confirmez-les (confirm_warnings) pour la "
		    "soumettre.");
		return -1;
	}
	return 1;
}

/*
 * A save, in one transaction: the row written (the statement returns the
 * record's JSON, or nothing when the version or state moved meanwhile),
 * the event, and when the record is sent to the reviewers, their
 * notifications.
 */
struct save {
	struct req	*r;
	struct check	*c;
	const char	*sql;
	const char	**v;
	int		 nv;
	const char	*action;	/* "submit", "resubmit", or NULL: a save */
	const char	*from;		/* the state before */
	int		 created;
	json_t		*out;		/* the record saved */
};

static int
save_tx(PGconn *conn, void *arg, struct db_err *e)
{
	struct save	*s = arg;
	const struct form *f = s->c->form;
	PGresult	*res;
	json_t		*payload;
	int64_t		 id;
	char		*msg;
	const char	*label;
	int		 rc;

	if (audit_begin(conn, e) ||
	    (res = db_exec(conn, e, s->sql, s->nv, s->v)) == NULL)
		return -1;
	json_decref(s->out);
	s->out = PQntuples(res) ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) :
	    NULL;
	PQclear(res);
	if (s->out == NULL) {
		memset(e, 0, sizeof(*e));
		return -1;	/* stale: nothing written */
	}
	id = json_integer_value(json_object_get(s->out, "id"));
	payload = s->action ? json_pack("{s:s, s:s, s:s, s:O}", "action",
	    s->action, "from", s->from, "to", "submitted", "version",
	    json_object_get(s->out, "version")) : json_pack("{s:O, s:O}",
	    "version", json_object_get(s->out, "version"), "state",
	    json_object_get(s->out, "state"));
	if (audit_append(conn, e, s->action ? "transition" : s->created ?
	    "submission.created" : "submission.saved", s->r->who->user_id, id,
	    payload))
		return -1;
	if (s->action == NULL)
		return 0;
	label = json_string_value(json_object_get(s->out, "label"));
	msg = xasprintf("%s : « %s » à instruire (n° %lld, commune %s)%s.",
	    json_string_value(json_object_get(form_definition(f), "title")),
	    label ? label : "sans nom", (long long)id, s->c->commune,
	    strcmp(s->action, "resubmit") == 0 ? ", corrigée après votre "
	    "demande" : "");
	rc = notify(conn, e, NOTIFY_REVIEWERS, f, id, s->r->who->user_id,
	    "submitted", "Guichet : une saisie à instruire", msg);
	free(msg);
	return rc;
}

/* Runs the save; answers the record, 409 when stale, or the error. */
static void
save(struct save *s, unsigned status, int64_t id)
{
	struct db_err	e;

	if (db_tx(&e, save_tx, s) != 0) {
		if (e.rc == DB_OK)
			mod_reply_stale(s->r, s->c->form, id);
		else
			db_reply_error(s->r, &e);
	} else {
		json_t *problems = json_pack("{s:O, s:O}", "errors",
		    s->c->errors, "warnings", s->c->warnings);

		mod_reply_record(s->r, s->c->form, json_integer_value(
		    json_object_get(s->out, "id")), status, problems);
		json_decref(problems);
	}
	json_decref(s->out);
}

/*
 * An amendment's object: a validated object of the same guichet (not an
 * amendment itself). Fills its id, version, and for a deletion request
 * its content. Returns -1 when answered.
 */
static int
amended(struct req *r, struct check *c, int64_t *target, char *tver,
    json_t **attrs, json_t **geometry)
{
	char		 ids[24];
	const char	*v[2] = { ids, form_guichet(c->form) };
	struct db_err	 e;
	PGresult	*res;

	snprintf(ids, sizeof(ids), "%lld", req_param(r, "amends")->i);
	const struct param_val *seen = req_param(r, "amends_version");

	res = db_query(&e, DB_IDEMPOTENT, "SELECT state, operation, version, "
	    "attributes, ST_AsGeoJSON(geom), insee_commune FROM submissions "
	    "WHERE id = $1 AND guichet = $2", 2, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		return -1;
	}
	if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "validated") ||
	    strcmp(PQgetvalue(res, 0, 1), "create")) {
		PQclear(res);
		http_reply_error(r, 409, "not_amendable", "Seul un objet validé "
		    "peut être modifié ou supprimé par une demande.", "amends");
		return -1;
	}
	/* One amends what lies in one's territory, wherever it would move. */
	if (authz_place(r->who, ACT_SUBMIT, PQgetvalue(res, 0, 5)).status) {
		PQclear(res);
		http_reply_error(r, 403, "outside_territory", "Cet objet est hors "
		    "du territoire de votre compte.", "amends");
		return -1;
	}
	/* The version the author saw, so that a change made since is not
	 * silently undone. */
	if (seen->set && seen->i != atoll(PQgetvalue(res, 0, 2))) {
		PQclear(res);
		http_reply_error(r, 409, "stale_version", "L'objet a été modifié "
		    "depuis que vous l'avez ouvert : rechargez-le.",
		    "amends_version");
		return -1;
	}
	*target = c->target = req_param(r, "amends")->i;
	snprintf(tver, 16, "%s", PQgetvalue(res, 0, 2));
	/* A deletion carries the object as it is, for the reviewer. */
	if (req_param(r, "operation")->set &&
	    strcmp(req_param(r, "operation")->s, "delete") == 0) {
		*attrs = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
		*geometry = PQgetisnull(res, 0, 4) ? NULL :
		    json_loads(PQgetvalue(res, 0, 4), 0, NULL);
	}
	PQclear(res);
	return 0;
}

void
sub_create(struct req *r)
{
	struct check	 c = { form_of(r) };
	struct save	 s = { r, &c };
	char		 uid[24], oid[24], tid[24], tver[16], due[16];
	char		*attrs = NULL, *warn = NULL;
	const char	*v[14];
	json_t		*in = json_incref(req_param(r, "attributes")->a);
	json_t		*geometry = json_incref(req_param(r, "geometry")->a);
	int64_t		 target = 0;
	int		 submit = req_param(r, "submit")->i != 0, go;

	if (req_param(r, "operation")->set && !req_param(r, "amends")->set) {
		http_reply_error(r, 422, "amends_required", "Une modification ou "
		    "une suppression désigne l'objet validé qu'elle concerne "
		    "(amends).", "amends");
		goto out;
	}
	if (req_param(r, "amends")->set) {
		json_decref(in);
		json_decref(geometry);
		in = geometry = NULL;
		if (amended(r, &c, &target, tver, &in, &geometry))
			goto out;
		if (in == NULL) {	/* a modification: the new content */
			in = json_incref(req_param(r, "attributes")->a);
			geometry = json_incref(req_param(r, "geometry")->a);
		}
	}
	if (submit && !wf_leaves(wf_find("submit"), "draft")) {
		http_reply_error(r, 409, "transition_forbidden", "Une saisie ne "
		    "peut pas être soumise dès sa création.", "submit");
		goto out;
	}
	if (check_or_reply(r, &c, in, geometry, submit, 0) ||
	    (go = gate(r, &c, submit)) < 0)
		goto out;
	snprintf(uid, sizeof(uid), "%lld", (long long)r->who->user_id);
	snprintf(oid, sizeof(oid), "%lld", (long long)r->who->org_id);
	snprintf(tid, sizeof(tid), "%lld", (long long)target);
	snprintf(due, sizeof(due), "%d", form_due_days(c.form));
	attrs = json_dumps(c.clean, JSON_COMPACT);
	warn = json_dumps(c.warnings, JSON_COMPACT);
	v[0] = form_guichet(c.form);
	row_values(&c, go, attrs, v);
	v[7] = uid;
	v[8] = oid;
	v[9] = go ? warn : "[]";
	v[10] = target ? (req_param(r, "operation")->set ?
	    req_param(r, "operation")->s : "modify") : "create";
	v[11] = target ? tid : NULL;
	v[12] = target ? tver : NULL;
	v[13] = due;
	s.sql = "WITH s AS (INSERT INTO submissions (guichet, state, "
	    "attributes, geom, label, insee_commune, departement, author_id, "
	    "organisation_id, warnings, submitted_at, voie_uid, operation, "
	    "target_id, target_version, round, due_at, updated_by) VALUES ($1, "
	    "$2, $3, $4::geometry, $5, $6, $7, $8, $9, $10, CASE WHEN $2 = "
	    "'submitted' THEN now() END, " SUB_VOIE_UID("$1", "$6", "$3") ", $11, "
	    "$12, $13, CASE WHEN $2 = 'submitted' THEN 1 ELSE 0 END, CASE WHEN "
	    "$2 = 'submitted' THEN now() + make_interval(days => $14::int) END, "
	    "$8) RETURNING *) SELECT " SUB_JSON " FROM s";
	s.v = v;
	s.nv = 14;
	s.action = go ? "submit" : NULL;
	s.from = "draft";
	s.created = 1;
	save(&s, 201, 0);
out:
	json_decref(in);
	json_decref(geometry);
	free(attrs);
	free(warn);
	check_free(&c);
}

void
sub_get(struct req *r)
{
	mod_reply_record(r, form_of(r), req_param(r, "id")->i, 200, NULL);
}

void
sub_list(struct req *r)
{
	const struct param_val *st = req_param(r, "state"),
	    *lim = req_param(r, "limit"), *off = req_param(r, "offset");
	char		 uid[24], l[24], o[24];
	const char	*v[5] = { form_guichet(form_of(r)), uid,
	    st->set ? st->s : NULL, l, o };

	snprintf(uid, sizeof(uid), "%lld", (long long)r->who->user_id);
	snprintf(l, sizeof(l), "%lld", lim->set ? lim->i : 50);
	snprintf(o, sizeof(o), "%lld", off->set ? off->i : 0);
	db_reply_json(r, "SELECT json_build_object('total', "
	    "(SELECT count(*) FROM submissions WHERE guichet = $1 AND "
	    "author_id = $2 AND ($3::text IS NULL OR state = $3)), "
	    "'submissions', coalesce(json_agg(" SUB_JSON " ORDER BY s.updated_at "
	    "DESC, s.id DESC), '[]')) FROM (SELECT * FROM submissions "
	    "WHERE guichet = $1 AND author_id = $2 AND ($3::text IS NULL OR "
	    "state = $3) ORDER BY updated_at DESC, id DESC LIMIT $4 OFFSET $5) s",
	    5, v, "");
}

/*
 * Saves the author's edit of a draft, or of a record sent back for
 * changes, and sends it when asked (the workflow's submit or resubmit).
 * attrs and geometry: the new content (attrs NULL: the stored content,
 * sent as it is); version: the one the author saw (-1: unchecked). A stale
 * version gets 409 with the current record. A deletion request carries
 * its object as it was: it is sent or withdrawn, never edited.
 */
static void
edit(struct req *r, int64_t id, json_t *attrs, json_t *geometry, int given,
    long long version, int submit)
{
	struct check	 c = { form_of(r) };
	struct save	 s = { r, &c };
	const struct wf_transition *w = NULL;
	struct db_err	 e;
	PGresult	*res = NULL;
	char		 ids[24], uid[24], vs[24], due[16], state[24];
	char		*attrs_s = NULL, *warn = NULL;
	const char	*v[11], *k[3] = { ids, uid, NULL };
	json_t		*geom = NULL, *stored = NULL;
	int		 go;

	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	snprintf(uid, sizeof(uid), "%lld", (long long)r->who->user_id);
	k[2] = form_guichet(c.form);
	res = db_query(&e, DB_IDEMPOTENT, "SELECT state, version, "
	    "ST_AsGeoJSON(geom), target_id, attributes, operation FROM "
	    "submissions WHERE id = $1 AND author_id = $2 AND guichet = $3",
	    3, k);
	if (res == NULL) {
		db_reply_error(r, &e);
		goto out;
	}
	if (PQntuples(res) == 0) {
		http_reply_error(r, 404, "not_found", "Cette saisie n'existe pas.",
		    NULL);
		goto out;
	}
	snprintf(state, sizeof(state), "%s", PQgetvalue(res, 0, 0));
	if (version >= 0 && version != atoll(PQgetvalue(res, 0, 1))) {
		mod_reply_stale(r, c.form, id);
		goto out;
	}
	if ((strcmp(state, "draft") != 0 && strcmp(state,
	    "changes_requested") != 0) || (attrs != NULL &&
	    strcmp(PQgetvalue(res, 0, 5), "delete") == 0)) {
		http_reply_error(r, 409, "not_editable", "Seul un brouillon, ou "
		    "une saisie renvoyée pour modification, peut être modifié ; "
		    "une demande de suppression se soumet ou se retire.", NULL);
		goto out;
	}
	if (submit) {
		w = wf_find(strcmp(state, "draft") == 0 ? "submit" : "resubmit");
		if (!wf_leaves(w, state)) {
			http_reply_error(r, 409, "transition_forbidden", "Cette "
			    "saisie ne peut pas être soumise dans son état.",
			    "submit");
			goto out;
		}
	}
	c.target = PQgetisnull(res, 0, 3) ? 0 : atoll(PQgetvalue(res, 0, 3));
	if (attrs == NULL) {	/* sent as stored, if still as read */
		attrs = stored = json_loads(PQgetvalue(res, 0, 4), 0, NULL);
		if (version < 0)
			version = atoll(PQgetvalue(res, 0, 1));
	}
	/* No geometry member: the stored one stays (null removes it). */
	geom = given ? json_incref(geometry) : PQgetisnull(res, 0, 2) ?
	    NULL : json_loads(PQgetvalue(res, 0, 2), 0, NULL);
	PQclear(res);
	res = NULL;
	if (check_or_reply(r, &c, attrs, geom, submit, id) ||
	    (go = gate(r, &c, submit)) < 0)
		goto out;
	attrs_s = json_dumps(c.clean, JSON_COMPACT);
	warn = json_dumps(c.warnings, JSON_COMPACT);
	snprintf(vs, sizeof(vs), "%lld", version);
	snprintf(due, sizeof(due), "%d", form_due_days(c.form));
	v[0] = ids;
	row_values(&c, go, attrs_s, v);
	v[7] = go ? warn : "[]";
	v[8] = vs;
	v[9] = uid;
	v[10] = due;
	/* The state and version are checked again where they are written. */
	s.sql = "WITH s AS (UPDATE submissions SET state = CASE WHEN $2 = "
	    "'submitted' THEN $2 ELSE state END, attributes = $3, geom = "
	    "$4::geometry, label = $5, insee_commune = $6, departement = $7, "
	    "warnings = $8, version = version + 1, voie_uid = "
	    SUB_VOIE_UID("guichet", "$6", "$3") ", updated_by = $10, updated_at = "
	    "now(), submitted_at = CASE WHEN $2 = 'submitted' THEN now() ELSE "
	    "submitted_at END, round = round + CASE WHEN $2 = 'submitted' THEN "
	    "1 ELSE 0 END, due_at = CASE WHEN $2 = 'submitted' THEN now() + "
	    "make_interval(days => $11::int) ELSE due_at END WHERE id = $1 AND "
	    "author_id = $10 AND state IN ('draft', 'changes_requested') AND "
	    "($9::int < 0 OR version = $9::int) RETURNING *) SELECT " SUB_JSON
	    " FROM s";
	s.v = v;
	s.nv = 11;
	s.action = go ? w->action : NULL;
	s.from = state;
	save(&s, 200, id);
out:
	PQclear(res);
	json_decref(geom);
	json_decref(stored);
	free(attrs_s);
	free(warn);
	check_free(&c);
}

void
sub_update(struct req *r)
{
	long long	 version = mod_wanted_version(r);

	if (version == -2)
		return;
	edit(r, req_param(r, "id")->i, req_param(r, "attributes")->a,
	    req_param(r, "geometry")->a, req_param(r, "geometry")->set, version,
	    req_param(r, "submit")->i != 0);
}

void
sub_send(struct req *r, int64_t id, long long version)
{
	edit(r, id, NULL, NULL, 0, version, 1);
}
