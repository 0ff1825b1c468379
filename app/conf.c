/*
 * conf.c — configuration keys as data.
 *
 * Every key the server understands is one row of `keys` below: name, type,
 * bounds, default, and where it lands in struct conf. The file parser, the
 * environment overrides, check-config and the unit test that compares this
 * table with conf/guichet.conf all read the same rows, so a key cannot exist
 * in one place and not the other.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

struct conf conf;

enum ctype { C_STR, C_INT, C_BOOL, C_ENUM, C_ADDR, C_URL, C_ADDRS };
enum csource { SRC_DEFAULT, SRC_FILE, SRC_ENV };

struct key {
	const char		*name;
	enum ctype		 type;
	size_t			 off;
	const char		*def;
	long long		 min, max;
	const char *const	*choices;
};

static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };

#define O(f)	offsetof(struct conf, f)
static const struct key keys[] = {
	{ "listen_address",	  C_ADDR, O(listen_address),	"127.0.0.1", 0, 0, NULL },
	{ "listen_port",	  C_INT,  O(listen_port),	"8080", 1, 65535, NULL },
	{ "workers",		  C_INT,  O(workers),		"0", 0, 256, NULL },
	{ "max_connections",	  C_INT,  O(max_connections),	"1024", 1, 100000, NULL },
	{ "connection_timeout",	  C_INT,  O(connection_timeout),	"30", 1, 3600, NULL },
	{ "request_timeout",	  C_INT,  O(request_timeout),	"30", 1, 3600, NULL },
	{ "max_header_bytes",	  C_INT,  O(max_header_bytes),	"32768", 4096, 1048576, NULL },
	{ "request_body_max",	  C_INT,  O(request_body_max),	"8388608", 1024, 1073741824, NULL },
	{ "shutdown_grace",	  C_INT,  O(shutdown_grace),	"10", 0, 300, NULL },
	{ "user",		  C_STR,  O(user),		"", 0, 0, NULL },
	{ "seccomp",		  C_BOOL, O(seccomp),		"yes", 0, 0, NULL },
	{ "static_dir",		  C_STR,  O(static_dir),	"static", 0, 0, NULL },
	{ "migrations_dir",	  C_STR,  O(migrations_dir),	"migrations", 0, 0, NULL },
	{ "forms_dir",		  C_STR,  O(forms_dir),		"forms", 0, 0, NULL },
	{ "database",		  C_STR,  O(database),		"", 0, 0, NULL },
	{ "read_only",		  C_BOOL, O(read_only),		"no", 0, 0, NULL },
	{ "db_connect_timeout",	  C_INT,  O(db_connect_timeout),	"5", 1, 60, NULL },
	{ "db_statement_timeout", C_INT,  O(db_statement_timeout),	"30000", 0, 3600000, NULL },
	{ "access_log",		  C_BOOL, O(access_log),	"yes", 0, 0, NULL },
	{ "log_level",		  C_ENUM, O(log_level),		"info", 0, 0, log_levels },
	{ "frame_ancestors",	  C_STR,  O(frame_ancestors),	"'none'", 0, 0, NULL },
	{ "behind_tls",		  C_BOOL, O(behind_tls),	"no", 0, 0, NULL },
	{ "trusted_proxies",	  C_ADDRS, O(trusted_proxies),	"", 0, 0, NULL },
	{ "public_url",		  C_URL,  O(public_url),	"http://127.0.0.1:8080", 0, 0, NULL },
	{ "session_idle_minutes", C_INT,  O(session_idle_minutes),	"120", 5, 10080, NULL },
	{ "session_max_hours",	  C_INT,  O(session_max_hours),	"12", 1, 720, NULL },
	{ "argon2_opslimit",	  C_INT,  O(argon2_opslimit),	"2", 1, 20, NULL },
	{ "argon2_memlimit_kib",  C_INT,  O(argon2_memlimit_kib),	"65536", 8, 1048576, NULL },
	{ "invitation_hours",	  C_INT,  O(invitation_hours),	"72", 1, 720, NULL },
	{ "reset_minutes",	  C_INT,  O(reset_minutes),	"60", 5, 1440, NULL },
	{ "mail_log",		  C_BOOL, O(mail_log),		"no", 0, 0, NULL },
	{ "smtp_host",		  C_STR,  O(smtp_host),		"", 0, 0, NULL },
	{ "smtp_port",		  C_INT,  O(smtp_port),		"25", 1, 65535, NULL },
	{ "mail_from",		  C_STR,  O(mail_from),		"guichet@localhost", 0, 0, NULL },
	{ "digest_hour",	  C_INT,  O(digest_hour),	"7", 0, 23, NULL },
	{ "export_dir",		  C_STR,  O(export_dir),	"var/exports", 0, 0, NULL },
	{ "export_workers",	  C_INT,  O(export_workers),	"1", 0, 8, NULL },
	{ "import_dir",		  C_STR,  O(import_dir),	"var/imports", 0, 0, NULL },
	{ "import_max_bytes",	  C_INT,  O(import_max_bytes),	"268435456", 1024, 4294967296LL, NULL },
	{ "import_workers",	  C_INT,  O(import_workers),	"1", 0, 8, NULL },
	{ "map_tiles_url",	  C_STR,  O(map_tiles_url),	"https://data.geopf.fr/wmts?"
	    "SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=GEOGRAPHICALGRIDSYSTEMS."
	    "PLANIGNV2&STYLE=normal&TILEMATRIXSET=PM&FORMAT=image/png&TILEMATRIX={z}&"
	    "TILEROW={y}&TILECOL={x}", 0, 0, NULL },
	{ "map_tiles_attribution", C_STR, O(map_tiles_attribution),	"© IGN – Géoplateforme", 0, 0, NULL },
	{ "widget_frame_ancestors", C_STR, O(widget_frame_ancestors),	"*", 0, 0, NULL },
	{ "api_rate_limit",	  C_INT,  O(api_rate_limit),	"600", 0, 1000000, NULL },
	{ "open_data_publisher",  C_STR,  O(open_data_publisher),	"OPenIG – CRIG Occitanie", 0, 0, NULL },
	{ "open_data_contact",	  C_STR,  O(open_data_contact),	"contact@openig.org", 0, 0, NULL },
	{ "open_data_license",	  C_URL,  O(open_data_license),	"https://www.etalab.gouv.fr/licence-ouverte-open-licence", 0, 0, NULL },
};
#undef O
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

static enum csource	sources[NKEYS];

size_t
conf_nkeys(void)
{
	return NKEYS;
}

const char *
conf_key_name(size_t i)
{
	return i < NKEYS ? keys[i].name : NULL;
}

static const struct key *
key_find(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++)
		if (strlen(keys[i].name) == len &&
		    strncmp(keys[i].name, name, len) == 0)
			return &keys[i];
	return NULL;
}

/*
 * Parses and stores one value. `where` names its origin for the message
 * ("conf/guichet.conf:12" or "GUICHET_LISTEN_PORT"); on error the message
 * names both the origin and the key, and says what was expected, without
 * repeating values that might be secrets (the database string).
 */
