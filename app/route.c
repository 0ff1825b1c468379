/*
 * route.c — matching requests against the route table, and typed parameters.
 *
 * Patterns are walked segment by segment with no allocation: a literal
 * segment must be equal, a "{name}" segment takes any non-empty segment. The
 * table is small and ordered by its author, so the first match wins; a path
 * that matches under other methods yields 405 with the Allow list.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "route.h"
#include "territory.h"
#include "util.h"

/*
 * Matches one pattern against the segments. Returns 1 on a match and fills
 * pathvals; 0 otherwise.
 */
static int
pattern_match(const char *pat, char *const *segs, size_t nsegs,
    const char **pathvals, size_t *npath)
{
	const char	*p = pat + 1, *e;
	size_t		 i = 0, len;

	*npath = 0;
	if (strcmp(pat, "/") == 0)
		return nsegs == 0;
	while (*p != '\0') {
		e = strchr(p, '/');
		len = e ? (size_t)(e - p) : strlen(p);
		if (i == nsegs)
			return 0;
		if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
			if (segs[i][0] == '\0' || *npath == ROUTE_MAX_PARAMS)
				return 0;
			pathvals[(*npath)++] = segs[i];
		} else if (strlen(segs[i]) != len || memcmp(segs[i], p, len) != 0)
			return 0;
		i++;
		p += len;
		if (*p == '/')
			p++;
	}
	return i == nsegs;
}

static void
allow_add(char *allow, size_t allowlen, const char *method)
{
	size_t	n = strlen(allow);

	if (strstr(allow, method) != NULL)
		return;
	snprintf(allow + n, allowlen - n, "%s%s", n ? ", " : "", method);
}

enum route_rc
route_find(const struct route *table, size_t n, const char *method,
    char *const *segs, size_t nsegs, const struct route **found,
    const char **pathvals, size_t *npath, char *allow, size_t allowlen)
{
	const char	*tmp[ROUTE_MAX_PARAMS];
	size_t		 i, ntmp;
	int		 pathmatch = 0;

	*found = NULL;
	if (allowlen > 0)
		allow[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!pattern_match(table[i].pattern, segs, nsegs, tmp, &ntmp))
			continue;
		if (strcmp(table[i].method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 &&
		    strcmp(table[i].method, "GET") == 0)) {
			*found = &table[i];
			memcpy(pathvals, tmp, ntmp * sizeof(tmp[0]));
			*npath = ntmp;
			return ROUTE_FOUND;
		}
		pathmatch = 1;
		allow_add(allow, allowlen, table[i].method);
		if (strcmp(table[i].method, "GET") == 0)
			allow_add(allow, allowlen, "HEAD");
	}
	return pathmatch ? ROUTE_NO_METHOD : ROUTE_NO_PATH;
}

/*
 * A pattern starts with '/', has no empty segment, and each "{name}" it
 * holds is declared as a path parameter of the route (and the reverse).
 */
