/*
 * cli.c — command-line administration.
 *
 * These commands write with the same rules as the API (codes, SIREN,
 * password policy, Argon2id hashes, account events with no actor) but are
 * meant for whoever runs the server: bootstrap, scripts, recovery.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "account.h"
#include "auth.h"
#include "cli.h"
#include "db.h"
#include "event.h"
#include "org.h"
#include "password.h"
#include "route.h"
#include "territory.h"
#include "util.h"

/*
 * "31,34" into a JSON array after checking each code; NULL stays NULL.
 * Dies naming the option on a bad code.
 */
static char *
codes_json(const char *list, int communes, const char *opt)
{
	json_t	*a;
	char	*copy, *tok, *save, *s;

	if (list == NULL)
		return NULL;
	a = json_array();
	copy = xstrdup(list);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (communes ? !terr_commune_ok(tok) : !terr_dept_ok(tok))
			fatal("%s: \"%s\" is not a %s code", opt, tok,
			    communes ? "commune INSEE" : "département");
		json_array_append_new(a, json_string(tok));
	}
	free(copy);
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static void
run_or_die(PGconn *c, const char *what, const char *sql, int n,
    const char *const *v, PGresult **out)
{
	struct db_err	 e;
	PGresult	*res = db_exec(c, &e, sql, n, v);

	if (res == NULL)
		fatal("%s: %s", what, e.rc == DB_CONFLICT ?
		    "already exists (or refers to something missing)" :
		    PQerrorMessage(c));
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
}

static int64_t
org_insert(PGconn *c, const char *name, const char *kind, const char *siren,
    const char *depts, const char *communes)
{
	const char	*v[5] = { name, kind, siren, depts ? depts : "[]",
	    communes ? communes : "[]" };
	PGresult	*res;
	int64_t		 id;

	if (siren != NULL && !org_siren_ok(siren))
		fatal("--siren: \"%s\" is not 9 digits with a valid check digit",
		    siren);
	run_or_die(c, "organisation", "INSERT INTO organisations (name, kind, "
	    "siren, departements, communes) VALUES ($1, $2, $3, "
	    "ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), "
	    "ARRAY(SELECT jsonb_array_elements_text($5::jsonb))) RETURNING id",
	    5, v, &res);
	id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return id;
}

static int64_t
user_insert(PGconn *c, const char *email, const char *name, const char *org,
    const char *role, int service, const char *depts, const char *communes,
    const char *password)
{
	char		 hash[crypto_pwhash_STRBYTES];
	const char	*v[8], *why;
	PGresult	*res, *ins;
	struct db_err	 e;
	int64_t		 id, oid;

	if (role_parse(role) == ROLE_NONE)
		fatal("--role: \"%s\" is not contributor, reviewer, org_admin "
		    "or admin", role);
	if (!service && (why = pw_policy(password, email)) != NULL)
		fatal("password: %s", why);
	if (!service && pw_hash(password, hash) != 0)
		fatal("cannot hash the password");
	v[0] = org;
	run_or_die(c, "organisation", "SELECT id FROM organisations WHERE "
	    "id::text = $1 OR lower(name) = lower($1)", 1, v, &res);
	if (PQntuples(res) != 1)
		fatal("--org: no organisation \"%s\"", org);
	oid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	v[0] = email;
	v[1] = name;
	v[2] = PQgetvalue(res, 0, 0);
	v[3] = role;
	v[4] = service ? NULL : hash;
	v[5] = depts;
	v[6] = communes;
	v[7] = service ? "true" : "false";
	run_or_die(c, "user", "INSERT INTO users (email, display_name, "
	    "organisation_id, role, password_hash, departements, communes, "
	    "is_service) VALUES ($1, $2, $3, $4, $5, "
	    "CASE WHEN $6::jsonb IS NULL THEN NULL "
	    "  ELSE ARRAY(SELECT jsonb_array_elements_text($6::jsonb)) END, "
	    "CASE WHEN $7::jsonb IS NULL THEN NULL "
	    "  ELSE ARRAY(SELECT jsonb_array_elements_text($7::jsonb)) END, $8) "
	    "RETURNING id", 8, v, &ins);
	PQclear(res);
	id = strtoll(PQgetvalue(ins, 0, 0), NULL, 10);
	PQclear(ins);
	event_account(c, &e, "user_created", 0, id, oid, NULL,
	    json_pack("{s:s, s:s}", "role", role, "by", "command line"));
	sodium_memzero(hash, sizeof(hash));
	return id;
}