static int
key_set(const struct key *k, const char *val, const char *where,
    char *err, size_t errlen)
{
	char		*field = (char *)&conf + k->off;
	const char	*shown = strcmp(k->name, "database") == 0 ? "…" : val;
	long long	 n;
	char		*end;
	size_t		 i;
	unsigned char	 addr[16];

	switch (k->type) {
	case C_INT:
		errno = 0;
		n = strtoll(val, &end, 10);
		if (*val == '\0' || *end != '\0' || errno != 0 ||
		    n < k->min || n > k->max) {
			snprintf(err, errlen, "%s: invalid value \"%s\" for %s: "
			    "an integer from %lld to %lld is expected",
			    where, shown, k->name, k->min, k->max);
			return -1;
		}
		*(long long *)field = n;
		return 0;
	case C_BOOL:
		if (strcmp(val, "yes") == 0 || strcmp(val, "true") == 0 ||
		    strcmp(val, "on") == 0 || strcmp(val, "1") == 0)
			*(int *)field = 1;
		else if (strcmp(val, "no") == 0 || strcmp(val, "false") == 0 ||
		    strcmp(val, "off") == 0 || strcmp(val, "0") == 0)
			*(int *)field = 0;
		else {
			snprintf(err, errlen, "%s: invalid value \"%s\" for %s: "
			    "yes or no is expected", where, shown, k->name);
			return -1;
		}
		return 0;
	case C_ENUM:
		for (i = 0; k->choices[i] != NULL; i++)
			if (strcmp(val, k->choices[i]) == 0)
				break;
		if (k->choices[i] == NULL) {
			snprintf(err, errlen, "%s: invalid value \"%s\" for %s: "
			    "one of debug, info, warn, error is expected",
			    where, shown, k->name);
			return -1;
		}
		break;
	case C_ADDR:
		if (inet_pton(AF_INET, val, addr) != 1 &&
		    inet_pton(AF_INET6, val, addr) != 1) {
			snprintf(err, errlen, "%s: invalid value \"%s\" for %s: "
			    "an IPv4 or IPv6 address is expected",
			    where, shown, k->name);
			return -1;
		}
		break;
	case C_ADDRS: {
		/* Stored canonical (as inet_ntop writes them) for plain
		 * string comparison with a peer's address. */
		struct buf	 canon = { 0 };
		char		*copy = xstrdup(val), *tok, *save, txt[64];
		int		 af;

		buf_append(&canon, "", 0);
		for (tok = strtok_r(copy, " ,", &save); tok != NULL;
		    tok = strtok_r(NULL, " ,", &save)) {
			af = strchr(tok, ':') ? AF_INET6 : AF_INET;
			if (inet_pton(af, tok, addr) != 1) {
				snprintf(err, errlen, "%s: invalid value \"%s\" for "
				    "%s: IPv4 or IPv6 addresses separated by spaces "
				    "are expected", where, tok, k->name);
				free(copy);
				buf_free(&canon);
				return -1;
			}
			inet_ntop(af, addr, txt, sizeof(txt));
			buf_appendf(&canon, "%s%s", canon.len ? " " : "", txt);
		}
		free(copy);
		free(*(char **)field);
		*(char **)field = canon.data;
		return 0;
	}
	case C_URL:
		if ((strncmp(val, "http://", 7) != 0 &&
		    strncmp(val, "https://", 8) != 0) || val[strlen(val) - 1] == '/' ||
		    strpbrk(val, " \"<>'\\") != NULL) {
			snprintf(err, errlen, "%s: invalid value \"%s\" for %s: "
			    "an http:// or https:// address without a final / is "
			    "expected", where, shown, k->name);
			return -1;
		}
		break;
	case C_STR:
		if ((strcmp(k->name, "frame_ancestors") == 0 ||
		    strcmp(k->name, "widget_frame_ancestors") == 0) &&
		    strpbrk(val, ";,\r\n\"") != NULL) {
			snprintf(err, errlen, "%s: invalid value \"%s\" for %s: "
			    "a space-separated list of CSP sources is expected",
			    where, shown, k->name);
			return -1;
		}
		if (strcmp(k->name, "map_tiles_url") == 0 && *val != '\0' &&
		    (strncmp(val, "https://", 8) != 0 ||
		    strpbrk(val, " \"'<>;") != NULL)) {
			snprintf(err, errlen, "%s: invalid value for %s: an "
			    "https:// address template ({z}, {x}, {y}) or nothing "
			    "is expected", where, k->name);
			return -1;
		}
		if (strcmp(k->name, "mail_from") == 0 &&
		    (strchr(val, '@') == NULL || strpbrk(val, " <>\r\n\t") != NULL)) {
			snprintf(err, errlen, "%s: invalid value \"%s\" for %s: "
			    "an e-mail address is expected", where, shown, k->name);
			return -1;
		}
		if (strcmp(k->name, "user") == 0 &&
		    strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._-") != strlen(val)) {
			snprintf(err, errlen, "%s: invalid value \"%s\" for %s: "
			    "an account name (letters, digits, . _ -) or nothing is "
			    "expected", where, shown, k->name);
			return -1;
		}
		if ((strcmp(k->name, "static_dir") == 0 ||
		    strcmp(k->name, "migrations_dir") == 0 ||
		    strcmp(k->name, "forms_dir") == 0) && *val == '\0') {
			snprintf(err, errlen, "%s: empty value for %s: a folder "
			    "is expected", where, k->name);
			return -1;
		}
		break;
	}
	free(*(char **)field);
	*(char **)field = xstrdup(val);
	return 0;
}