int
route_check_table(const struct route *table, size_t n, char *err,
    size_t errlen)
{
	const struct param_spec	*ps;
	const char		*p, *e;
	size_t			 i, len, nbraces, ndeclared;

	for (i = 0; i < n; i++) {
		p = table[i].pattern;
		if (p[0] != '/' || (p[1] != '\0' && p[strlen(p) - 1] == '/') ||
		    strstr(p, "//") != NULL) {
			snprintf(err, errlen, "route %s %s: malformed pattern",
			    table[i].method, p);
			return -1;
		}
		nbraces = 0;
		for (p++; *p != '\0'; p += len + (*(p + len) == '/')) {
			e = strchr(p, '/');
			len = e ? (size_t)(e - p) : strlen(p);
			if (p[0] != '{')
				continue;
			nbraces++;
			for (ps = table[i].params; ps && ps->name; ps++)
				if (ps->in == IN_PATH && strlen(ps->name) == len - 2 &&
				    strncmp(ps->name, p + 1, len - 2) == 0)
					break;
			if (ps == NULL || ps->name == NULL) {
				snprintf(err, errlen, "route %s %s: path parameter "
				    "%.*s is not declared", table[i].method,
				    table[i].pattern, (int)len, p);
				return -1;
			}
		}
		ndeclared = 0;
		for (ps = table[i].params; ps && ps->name; ps++) {
			ndeclared += ps->in == IN_PATH;
			if ((ps->kind == P_DEPTS || ps->kind == P_COMMUNES ||
			    ps->kind == P_ENUMS || ps->kind == P_JSON ||
			    ps->kind == P_IDS) &&
			    ps->in != IN_BODY) {
				snprintf(err, errlen, "route %s %s: list parameter "
				    "%s outside the body", table[i].method,
				    table[i].pattern, ps->name);
				return -1;
			}
			if (ps->in == IN_BODY && (table[i].body_type == NULL ||
			    strcmp(table[i].body_type, BODY_JSON) != 0)) {
				snprintf(err, errlen, "route %s %s: body parameter "
				    "%s without a JSON body", table[i].method,
				    table[i].pattern, ps->name);
				return -1;
			}
		}
		if (ndeclared != nbraces) {
			snprintf(err, errlen, "route %s %s: a declared path "
			    "parameter is not in the pattern", table[i].method,
			    table[i].pattern);
			return -1;
		}
		if (table[i].summary == NULL || table[i].summary[0] == '\0') {
			snprintf(err, errlen, "route %s %s: no summary",
			    table[i].method, table[i].pattern);
			return -1;
		}
		/* A key belongs to a user: without one, nothing to scope it. */
		if ((table[i].flags & R_IDEMPOTENT) &&
		    ((table[i].flags & R_NOAUTH) || table[i].action ==
		    ACT_PUBLIC)) {
			snprintf(err, errlen, "route %s %s: idempotent without "
			    "a user", table[i].method, table[i].pattern);
			return -1;
		}
		/* A standby serves anonymous reads, and nothing else. */
		if ((table[i].flags & R_STANDBY) &&
		    (strcmp(table[i].method, "GET") != 0 ||
		    table[i].action != ACT_PUBLIC)) {
			snprintf(err, errlen, "route %s %s: a standby serves "
			    "public GETs only", table[i].method,
			    table[i].pattern);
			return -1;
		}
		if (table[i].body_max > 0 && table[i].body_type == NULL) {
			snprintf(err, errlen, "route %s %s: a body limit without "
			    "a body type", table[i].method, table[i].pattern);
			return -1;
		}
	}
	return 0;
}

static int
param_error(struct param_error *e, const struct param_spec *s,
    const char *code, const char *msg)
{
	e->spec = s;
	e->code = code;
	snprintf(e->message, sizeof(e->message), "Le paramètre « %s » %s",
	    s->name, msg);
	return -1;
}

/*
 * Validates one raw value against its spec. Text must be valid UTF-8 without
 * control characters; integers are plain decimal within bounds.
 */
static int
param_one(const struct param_spec *s, const char *raw, struct param_val *v,
    struct param_error *e)
{
	char		 msg[160], *end;
	long long	 n;
	size_t		 len, i, chars;

	len = strlen(raw);
	switch (s->kind) {
	case P_INT:
		errno = 0;
		n = strtoll(raw, &end, 10);
		if (len == 0 || len > 20 || *end != '\0' || errno != 0 ||
		    n < s->min || n > s->max || raw[0] == '+' || raw[0] == ' ') {
			snprintf(msg, sizeof(msg), "doit être un entier entre "
			    "%lld et %lld.", s->min, s->max);
			return param_error(e, s, "param_invalid", msg);
		}
		v->i = n;
		break;
	case P_BOOL:
		if (strcmp(raw, "true") == 0 || strcmp(raw, "1") == 0)
			v->i = 1;
		else if (strcmp(raw, "false") == 0 || strcmp(raw, "0") == 0)
			v->i = 0;
		else
			return param_error(e, s, "param_invalid",
			    "doit valoir true ou false.");
		break;
	case P_ENUM:
		for (i = 0; s->choices[i] != NULL; i++)
			if (strcmp(raw, s->choices[i]) == 0)
				break;
		if (s->choices[i] == NULL)
			return param_error(e, s, "param_invalid",
			    "n'a pas une valeur autorisée.");
		v->s = s->choices[i];
		break;
	case P_EMAIL:
		for (i = 0; i < len; i++)
			if ((unsigned char)raw[i] <= 0x20 || raw[i] == 0x7f)
				break;
		if (len > 254 || i < len || strchr(raw, '@') == NULL ||
		    strchr(raw, '@') != strrchr(raw, '@') || raw[0] == '@' ||
		    raw[len - 1] == '@' || strpbrk(raw, " \t\r\n<>,;\"") != NULL ||
		    !utf8_valid(raw, len))
			return param_error(e, s, "param_invalid",
			    "n'est pas une adresse électronique valide.");
		v->s = raw;
		break;
	case P_SECRET:
		if (!utf8_valid(raw, len) || (long long)len > s->max)
			return param_error(e, s, "param_invalid",
			    "n'est pas un texte valide ou est trop long.");
		v->s = raw;
		break;
	case P_DEPTS:
	case P_COMMUNES:
	case P_ENUMS:
	case P_JSON:
	case P_IDS:
		return param_error(e, s, "param_invalid",
		    "doit être une valeur JSON du corps.");
	case P_STR:
		if (!utf8_valid(raw, len))
			return param_error(e, s, "param_invalid",
			    "n'est pas un texte UTF-8 valide.");
		for (i = 0, chars = 0; i < len; i++) {
			if (((unsigned char)raw[i] < 0x20 || raw[i] == 0x7f) &&
			    !((s->flags & P_LINES) && (raw[i] == '\n' ||
			    raw[i] == '\r' || raw[i] == '\t')))
				return param_error(e, s, "param_invalid",
				    "contient un caractère de contrôle.");
			chars += ((unsigned char)raw[i] & 0xc0) != 0x80;
		}
		if ((long long)chars < s->min || (long long)chars > s->max) {
			snprintf(msg, sizeof(msg), "doit compter entre %lld et "
			    "%lld caractères.", s->min, s->max);
			return param_error(e, s, "param_invalid", msg);
		}
		v->s = raw;
		break;
	}
	v->set = 1;
	return 0;
}