/* Reads one line of standard input (the password), without its newline. */
static char *
read_secret(void)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;

	if (isatty(STDIN_FILENO))
		fprintf(stderr, "password (one line): ");
	if ((n = getline(&line, &cap, stdin)) <= 0)
		fatal("no password on standard input");
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static void
free_secret(char *s)
{
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

enum { O_NAME = 1, O_KIND, O_SIREN, O_DEPTS, O_COMMUNES, O_EMAIL, O_ORG,
    O_ROLE, O_SERVICE };

static const struct option longopts[] = {
	{ "name", required_argument, NULL, O_NAME },
	{ "kind", required_argument, NULL, O_KIND },
	{ "siren", required_argument, NULL, O_SIREN },
	{ "departements", required_argument, NULL, O_DEPTS },
	{ "communes", required_argument, NULL, O_COMMUNES },
	{ "email", required_argument, NULL, O_EMAIL },
	{ "org", required_argument, NULL, O_ORG },
	{ "role", required_argument, NULL, O_ROLE },
	{ "service", no_argument, NULL, O_SERVICE },
	{ NULL, 0, NULL, 0 }
};

struct opts {
	const char	*name, *kind, *siren, *depts, *communes, *email, *org,
			*role;
	int		 service;
};

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	int	ch;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case O_NAME:	 o->name = optarg; break;
		case O_KIND:	 o->kind = optarg; break;
		case O_SIREN:	 o->siren = optarg; break;
		case O_DEPTS:	 o->depts = optarg; break;
		case O_COMMUNES: o->communes = optarg; break;
		case O_EMAIL:	 o->email = optarg; break;
		case O_ORG:	 o->org = optarg; break;
		case O_ROLE:	 o->role = optarg; break;
		case O_SERVICE:	 o->service = 1; break;
		default:	 fatal("unknown option (see guichet help)");
		}
	}
}

int
cli_org(int argc, char **argv)
{
	struct opts	 o;
	PGconn		*c;
	char		*d, *m;
	int64_t		 id;

	if (argc < 2 || strcmp(argv[1], "add") != 0)
		fatal("usage: guichet org add --name N --kind K [--siren S] "
		    "[--departements 31,34] [--communes 31555]");
	parse_opts(argc - 1, argv + 1, &o);
	if (o.name == NULL || o.kind == NULL)
		fatal("org add: --name and --kind are required");
	d = codes_json(o.depts, 0, "--departements");
	m = codes_json(o.communes, 1, "--communes");
	c = db_connect_or_die();
	id = org_insert(c, o.name, o.kind, o.siren, d, m);
	PQfinish(c);
	free(d);
	free(m);
	printf("organisation %lld: %s\n", (long long)id, o.name);
	return 0;
}

int
cli_user(int argc, char **argv)
{
	struct opts	 o;
	PGconn		*c;
	char		*pw = NULL, *d, *m, hash[crypto_pwhash_STRBYTES];
	const char	*v[2], *why;
	struct db_err	 e;
	PGresult	*res;
	int64_t		 id, oid;

	if (argc == 3 && strcmp(argv[1], "passwd") == 0) {
		pw = read_secret();
		if ((why = pw_policy(pw, argv[2])) != NULL)
			fatal("password: %s", why);
		if (pw_hash(pw, hash) != 0)
			fatal("cannot hash the password");
		free_secret(pw);
		c = db_connect_or_die();
		v[0] = argv[2];
		v[1] = hash;
		/* A recovery: the new password, and nothing opened before it
		 * (sessions, API tokens, pending links) survives. */
		run_or_die(c, "user", "BEGIN", 0, NULL, NULL);
		run_or_die(c, "user", "UPDATE users SET password_hash = $2 "
		    "WHERE lower(email) = lower($1) AND NOT is_service "
		    "RETURNING id, organisation_id", 2, v, &res);
		if (PQntuples(res) != 1)
			fatal("no account \"%s\"", argv[2]);
		id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		oid = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		v[0] = PQgetvalue(res, 0, 0);
		run_or_die(c, "sessions", "UPDATE sessions SET revoked_at = now() "
		    "WHERE user_id = $1 AND revoked_at IS NULL", 1, v, NULL);
		run_or_die(c, "tokens", "UPDATE api_tokens SET revoked_at = now() "
		    "WHERE user_id = $1 AND revoked_at IS NULL", 1, v, NULL);
		run_or_die(c, "links", "UPDATE one_time_tokens SET used_at = now() "
		    "WHERE user_id = $1 AND used_at IS NULL", 1, v, NULL);
		if (event_account(c, &e, "password_reset", 0, id, oid, NULL,
		    json_pack("{s:s}", "by", "command line")))
			fatal("cannot record the event: %s", PQerrorMessage(c));
		run_or_die(c, "user", "COMMIT", 0, NULL, NULL);
		PQclear(res);
		PQfinish(c);
		sodium_memzero(hash, sizeof(hash));
		printf("password changed for %s; its sessions and tokens are "
		    "closed\n",
		    argv[2]);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "add") != 0)
		fatal("usage: guichet user add --email E --name N --org NAME|ID "
		    "--role R [--service] | guichet user passwd EMAIL");
	parse_opts(argc - 1, argv + 1, &o);
	if (o.email == NULL || o.name == NULL || o.org == NULL || o.role == NULL)
		fatal("user add: --email, --name, --org and --role are required");
	d = codes_json(o.depts, 0, "--departements");
	m = codes_json(o.communes, 1, "--communes");
	if (!o.service)
		pw = read_secret();
	c = db_connect_or_die();
	id = user_insert(c, o.email, o.name, o.org, o.role, o.service, d, m, pw);
	PQfinish(c);
	free_secret(pw);
	free(d);
	free(m);
	printf("user %lld: %s\n", (long long)id, o.email);
	return 0;
}