static void
conf_defaults(void)
{
	char	err[256];
	size_t	i;

	conf_free();
	for (i = 0; i < NKEYS; i++) {
		if (key_set(&keys[i], keys[i].def, "default", err, sizeof(err)))
			fatal("built-in default: %s", err);
		sources[i] = SRC_DEFAULT;
	}
}

/*
 * The file format: `key = value` lines; blank lines and lines whose first
 * non-blank character is `#` are ignored; a value may be written in double
 * quotes to keep leading or trailing blanks or a `#`. An unknown key, a
 * duplicate key, or a line without `=` is an error naming the line.
 */
static int
parse_text(const char *name, const char *text, char *err, size_t errlen)
{
	const char	*p = text, *eol, *eq, *ks, *ke, *vs, *ve;
	const struct key *k;
	unsigned char	 seen[NKEYS] = { 0 };
	char		 where[512], *val;
	int		 line = 0, rc;

	for (; *p != '\0'; p = *eol ? eol + 1 : eol) {
		line++;
		eol = strchr(p, '\n');
		if (eol == NULL)
			eol = p + strlen(p);
		ks = p;
		while (ks < eol && isspace((unsigned char)*ks))
			ks++;
		if (ks == eol || *ks == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%d", name, line);
		eq = memchr(ks, '=', eol - ks);
		if (eq == NULL) {
			snprintf(err, errlen, "%s: expected \"key = value\"", where);
			return -1;
		}
		ke = eq;
		while (ke > ks && isspace((unsigned char)ke[-1]))
			ke--;
		if ((k = key_find(ks, ke - ks)) == NULL) {
			snprintf(err, errlen, "%s: unknown key \"%.*s\"", where,
			    (int)(ke - ks > 64 ? 64 : ke - ks), ks);
			return -1;
		}
		if (seen[k - keys]++) {
			snprintf(err, errlen, "%s: key %s is set twice", where,
			    k->name);
			return -1;
		}
		vs = eq + 1;
		while (vs < eol && isspace((unsigned char)*vs))
			vs++;
		ve = eol;
		if (vs < eol && *vs == '"') {
			vs++;
			ve = memchr(vs, '"', eol - vs);
			if (ve == NULL) {
				snprintf(err, errlen, "%s: unterminated quote in "
				    "the value of %s", where, k->name);
				return -1;
			}
		} else {
			const char *hash;

			for (hash = vs; hash < eol; hash++)
				if (*hash == '#' && (hash == vs ||
				    isspace((unsigned char)hash[-1])))
					break;
			ve = hash;
			while (ve > vs && isspace((unsigned char)ve[-1]))
				ve--;
		}
		val = xstrndup(vs, ve - vs);
		rc = key_set(k, val, where, err, errlen);
		free(val);
		if (rc)
			return -1;
		sources[k - keys] = SRC_FILE;
	}
	return 0;
}

int
conf_load_text(const char *name, const char *text, char *err, size_t errlen)
{
	conf_defaults();
	return parse_text(name, text, err, errlen);
}

static int
load_env(char *const *envp, char *err, size_t errlen)
{
	const struct key *k;
	const char	*eq;
	char		 lower[64];
	size_t		 i, n;

	for (; envp != NULL && *envp != NULL; envp++) {
		if (strncmp(*envp, "GUICHET_", 8) != 0)
			continue;
		if ((eq = strchr(*envp, '=')) == NULL)
			continue;
		n = eq - (*envp + 8);
		if (n == 4 && strncmp(*envp + 8, "CONF", 4) == 0)
			continue;	/* the file's path, read by main */
		k = NULL;
		if (n < sizeof(lower)) {
			for (i = 0; i < n; i++)
				lower[i] = tolower((unsigned char)(*envp)[8 + i]);
			k = key_find(lower, n);
		}
		if (k == NULL) {
			snprintf(err, errlen, "environment: unknown variable "
			    "%.*s", (int)(eq - *envp > 80 ? 80 : eq - *envp),
			    *envp);
			return -1;
		}
		snprintf(lower, sizeof(lower), "GUICHET_%.*s", (int)n, *envp + 8);
		if (key_set(k, eq + 1, lower, err, errlen))
			return -1;
		sources[k - keys] = SRC_ENV;
	}
	return 0;
}

int
conf_load(const char *path, char *const *envp, char *err, size_t errlen)
{
	char	*text = NULL;
	size_t	 len;
	int	 rc = -1;

	conf_defaults();
	if (path != NULL) {
		if ((text = file_read(path, &len)) == NULL) {
			snprintf(err, errlen, "%s: cannot read the configuration "
			    "file: %s", path, strerror(errno));
			return -1;
		}
		if (len != strlen(text)) {
			snprintf(err, errlen, "%s: the file contains a NUL byte",
			    path);
			goto out;
		}
		if (parse_text(path, text, err, errlen))
			goto out;
	}
	if (load_env(envp, err, errlen))
		goto out;
	rc = 0;
out:
	free(text);
	return rc;
}

const char *
conf_value(size_t i, char *out, size_t outlen)
{
	static const char *const srcname[] = { "default", "file", "environment" };
	const char	*field;

	if (i >= NKEYS)
		return NULL;
	field = (const char *)&conf + keys[i].off;
	switch (keys[i].type) {
	case C_INT:
		snprintf(out, outlen, "%lld", *(const long long *)field);
		break;
	case C_BOOL:
		snprintf(out, outlen, "%s", *(const int *)field ? "yes" : "no");
		break;
	default:
		snprintf(out, outlen, "%s", *(char *const *)field ?
		    *(char *const *)field : "");
		break;
	}
	return srcname[sources[i]];
}

void
conf_print(void)
{
	const char	*src;
	char		 val[1024];
	size_t		 i;

	for (i = 0; i < NKEYS; i++) {
		src = conf_value(i, val, sizeof(val));
		if (keys[i].type == C_INT || keys[i].type == C_BOOL)
			printf("%s = %s", keys[i].name, val);
		else if (strcmp(keys[i].name, "database") == 0 && val[0] != '\0')
			printf("%s = (set, not shown)", keys[i].name);
		else
			printf("%s = \"%s\"", keys[i].name, val);
		printf("\t# %s\n", src);
	}
}

void
conf_free(void)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++)
		if (keys[i].type != C_INT && keys[i].type != C_BOOL) {
			char **f = (char **)((char *)&conf + keys[i].off);

			free(*f);
			*f = NULL;
		}
}