int
param_parse(const struct param_spec *specs, struct param_val *vals,
    const char *const *pathvals, size_t npath, const char *const *qnames,
    const char *const *qvalues, size_t nquery, struct param_error *e)
{
	const struct param_spec	*s;
	size_t			 i, k, ipath = 0;
	int			 found;

	for (s = specs, k = 0; s && s->name; s++, k++) {
		memset(&vals[k], 0, sizeof(vals[k]));
		if (s->in == IN_BODY)
			continue;
		if (s->in == IN_PATH) {
			if (ipath >= npath)
				return param_error(e, s, "param_missing",
				    "est obligatoire.");
			if (param_one(s, pathvals[ipath++], &vals[k], e))
				return -1;
			continue;
		}
		for (i = 0, found = 0; i < nquery; i++) {
			if (strcmp(qnames[i], s->name) != 0)
				continue;
			if (found++)
				return param_error(e, s, "param_repeated",
				    "est donné plusieurs fois.");
			if (param_one(s, qvalues[i], &vals[k], e))
				return -1;
		}
		if (!found && (s->flags & P_REQUIRED))
			return param_error(e, s, "param_missing",
			    "est obligatoire.");
	}
	return 0;
}

/*
 * An array member: a JSON array of distinct strings, each a département or
 * commune code, or one of the choices; or (P_IDS) of distinct record ids,
 * from 1 to 2^53 - 1; at most s->max items.
 */
static int
param_array(const struct param_spec *s, json_t *j, struct param_val *v,
    struct param_error *e)
{
	const char	*c;
	json_t		*item;
	size_t		 i, k;

	if (!json_is_array(j))
		return param_error(e, s, "param_invalid",
		    "doit être une liste JSON.");
	if ((long long)json_array_size(j) > s->max)
		return param_error(e, s, "param_invalid",
		    "compte trop d'éléments.");
	json_array_foreach(j, i, item) {
		if (s->kind == P_IDS) {
			if (!json_is_integer(item) || json_integer_value(item) < 1 ||
			    json_integer_value(item) > 9007199254740991LL)
				return param_error(e, s, "param_invalid",
				    "ne doit contenir que des identifiants "
				    "(entiers positifs).");
			for (k = 0; k < i; k++)
				if (json_equal(item, json_array_get(j, k)))
					return param_error(e, s, "param_invalid",
					    "contient un doublon.");
			continue;
		}
		if (!json_is_string(item))
			return param_error(e, s, "param_invalid",
			    "ne doit contenir que des textes.");
		c = json_string_value(item);
		if (s->kind == P_DEPTS && !terr_dept_ok(c))
			return param_error(e, s, "param_invalid",
			    "contient un code de département invalide.");
		if (s->kind == P_COMMUNES && !terr_commune_ok(c))
			return param_error(e, s, "param_invalid",
			    "contient un code INSEE de commune invalide.");
		if (s->kind == P_ENUMS) {
			for (k = 0; s->choices[k] != NULL; k++)
				if (strcmp(c, s->choices[k]) == 0)
					break;
			if (s->choices[k] == NULL)
				return param_error(e, s, "param_invalid",
				    "contient une valeur non autorisée.");
		}
		for (k = 0; k < i; k++)
			if (strcmp(c, json_string_value(json_array_get(j, k))) == 0)
				return param_error(e, s, "param_invalid",
				    "contient un doublon.");
	}
	v->a = j;
	v->set = 1;
	return 0;
}

