/*
 * main.c — the guichet command: configuration, then one subcommand.
 *
 *   guichet [-c FILE] serve         run the HTTP server
 *   guichet [-c FILE] migrate       apply pending schema migrations
 *   guichet [-c FILE] check-config  validate the configuration and print it
 *   guichet version
 *
 * Any misconfiguration stops here, before anything is started, with one line
 * naming the key or file at fault and a non-zero exit status.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "asset.h"
#include "cli.h"
#include "conf.h"
#include "commune.h"
#include "csp.h"
#include "audit.h"
#include "export.h"
#include "import.h"
#include "form.h"
#include "notify.h"
#include "workflow.h"
#include "db.h"
#include "http.h"
#include "mailer.h"
#include "migrate.h"
#include "password.h"
#include "refdata.h"
#include "route.h"
#include "sandbox.h"
#include "util.h"

#ifndef GUICHET_VERSION
#define GUICHET_VERSION "0.1.0"
#endif

extern char **environ;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: guichet [-c FILE] COMMAND [ARGS]\n"
	    "commands:\n"
	    "  serve         run the HTTP server (Ctrl-C or SIGTERM stops it)\n"
	    "  migrate       apply pending migrations from migrations_dir\n"
	    "  check-config  validate the configuration and print it\n"
	    "  org add --name N --kind K [--siren S] [--departements 31,34]\n"
	    "          [--communes 31555]\n"
	    "  user add --email E --name N --org NAME|ID --role R [--service]\n"
	    "           [--departements ..] [--communes ..]  (password on stdin)\n"
	    "  user passwd EMAIL  (new password on stdin)\n"
	    "  load-refdata [--replace] PATH...  load region, département and commune\n"
	    "                outlines (GeoJSON) and the COG commune list\n"
	    "                (communes.json); --replace: all of the kinds loaded\n"
	    "  demo          create the demo organisations and accounts, once\n"
	    "  routes        print the route table as JSON\n"
	    "  audit verify  check the event log's hash chain; exit 1 and name\n"
	    "                the first broken link when it is not intact\n"
	    "  notify digest mail the notification digests due (normally daily,\n"
	    "                at digest_hour, by the server)\n"
	    "  export --guichet G --format F [--mode incremental|full]\n"
	    "         [--departements 31,34] [--communes 31555]  write one export\n"
	    "                batch now (formats gpkg geojson csv csv_shp ign bal)\n"
	    "  sandbox-check install the seccomp filter of serve, try system\n"
	    "                calls outside it; exit 0 when all are denied\n"
	    "  version       print the version\n"
	    "The configuration file is -c FILE, else $GUICHET_CONF, else\n"
	    "conf/guichet.conf when present; GUICHET_<KEY> variables override it.\n");
	exit(2);
}

static void
load_config(const char *path)
{
	enum log_level	 lvl;
	char		 err[1024];

	if (path == NULL && (path = getenv("GUICHET_CONF")) != NULL &&
	    *path == '\0')
		path = NULL;
	if (path == NULL && access("conf/guichet.conf", R_OK) == 0)
		path = "conf/guichet.conf";
	if (conf_load(path, environ, err, sizeof(err)))
		fatal("%s", err);
	lvl = strcmp(conf.log_level, "debug") == 0 ? LOG_DEBUG :
	    strcmp(conf.log_level, "warn") == 0 ? LOG_WARN :
	    strcmp(conf.log_level, "error") == 0 ? LOG_ERROR : LOG_INFO;
	log_set_level(lvl);
}

static int
cmd_migrate(void)
{
	struct migrate_result	 mr;
	PGconn			*c;
	char			 err[1024];
	int			 rc;

	c = db_connect_or_die();
	rc = migrate_run(c, conf.migrations_dir, 1, &mr, err, sizeof(err));
	PQfinish(c);
	if (rc)
		fatal("%s", err);
	printf("migrations: %d applied, %d already in place\n", mr.applied,
	    mr.total - mr.applied);
	return 0;
}

/* Prepares the unknown-account hash from the costliest stored hash's limits. */
static void
stored_hash_limits(PGconn *c)
{
	struct db_err	 e;
	PGresult	*res;

	res = db_exec(c, &e, "SELECT coalesce(max(substring(password_hash "
	    "FROM ',t=([0-9]+),')::bigint), 0), coalesce(max(substring("
	    "password_hash FROM '[$]m=([0-9]+),')::bigint), 0) FROM users "
	    "WHERE password_hash IS NOT NULL", 0, NULL);
	pw_init(res ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0,
	    res ? (size_t)strtoull(PQgetvalue(res, 0, 1), NULL, 10) : 0);
	PQclear(res);
}

/*
 * A hot standby refuses every write, so a node on one that took jobs,
 * sessions or submissions would fail them one by one at run time; better
 * to refuse to start, naming the key that makes such a node legitimate.
 */
static void
refuse_standby(PGconn *c)
{
	struct db_err	 e;
	PGresult	*res;
	int		 standby;

	if (conf.read_only)
		return;
	res = db_exec(c, &e, "SELECT pg_is_in_recovery()", 0, NULL);
	standby = res != NULL && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (standby)
		fatal("the database is a hot standby (read-only): a node on it "
		    "needs read_only = yes, and serves the open-data reads only");
}

/*
 * The server refuses to run on a schema older than its migrations folder.
 * An unreachable database is not fatal: the server starts, answers 503 and
 * picks the database up when it comes back.
 *
 * The order is least privilege's (sandbox.h): the listening socket is the
 * one thing that may need root, so it is bound first and the account
 * switched right after, before any file is read; the seccomp filter goes
 * on once start-up is over and before the first thread starts (mail,
 * digests, export and import jobs, libmicrohttpd's workers), so that every
 * thread inherits it.
 */