/*
 * The demo set: one organisation of each kind a newcomer needs to try every
 * role, in Haute-Garonne and Hérault. Made once; passwords are random,
 * printed now and never again (only their hashes are kept).
 */
int
cli_demo(void)
{
	static const struct {
		const char *name, *kind, *depts, *communes;
	} orgs[] = {
		{ "OPenIG", "openig", "[\"09\",\"11\",\"12\",\"30\",\"31\",\"32\","
		    "\"34\",\"46\",\"48\",\"65\",\"66\",\"81\",\"82\"]", NULL },
		{ "SDIS 31 (Haute-Garonne)", "sdis", "[\"31\"]", NULL },
		{ "DDT 31 (Haute-Garonne)", "ddt", "[\"31\"]", NULL },
		{ "Commune de Toulouse", "commune", NULL, "[\"31555\"]" },
		{ "SDIS 34 (Hérault)", "sdis", "[\"34\"]", NULL },
	};
	static const struct {
		const char *email, *name, *org, *role, *what;
	} users[] = {
		{ "admin@guichet.test", "Administration OPenIG", "OPenIG",
		    "admin", "platform admin" },
		{ "relecteur.sdis31@guichet.test", "Relecteur SDIS 31",
		    "SDIS 31 (Haute-Garonne)", "reviewer", "reviewer, SDIS 31" },
		{ "relecteur.ddt31@guichet.test", "Relecteur DDT 31",
		    "DDT 31 (Haute-Garonne)", "reviewer", "reviewer, DDT 31" },
		{ "agent.toulouse@guichet.test", "Agent de Toulouse",
		    "Commune de Toulouse", "contributor",
		    "field agent, Toulouse" },
		{ "admin.toulouse@guichet.test", "Administrateur Toulouse",
		    "Commune de Toulouse", "org_admin",
		    "organisation admin, Toulouse" },
		{ "relecteur.sdis34@guichet.test", "Relecteur SDIS 34",
		    "SDIS 34 (Hérault)", "reviewer", "reviewer, SDIS 34" },
	};
	char		 pw[sizeof(users) / sizeof(users[0])][AUTH_TOKEN_LEN + 1];
	const char	*v[1] = { users[0].email };
	PGconn		*c = db_connect_or_die();
	PGresult	*res;
	size_t		 i;

	run_or_die(c, "demo", "SELECT 1 FROM users WHERE lower(email) = $1",
	    1, v, &res);
	if (PQntuples(res) > 0) {
		PQclear(res);
		PQfinish(c);
		printf("Demo accounts already exist (their passwords were shown "
		    "when they were created; `guichet user passwd EMAIL` sets "
		    "a new one).\n");
		return 0;
	}
	PQclear(res);
	run_or_die(c, "demo", "BEGIN", 0, NULL, NULL);
	for (i = 0; i < sizeof(orgs) / sizeof(orgs[0]); i++)
		org_insert(c, orgs[i].name, orgs[i].kind, NULL, orgs[i].depts,
		    orgs[i].communes);
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		auth_token_new(pw[i], sizeof(pw[i]), NULL);
		pw[i][20] = '\0';	/* 120 bits is plenty to type */
		user_insert(c, users[i].email, users[i].name, users[i].org,
		    users[i].role, 0, NULL, NULL, pw[i]);
	}
	run_or_die(c, "demo", "COMMIT", 0, NULL, NULL);
	PQfinish(c);
	printf("\nDemo accounts (passwords shown once, now):\n");
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		printf("  %-32s %s  %s\n", users[i].email, pw[i], users[i].what);
	printf("\n");
	sodium_memzero(pw, sizeof(pw));
	return 0;
}

/* The route table, for tests that must cover every route and for docs. */
int
cli_routes(void)
{
	static const char *const kinds[] = { "integer", "string", "enum",
	    "boolean", "email", "secret", "departements", "communes", "enums",
	    "json", "ids" };
	static const char *const ins[] = { "query", "path", "body" };
	const struct param_spec	*p;
	json_t			*all = json_array(), *row, *params;
	size_t			 i;
	char			*s;

	for (i = 0; i < route_count; i++) {
		params = json_array();
		for (p = route_table[i].params; p && p->name; p++)
			json_array_append_new(params, json_pack("{s:s, s:s, s:s, "
			    "s:b}", "name", p->name, "in", ins[p->in], "kind",
			    kinds[p->kind], "required", (p->flags & P_REQUIRED) != 0));
		row = json_pack("{s:s, s:s, s:s, s:o, s:I, s:b, s:b}",
		    "method", route_table[i].method,
		    "path", route_table[i].pattern,
		    "action", action_name(route_table[i].action),
		    "params", params,
		    "body_max", (json_int_t)route_table[i].body_max,
		    "public", route_table[i].action == ACT_PUBLIC,
		    "idempotent", (route_table[i].flags & R_IDEMPOTENT) != 0);
		json_array_append_new(all, row);
	}
	s = json_dumps(all, JSON_INDENT(1));
	printf("%s\n", s);
	free(s);
	json_decref(all);
	return 0;
}