int
param_parse_body(const struct param_spec *specs, struct param_val *vals,
    json_t *obj, struct param_error *e)
{
	const struct param_spec	*s;
	json_t			*j;
	char			 num[32];
	size_t			 k;

	for (s = specs, k = 0; s && s->name; s++, k++) {
		if (s->in != IN_BODY)
			continue;
		memset(&vals[k], 0, sizeof(vals[k]));
		j = json_object_get(obj, s->name);
		if (j == NULL) {
			if (s->flags & P_REQUIRED)
				return param_error(e, s, "param_missing",
				    "est obligatoire.");
			continue;
		}
		if (json_is_null(j)) {
			if (!(s->flags & P_NULLABLE))
				return param_error(e, s, s->flags & P_REQUIRED ?
				    "param_missing" : "param_invalid",
				    "ne peut pas être nul.");
			vals[k].set = vals[k].isnull = 1;
			continue;
		}
		switch (s->kind) {
		case P_DEPTS:
		case P_COMMUNES:
		case P_ENUMS:
		case P_IDS:
			if (param_array(s, j, &vals[k], e))
				return -1;
			continue;
		case P_JSON:
			vals[k].a = j;
			vals[k].set = 1;
			continue;
		case P_INT:
			if (!json_is_integer(j))
				return param_error(e, s, "param_invalid",
				    "doit être un nombre entier.");
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			    json_integer_value(j));
			if (param_one(s, num, &vals[k], e))
				return -1;
			continue;
		case P_BOOL:
			if (!json_is_boolean(j))
				return param_error(e, s, "param_invalid",
				    "doit valoir true ou false.");
			vals[k].i = json_is_true(j);
			vals[k].set = 1;
			continue;
		default:
			if (!json_is_string(j))
				return param_error(e, s, "param_invalid",
				    "doit être un texte.");
			if (param_one(s, json_string_value(j), &vals[k], e))
				return -1;
			continue;
		}
	}
	return 0;
}

/*
 * A scanner of the text up to the error, which is all jansson read: that
 * part is JSON but for its last token. In the top-level object, the string
 * after '{' or ',' is a member's name; the error lies in that member's value
 * when it comes after the name's ':' and before the next ',' of the top
 * level. Names with escapes are not matched (none of ours has one).
 */
const char *
param_json_error(const struct param_spec *specs, const char *text,
    size_t len, size_t pos)
{
	const struct param_spec	*s;
	const char		*name = NULL;
	size_t			 i, namelen = 0, start;
	int			 depth = 0, expect_name = 0, in_value = 0;

	if (specs == NULL || pos > len)
		return NULL;
	for (i = 0; i < pos; i++) {
		switch (text[i]) {
		case '"':
			start = ++i;
			while (i < pos && text[i] != '"')
				i += text[i] == '\\' ? 2 : 1;
			if (i >= pos)	/* the error is in this string */
				goto found;
			if (depth == 1 && expect_name) {
				name = text + start;
				namelen = i - start;
				expect_name = 0;
			}
			break;
		case '{':
		case '[':
			if (depth++ == 0)
				expect_name = text[i] == '{';
			break;
		case '}':
		case ']':
			depth--;
			break;
		case ':':
			if (depth == 1 && name != NULL)
				in_value = 1;
			break;
		case ',':
			if (depth == 1) {
				expect_name = 1;
				in_value = 0;
				name = NULL;
			}
			break;
		}
	}
found:
	if (depth < 1 || !in_value || name == NULL)
		return NULL;
	for (s = specs; s->name != NULL; s++)
		if (s->in == IN_BODY && strlen(s->name) == namelen &&
		    memcmp(s->name, name, namelen) == 0)
			return s->name;
	return NULL;
}