static int
cmd_serve(void)
{
	struct migrate_result	 mr;
	char			 err[1024];
	PGconn			*c;
	long			 n;
	int			 lfd, rc;

	if (route_check_table(route_table, route_count, err, sizeof(err)))
		fatal("%s", err);
	lfd = http_listen();
	sandbox_drop_privileges();
	if (form_load_all(conf.forms_dir, err, sizeof(err)) ||
	    wf_load(conf.forms_dir, err, sizeof(err)))
		fatal("%s", err);
	asset_init();
	csp_init();
	if ((c = db_connect(err, sizeof(err))) == NULL) {
		log_warn("PostgreSQL unreachable at start-up (%s): serving "
		    "anyway, /healthz will say so", err);
		pw_init(0, 0);
	} else {
		rc = migrate_run(c, conf.migrations_dir, 0, &mr, err,
		    sizeof(err));
		if (rc)
			fatal("%s", err);
		if (mr.pending > 0)
			fatal("the database schema is behind: %d migration(s) "
			    "pending; run `guichet migrate`", mr.pending);
		refuse_standby(c);
		stored_hash_limits(c);
		if ((n = commune_index_load(c)) < 0)
			fatal("cannot load the commune outlines: %s",
			    PQerrorMessage(c));
		log_info("%ld commune outline(s) in memory: containment checks "
		    "are %s", n, n > 0 ? "on" : "off (run guichet load-refdata)");
		PQfinish(c);
	}
	if (conf.seccomp)
		sandbox_seccomp_install();
	else
		log_warn("seccomp = no: the server runs without its allow-list "
		    "of system calls");
	if (conf.read_only)
		log_info("read-only node: open-data reads only, no background "
		    "job");
	else {
		mailer_start();
		notify_start();
		export_start();
		import_start();
	}
	rc = http_serve(lfd);
	import_stop();
	export_stop();
	notify_stop();
	mailer_stop();
	commune_index_free();
	form_free_all();
	wf_free();
	asset_close();
	return rc;
}

static int
cmd_check_config(void)
{
	char	err[1024];
	int	nfiles;

	asset_init();
	asset_close();
	if (migrate_scan(conf.migrations_dir, &nfiles, err, sizeof(err)))
		fatal("%s", err);
	if (form_load_all(conf.forms_dir, err, sizeof(err)) ||
	    wf_load(conf.forms_dir, err, sizeof(err)))
		fatal("%s", err);
	form_free_all();
	wf_free();
	sandbox_user_check();
	conf_print();
	printf("configuration OK\n");
	return 0;
}

/*
 * jansson's memory is wiped before it is freed: request bodies parsed into
 * JSON may hold passwords and tokens, and freed memory is not erased.
 */
static void
json_free_wiped(void *p)
{
	if (p != NULL)
		sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

static int
cmd_audit(int argc, char **argv)
{
	PGconn	*c;
	int	 rc;

	if (argc != 2 || strcmp(argv[1], "verify") != 0)
		usage();
	c = db_connect_or_die();
	rc = audit_verify(c, stdout);
	PQfinish(c);
	return rc < 0 ? 2 : rc;
}

static int
cmd_notify(int argc, char **argv)
{
	struct db_err	 e;
	PGconn		*c;
	int		 n;

	if (argc != 2 || strcmp(argv[1], "digest") != 0)
		usage();
	c = db_connect_or_die();
	n = notify_digest(c, &e);
	PQfinish(c);
	if (n < 0) {
		fprintf(stderr, "guichet: notify digest: database error %s\n",
		    e.sqlstate);
		return 1;
	}
	printf("%d digest(s) queued\n", n);
	return 0;
}

static int
cmd_load_refdata(int argc, char **argv)
{
	return refdata_load(argc - 1, argv + 1);
}

/*
 * The subcommands: fn parses its own arguments (argv from the subcommand's
 * name on); bare takes none, which is checked here once.
 */
static const struct {
	const char	*name;
	int		 (*fn)(int, char **);
	int		 (*bare)(void);
} commands[] = {
	{ "load-refdata",  cmd_load_refdata, NULL },
	{ "serve",	   NULL, cmd_serve },
	{ "migrate",	   NULL, cmd_migrate },
	{ "check-config",  NULL, cmd_check_config },
	{ "org",	   cli_org, NULL },
	{ "user",	   cli_user, NULL },
	{ "demo",	   NULL, cli_demo },
	{ "routes",	   NULL, cli_routes },
	{ "audit",	   cmd_audit, NULL },
	{ "notify",	   cmd_notify, NULL },
	{ "export",	   export_cli, NULL },
	{ "sandbox-check", NULL, sandbox_probe },
};

int
main(int argc, char *argv[])
{
	const char	*path = NULL;
	size_t		 i;
	int		 ch, rc;

	while ((ch = getopt(argc, argv, "+c:h")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (strcmp(argv[0], "version") == 0) {
		printf("guichet %s\n", GUICHET_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0]) ||
	    (commands[i].bare != NULL && argc != 1))
		usage();
	if (sodium_init() < 0)
		fatal("libsodium cannot be initialised");
	json_set_alloc_funcs(malloc, json_free_wiped);
	load_config(path);
	rc = commands[i].bare != NULL ? commands[i].bare() :
	    commands[i].fn(argc, argv);
	conf_free();
	return rc;
}
