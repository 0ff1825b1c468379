/*
 * form.c — declarative forms and their validation.
 *
 * A form file is checked entirely when it is loaded (every key of every
 * field and rule is known, every reference names a field, every pattern
 * compiles) so that the server refuses to start rather than half-apply a
 * rule. Validation is then two passes: each declared field's value is read
 * into its typed, cleaned form (undeclared members are dropped), then the
 * conditions (required, required_if, allowed_if) and the cross-field rules
 * run on the cleaned values. Drafts skip what is required, nothing else.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "form.h"
#include "geom.h"
#include "territory.h"
#include "util.h"

enum ftype { F_TEXT, F_INTEGER, F_BOOLEAN, F_ENUM, F_ENUM_LIST, F_SIRET,
    F_INSEE };

static const char *const ftype_names[] = { "text", "integer", "boolean",
    "enum", "enum_list", "siret", "insee_commune", NULL };

struct field {
	const char	*name;
	const char	*label;
	enum ftype	 type;
	int		 required;
	json_t		*required_if;	/* {field, in | not_in} */
	json_t		*allowed_if;
	json_t		*values;	/* enum: [{value, label}] */
	json_t		*suggestions;	/* suggestions_by.values: {by-value: [..]} */
	long long	 min_length, max_length, min, max, max_items;
	int		 has_min, has_max;
	int		 has_re;
	regex_t		 re;
	const char	*pattern_message;
	json_t		*dflt;
	int		 queryable;	/* a filter of the open-data API */
	json_t		*exports;	/* the "export" object */
};

struct rule {
	const char	*code;
	const char	*kind;
	int		 warning;
	json_t		*def;
};

struct form {
	char		*guichet;
	json_t		*def;
	struct field	*fields;
	size_t		 nfields;
	struct rule	*rules;
	size_t		 nrules;
	unsigned	 geom_types;
	const char	*commune_field;
	const char	*name_field;
	json_t		*authorities;	/* review.authorities, borrowed from def */
	int		 review_all;
	int		 due_days;
};

static struct form	*forms[3];
static const char *const guichets[] = { "erp", "equipco", "adresse" };

/* --- loading -------------------------------------------------------------- */

static int	bad(char *, size_t, const char *, const char *, ...)
		    __attribute__((format(printf, 4, 5)));

static int
bad(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	n = snprintf(err, errlen, "%s: ", name);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

static int
only_keys(json_t *obj, const char *const *keys, const char *name,
    const char *path, char *err, size_t errlen)
{
	const char	*k;
	json_t		*v;
	size_t		 i;

	json_object_foreach(obj, k, v) {
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (keys[i] == NULL)
			return bad(err, errlen, name, "%s: unknown key \"%s\"",
			    path, k);
	}
	return 0;
}

static struct field *
field_find(const struct form *f, const char *name)
{
	size_t	i;

	for (i = 0; name != NULL && i < f->nfields; i++)
		if (strcmp(f->fields[i].name, name) == 0)
			return &f->fields[i];
	return NULL;
}

static int
check_cond(const struct form *f, json_t *c, const char *name,
    const char *path, char *err, size_t errlen)
{
	static const char *const keys[] = { "field", "in", "not_in", NULL };
	json_t	*in = json_object_get(c, "in"), *nin = json_object_get(c, "not_in");

	if (!json_is_object(c))
		return bad(err, errlen, name, "%s: an object is expected", path);
	if (only_keys(c, keys, name, path, err, errlen))
		return -1;
	if (field_find(f, json_string_value(json_object_get(c, "field"))) == NULL)
		return bad(err, errlen, name, "%s.field: not a field of the form",
		    path);
	if ((in == NULL) == (nin == NULL) || !json_is_array(in ? in : nin))
		return bad(err, errlen, name, "%s: one list, in or not_in, is "
		    "expected", path);
	return 0;
}

static int
get_int(json_t *obj, const char *key, long long *out, int *has)
{
	json_t	*v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	if (has != NULL)
		*has = 1;
	return 0;
}

static int
load_field(struct form *f, size_t i, json_t *def, const char *name,
    char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "label", "type", "help",
	    "required", "required_if", "allowed_if", "values", "suggestions_by",
	    "min_length", "max_length", "min", "max", "max_items", "pattern",
	    "pattern_message", "default", "export", "queryable", NULL };
	struct field	*fd = &f->fields[i];
	const char	*s, *pattern;
	char		 path[64];
	json_t		*v;
	size_t		 k, j;

	snprintf(path, sizeof(path), "fields[%zu]", i);
	if (!json_is_object(def))
		return bad(err, errlen, name, "%s: an object is expected", path);
	if (only_keys(def, keys, name, path, err, errlen))
		return -1;
	fd->name = json_string_value(json_object_get(def, "name"));
	fd->label = json_string_value(json_object_get(def, "label"));
	if (fd->name == NULL || fd->name[0] == '\0' ||
	    strspn(fd->name, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
	    strlen(fd->name))
		return bad(err, errlen, name, "%s.name: a lower-case name is "
		    "expected", path);
	for (k = 0; k < i; k++)
		if (strcmp(f->fields[k].name, fd->name) == 0)
			return bad(err, errlen, name, "%s.name: \"%s\" is "
			    "declared twice", path, fd->name);
	if (fd->label == NULL)
		return bad(err, errlen, name, "%s.label: a French label is "
		    "expected", path);
	s = json_string_value(json_object_get(def, "type"));
	for (k = 0; s != NULL && ftype_names[k] != NULL; k++)
		if (strcmp(s, ftype_names[k]) == 0)
			break;
	if (s == NULL || ftype_names[k] == NULL)
		return bad(err, errlen, name, "%s.type: unknown type \"%s\"",
		    path, s ? s : "");
	fd->type = (enum ftype)k;
	fd->required = json_is_true(json_object_get(def, "required"));
	fd->queryable = json_is_true(json_object_get(def, "queryable"));
	fd->max_length = 10000;
	if (get_int(def, "min_length", &fd->min_length, NULL) ||
	    get_int(def, "max_length", &fd->max_length, NULL) ||
	    get_int(def, "min", &fd->min, &fd->has_min) ||
	    get_int(def, "max", &fd->max, &fd->has_max) ||
	    get_int(def, "max_items", &fd->max_items, NULL))
		return bad(err, errlen, name, "%s: bounds must be integers", path);
	if ((fd->has_min && fd->has_max && fd->min > fd->max) ||
	    fd->min_length > fd->max_length)
		return bad(err, errlen, name, "%s: a minimum above its maximum",
		    path);
	if (fd->max_items == 0)
		fd->max_items = 100;
	fd->values = json_object_get(def, "values");
	if (fd->type == F_ENUM || fd->type == F_ENUM_LIST) {
		if (!json_is_array(fd->values) || json_array_size(fd->values) == 0)
			return bad(err, errlen, name, "%s.values: a list of "
			    "{value, label} is expected", path);
		json_array_foreach(fd->values, k, v) {
			json_t *val = json_object_get(v, "value");

			if (!json_is_string(val) || !json_is_string(
			    json_object_get(v, "label")))
				return bad(err, errlen, name, "%s.values[%zu]: "
				    "{value, label} texts are expected", path, k);
			for (j = 0; j < k; j++)
				if (json_equal(val, json_object_get(
				    json_array_get(fd->values, j), "value")))
					return bad(err, errlen, name,
					    "%s.values[%zu]: a value twice", path, k);
		}
	} else if (fd->values != NULL)
		return bad(err, errlen, name, "%s.values: only for enums", path);
	if ((pattern = json_string_value(json_object_get(def, "pattern")))) {
		if (regcomp(&fd->re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
			return bad(err, errlen, name, "%s.pattern: not a POSIX "
			    "extended regular expression", path);
		fd->has_re = 1;
		fd->pattern_message = json_string_value(json_object_get(def,
		    "pattern_message"));
	}
	fd->dflt = json_object_get(def, "default");
	fd->exports = json_object_get(def, "export");
	if (!json_is_object(json_object_get(def, "export")) ||
	    json_object_size(json_object_get(def, "export")) == 0)
		return bad(err, errlen, name, "%s.export: the field's column in "
		    "each export format is expected", path);
	/* Column names go into files and queries as they are: words only. A
	 * separator (lists) is one character. */
	json_object_foreach(json_object_get(def, "export"), s, v) {
		const char *col = json_string_value(v);

		if (col == NULL || (strcmp(s, "separator") == 0 ? strlen(col) !=
		    1 : (col[0] == '\0' || strlen(col) > 63 || strspn(col,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_") != strlen(col))))
			return bad(err, errlen, name, "%s.export.%s: a column "
			    "name ([A-Za-z0-9_], 1 to 63) is expected", path, s);
	}
	return 0;
}

/* Conditions and suggestions name fields: checked once all are known. */
static int
link_field(struct form *f, size_t i, json_t *def, const char *name,
    char *err, size_t errlen)
{
	struct field	*fd = &f->fields[i];
	json_t		*sb = json_object_get(def, "suggestions_by");
	char		 path[96];

	if ((fd->required_if = json_object_get(def, "required_if")) != NULL) {
		snprintf(path, sizeof(path), "fields[%zu].required_if", i);
		if (check_cond(f, fd->required_if, name, path, err, errlen))
			return -1;
	}
	if ((fd->allowed_if = json_object_get(def, "allowed_if")) != NULL) {
		snprintf(path, sizeof(path), "fields[%zu].allowed_if", i);
		if (check_cond(f, fd->allowed_if, name, path, err, errlen))
			return -1;
	}
	if (sb != NULL) {
		if (field_find(f, json_string_value(json_object_get(sb,
		    "field"))) == NULL || !json_is_object(json_object_get(sb,
		    "values")))
			return bad(err, errlen, name, "fields[%zu].suggestions_by: "
			    "{field, values} is expected", i);
		fd->suggestions = json_object_get(sb, "values");
	}
	return 0;
}

static const struct {
	const char	*kind;
	const char	*needs[4];	/* members naming fields */
} rule_kinds[] = {
	{ "range_by_value",		{ "field", "target", NULL } },
	{ "fifth_category_threshold",	{ "field", "type_field", "target", NULL } },
	{ "implies_value",		{ "field", "target", NULL } },
	{ "suggested_value",		{ "field", "by", NULL } },
	{ "allowed_values",		{ "field", NULL } },
	{ "differs_from",		{ "field", "target", NULL } },
	{ "not_all_caps",		{ "field", NULL } },
};

static int
load_rule(struct form *f, size_t i, json_t *def, const char *name,
    char *err, size_t errlen)
{
	struct rule	*r = &f->rules[i];
	const char	*level;
	size_t		 k, j;

	r->def = def;
	r->code = json_string_value(json_object_get(def, "code"));
	r->kind = json_string_value(json_object_get(def, "kind"));
	level = json_string_value(json_object_get(def, "level"));
	if (r->code == NULL || r->kind == NULL || level == NULL ||
	    !json_is_string(json_object_get(def, "message")))
		return bad(err, errlen, name, "rules[%zu]: code, kind, level and "
		    "message are expected", i);
	if (strcmp(level, "error") != 0 && strcmp(level, "warning") != 0)
		return bad(err, errlen, name, "rules[%zu].level: error or "
		    "warning", i);
	r->warning = strcmp(level, "warning") == 0;
	for (k = 0; k < sizeof(rule_kinds) / sizeof(rule_kinds[0]); k++)
		if (strcmp(r->kind, rule_kinds[k].kind) == 0)
			break;
	if (k == sizeof(rule_kinds) / sizeof(rule_kinds[0]))
		return bad(err, errlen, name, "rules[%zu].kind: unknown kind "
		    "\"%s\"", i, r->kind);
	for (j = 0; rule_kinds[k].needs[j] != NULL; j++)
		if (field_find(f, json_string_value(json_object_get(def,
		    rule_kinds[k].needs[j]))) == NULL)
			return bad(err, errlen, name, "rules[%zu].%s: not a field "
			    "of the form", i, rule_kinds[k].needs[j]);
	if (strcmp(r->kind, "suggested_value") == 0 &&
	    field_find(f, json_string_value(json_object_get(def,
	    "field")))->suggestions == NULL)
		return bad(err, errlen, name, "rules[%zu]: the field has no "
		    "suggestions_by", i);
	return 0;
}

/* The shape of organisation_kinds.code. */
static int
kind_ok(const char *s)
{
	size_t	n = 0;

	for (; s != NULL && ((*s >= 'a' && *s <= 'z') || *s == '_'); s++)
		n++;
	return s != NULL && *s == '\0' && n >= 2 && n <= 32;
}

/*
 * review: who moderates the guichet. Each authority is a set of
 * organisation kinds; with mode "all" every authority must validate, with
 * "any" one suffices. A kind reviews for one authority at most, so that a
 * reviewer's sign-off is never ambiguous.
 */
static int
load_review(struct form *f, json_t *rv, const char *name, char *err,
    size_t errlen)
{
	static const char *const keys[] = { "authorities", "mode", "due_days",
	    NULL };
	static const char *const akeys[] = { "code", "label", "kinds", NULL };
	const char	*mode = json_string_value(json_object_get(rv, "mode"));
	json_t		*a, *k, *k2;
	long long	 due = 0;
	size_t		 i, j, i2, j2;

	if (!json_is_object(rv) || only_keys(rv, keys, name, "review", err,
	    errlen))
		return bad(err, errlen, name, "review: an object is expected");
	f->authorities = json_object_get(rv, "authorities");
	if (!json_is_array(f->authorities) ||
	    json_array_size(f->authorities) == 0)
		return bad(err, errlen, name, "review.authorities: a list is "
		    "expected");
	json_array_foreach(f->authorities, i, a) {
		if (!json_is_object(a) || only_keys(a, akeys, name,
		    "review.authorities[]", err, errlen))
			return -1;
		if (!kind_ok(json_string_value(json_object_get(a, "code"))) ||
		    !json_is_string(json_object_get(a, "label")) ||
		    strcmp(json_string_value(json_object_get(a, "code")),
		    "admin") == 0)
			return bad(err, errlen, name, "review.authorities[%zu]: "
			    "code ([a-z_], 2 to 32, not \"admin\") and label are "
			    "expected", i);
		for (i2 = 0; i2 < i; i2++)
			if (json_equal(json_object_get(a, "code"), json_object_get(
			    json_array_get(f->authorities, i2), "code")))
				return bad(err, errlen, name, "review.authorities"
				    "[%zu].code: already used", i);
		if (!json_is_array(json_object_get(a, "kinds")) ||
		    json_array_size(json_object_get(a, "kinds")) == 0)
			return bad(err, errlen, name, "review.authorities[%zu]."
			    "kinds: a list of organisation kinds is expected", i);
		json_array_foreach(json_object_get(a, "kinds"), j, k) {
			if (!kind_ok(json_string_value(k)))
				return bad(err, errlen, name, "review.authorities"
				    "[%zu].kinds[%zu]: an organisation kind "
				    "([a-z_], 2 to 32) is expected", i, j);
			for (i2 = 0; i2 <= i; i2++)
				json_array_foreach(json_object_get(
				    json_array_get(f->authorities, i2), "kinds"),
				    j2, k2)
					if ((i2 < i || j2 < j) && json_equal(k, k2))
						return bad(err, errlen, name,
						    "review.authorities[%zu]."
						    "kinds[%zu]: a kind reviews "
						    "for one authority", i, j);
		}
	}
	if (mode == NULL || (strcmp(mode, "all") && strcmp(mode, "any")))
		return bad(err, errlen, name, "review.mode: \"all\" or \"any\"");
	f->review_all = strcmp(mode, "all") == 0;
	if (get_int(rv, "due_days", &due, NULL) || due < 1 || due > 365)
		return bad(err, errlen, name, "review.due_days: 1 to 365");
	f->due_days = (int)due;
	return 0;
}

struct form *
form_parse(const char *name, json_t *def, char *err, size_t errlen)
{
	static const char *const keys[] = { "guichet", "title", "description",
	    "name_field", "geometry", "exports", "review", "fields", "rules",
	    NULL };
	static const char *const gkeys[] = { "types", "commune_field", "help",
	    "duplicates", NULL };
	struct form	*f = xcalloc(1, sizeof(*f));
	json_t		*fields, *rules, *geo, *t;
	const char	*s;
	size_t		 i;

	f->def = json_incref(def);
	if (!json_is_object(def) || only_keys(def, keys, name, "(top)", err, errlen))
		goto fail;
	if ((s = json_string_value(json_object_get(def, "guichet"))) == NULL ||
	    !json_is_string(json_object_get(def, "title"))) {
		bad(err, errlen, name, "guichet, title: texts are expected");
		goto fail;
	}
	f->guichet = xstrdup(s);
	fields = json_object_get(def, "fields");
	if (!json_is_array(fields) || json_array_size(fields) == 0) {
		bad(err, errlen, name, "fields: a list is expected");
		goto fail;
	}
	f->fields = xcalloc(json_array_size(fields), sizeof(*f->fields));
	for (i = 0; i < json_array_size(fields); i++) {
		f->nfields = i + 1;
		if (load_field(f, i, json_array_get(fields, i), name, err, errlen))
			goto fail;
	}
	for (i = 0; i < f->nfields; i++)
		if (link_field(f, i, json_array_get(fields, i), name, err, errlen))
			goto fail;
	geo = json_object_get(def, "geometry");
	if (!json_is_object(geo) || only_keys(geo, gkeys, name, "geometry", err,
	    errlen))
		goto fail;
	json_array_foreach(json_object_get(geo, "types"), i, t) {
		s = json_string_value(t);
		if (s && strcmp(s, "Point") == 0)
			f->geom_types |= GEOM_POINT;
		else if (s && strcmp(s, "Polygon") == 0)
			f->geom_types |= GEOM_POLYGON;
		else if (s && strcmp(s, "MultiPolygon") == 0)
			f->geom_types |= GEOM_MULTIPOLYGON;
		else {
			bad(err, errlen, name, "geometry.types[%zu]: Point, "
			    "Polygon or MultiPolygon", i);
			goto fail;
		}
	}
	if (f->geom_types == 0) {
		bad(err, errlen, name, "geometry.types: at least one type");
		goto fail;
	}
	f->commune_field = json_string_value(json_object_get(geo, "commune_field"));
	if (field_find(f, f->commune_field) == NULL ||
	    field_find(f, f->commune_field)->type != F_INSEE) {
		bad(err, errlen, name, "geometry.commune_field: an insee_commune "
		    "field of the form is expected");
		goto fail;
	}
	f->name_field = json_string_value(json_object_get(def, "name_field"));
	if (field_find(f, f->name_field) == NULL) {
		bad(err, errlen, name, "name_field: not a field of the form");
		goto fail;
	}
	if (load_review(f, json_object_get(def, "review"), name, err, errlen))
		goto fail;
	rules = json_object_get(def, "rules");
	if (rules != NULL && !json_is_array(rules)) {
		bad(err, errlen, name, "rules: a list is expected");
		goto fail;
	}
	f->rules = xcalloc(json_array_size(rules) + 1, sizeof(*f->rules));
	for (i = 0; i < json_array_size(rules); i++) {
		if (load_rule(f, i, json_array_get(rules, i), name, err, errlen))
			goto fail;
		f->nrules = i + 1;
	}
	return f;
fail:
	form_free(f);
	return NULL;
}

void
form_free(struct form *f)
{
	size_t	i;

	if (f == NULL)
		return;
	for (i = 0; i < f->nfields; i++)
		if (f->fields[i].has_re)
			regfree(&f->fields[i].re);
	free(f->fields);
	free(f->rules);
	free(f->guichet);
	json_decref(f->def);
	free(f);
}

void
form_free_all(void)
{
	size_t	i;

	for (i = 0; i < 3; i++) {
		form_free(forms[i]);
		forms[i] = NULL;
	}
}

int
form_load_all(const char *dir, char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*def;
	char		*path;
	size_t		 i;

	form_free_all();
	for (i = 0; i < 3; i++) {
		path = xasprintf("%s/%s.json", dir, guichets[i]);
		def = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
		if (def == NULL) {
			snprintf(err, errlen, "%s: line %d: %s", path, je.line,
			    je.text);
			free(path);
			return -1;
		}
		forms[i] = form_parse(path, def, err, errlen);
		json_decref(def);
		if (forms[i] != NULL && strcmp(forms[i]->guichet, guichets[i]) != 0) {
			bad(err, errlen, path, "guichet: \"%s\" expected",
			    guichets[i]);
			form_free(forms[i]);
			forms[i] = NULL;
		}
		free(path);
		if (forms[i] == NULL)
			return -1;
	}
	return 0;
}

const struct form *
form_find(const char *guichet)
{
	size_t	i;

	for (i = 0; i < 3; i++)
		if (forms[i] != NULL && strcmp(guichet, guichets[i]) == 0)
			return forms[i];
	return NULL;
}

const char *form_guichet(const struct form *f) { return f->guichet; }
json_t *form_definition(const struct form *f) { return f->def; }
unsigned form_geometry_types(const struct form *f) { return f->geom_types; }
const char *form_commune_field(const struct form *f) { return f->commune_field; }
const char *form_name_field(const struct form *f) { return f->name_field; }
int form_review_all(const struct form *f) { return f->review_all; }

const char *
form_field_label(const struct form *f, const char *name)
{
	const struct field *fd = field_find(f, name);

	return fd ? fd->label : NULL;
}

size_t form_field_count(const struct form *f) { return f->nfields; }

const char *
form_field_name(const struct form *f, size_t i)
{
	return f->fields[i].name;
}

int form_due_days(const struct form *f) { return f->due_days; }
size_t form_authority_count(const struct form *f)
{
	return json_array_size(f->authorities);
}

const char *
form_authority(const struct form *f, size_t i, const char **label)
{
	json_t	*a = json_array_get(f->authorities, i);

	if (label != NULL)
		*label = json_string_value(json_object_get(a, "label"));
	return json_string_value(json_object_get(a, "code"));
}

json_t *
form_authority_kinds(const struct form *f, size_t i)
{
	return json_object_get(json_array_get(f->authorities, i), "kinds");
}

int
form_authority_of_kind(const struct form *f, const char *kind)
{
	json_t	*a, *k;
	size_t	 i, j;

	json_array_foreach(f->authorities, i, a)
		json_array_foreach(json_object_get(a, "kinds"), j, k)
			if (strcmp(json_string_value(k), kind) == 0)
				return (int)i;
	return -1;
}

/* --- validation ------------------------------------------------------------- */

void
form_problem(json_t *list, const char *field, const char *code,
    const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;
	json_t	*p;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A value quoted in the message may have been cut mid-character:
	 * jansson would refuse the text, and the problem would be lost. */
	utf8_trim(msg);
	p = json_pack("{s:s?, s:s, s:s}", "field", field, "code", code,
	    "message", msg);
	if (p == NULL)
		p = json_pack("{s:s?, s:s, s:s}", "field", field, "code", code,
		    "message", "Valeur refusée.");
	json_array_append_new(list, p);
}

int
form_siret_ok(const char *s)
{
	int	i, d, sum = 0, digits = 0;

	if (strlen(s) != 14)
		return 0;
	for (i = 0; i < 14; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		d = s[i] - '0';
		digits += d;
		if (i % 2 == 0 && (d *= 2) > 9)	/* even ranks from the right */
			d -= 9;
		sum += d;
	}
	/* La Poste's establishments follow their own rule, but for its head
	 * office, which follows Luhn's. */
	if (strncmp(s, "356000000", 9) == 0)
		return digits % 5 == 0 || sum % 10 == 0;
	return sum % 10 == 0;
}

static size_t
utf8_chars(const char *s)
{
	size_t	n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/*
 * A refused value as a message quotes it: at most 60 bytes (whole
 * characters, then "…"), control characters as spaces, so that an import
 * report names what to map without copying a page of text.
 */
static void
shown_value(const char *v, char *out, size_t n)
{
	size_t	i;

	snprintf(out, n < 61 ? n : 61, "%s", v);
	if (strlen(v) > strlen(out)) {
		utf8_trim(out);
		strcat(out, "…");
	}
	for (i = 0; out[i]; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
}

/* field_enum for value, named in the message (see shown_value). */
static void
enum_refused(json_t *errors, const struct field *fd, const char *value)
{
	char	shown[72];

	shown_value(value, shown, sizeof(shown));
	form_problem(errors, fd->name, "field_enum", "« %s » : « %s » n'est "
	    "pas une valeur de la liste.", fd->label, shown);
}

static int
in_values(json_t *values, const char *s)
{
	json_t	*v;
	size_t	 i;

	json_array_foreach(values, i, v)
		if (strcmp(json_string_value(json_object_get(v, "value")), s) == 0)
			return 1;
	return 0;
}

/*
 * Reads one value into its clean form. Returns the clean value (new
 * reference), NULL when absent (null, empty text, empty list), or NULL with
 * a problem appended.
 */
static json_t *
read_value(const struct field *fd, json_t *v, json_t *errors, int *bad_value)
{
	const char	*s, *e;
	json_t		*out, *item;
	char		*trim;
	size_t		 i, j, n;
	long long	 x;

	*bad_value = 0;
	if (v == NULL || json_is_null(v))
		return NULL;
	switch (fd->type) {
	case F_TEXT:
	case F_SIRET:
	case F_INSEE:
	case F_ENUM:
		if (!json_is_string(v))
			goto type;
		s = json_string_value(v);
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s)
			return NULL;
		trim = xstrndup(s, e - s);
		for (i = 0; trim[i]; i++)
			if ((unsigned char)trim[i] < 0x20 || trim[i] == 0x7f)
				break;
		if (trim[i] != '\0') {
			form_problem(errors, fd->name, "field_control_character",
			    "« %s » contient un caractère de contrôle.", fd->label);
			goto bad;
		}
		n = utf8_chars(trim);
		if (fd->type == F_ENUM && !in_values(fd->values, trim)) {
			enum_refused(errors, fd, trim);
			goto bad;
		}
		if (fd->type == F_SIRET && !form_siret_ok(trim)) {
			form_problem(errors, fd->name, "field_siret", "« %s » doit "
			    "compter 14 chiffres et avoir une clé de contrôle "
			    "valide.", fd->label);
			goto bad;
		}
		if (fd->type == F_INSEE && !terr_commune_ok(trim)) {
			form_problem(errors, fd->name, "field_insee", "« %s » doit "
			    "être un code INSEE de commune (5 caractères).",
			    fd->label);
			goto bad;
		}
		if ((long long)n < fd->min_length) {
			form_problem(errors, fd->name, "field_too_short", "« %s » "
			    "doit compter au moins %lld caractères.", fd->label,
			    fd->min_length);
			goto bad;
		}
		if ((long long)n > fd->max_length) {
			form_problem(errors, fd->name, "field_too_long", "« %s » ne "
			    "doit pas dépasser %lld caractères.", fd->label,
			    fd->max_length);
			goto bad;
		}
		if (fd->has_re && regexec(&fd->re, trim, 0, NULL, 0) != 0) {
			form_problem(errors, fd->name, "field_pattern", "« %s » n'a "
			    "pas la forme attendue%s%s.", fd->label,
			    fd->pattern_message ? " : " : "",
			    fd->pattern_message ? fd->pattern_message : "");
			goto bad;
		}
		out = json_string(trim);
		free(trim);
		return out;
bad:
		free(trim);
		*bad_value = 1;
		return NULL;
	case F_INTEGER:
		if (json_is_integer(v))
			x = json_integer_value(v);
		else if (json_is_real(v) && json_real_value(v) < 9e15 &&
		    json_real_value(v) > -9e15 &&
		    json_real_value(v) == floor(json_real_value(v)))
			x = (long long)json_real_value(v);	/* 12.0 */
		else
			goto type;
		if ((fd->has_min && x < fd->min) || (fd->has_max && x > fd->max)) {
			form_problem(errors, fd->name, x < fd->min ? "field_min" :
			    "field_max", "« %s » doit être compris entre %lld et "
			    "%lld.", fd->label, fd->min, fd->max);
			*bad_value = 1;
			return NULL;
		}
		return json_integer(x);
	case F_BOOLEAN:
		if (!json_is_boolean(v))
			goto type;
		return json_incref(v);
	case F_ENUM_LIST:
		if (!json_is_array(v))
			goto type;
		if (json_array_size(v) == 0)
			return NULL;
		if ((long long)json_array_size(v) > fd->max_items) {
			form_problem(errors, fd->name, "field_too_many", "« %s » "
			    "compte plus de %lld valeurs.", fd->label,
			    fd->max_items);
			*bad_value = 1;
			return NULL;
		}
		json_array_foreach(v, i, item) {
			if (!json_is_string(item) || !in_values(fd->values,
			    json_string_value(item))) {
				if (json_is_string(item))
					enum_refused(errors, fd,
					    json_string_value(item));
				else
					form_problem(errors, fd->name,
					    "field_enum", "« %s » contient une "
					    "valeur hors de la liste.", fd->label);
				*bad_value = 1;
				return NULL;
			}
			for (j = 0; j < i; j++)
				if (json_equal(item, json_array_get(v, j))) {
					form_problem(errors, fd->name,
					    "field_duplicate_item", "« %s » "
					    "contient deux fois la même valeur.",
					    fd->label);
					*bad_value = 1;
					return NULL;
				}
		}
		return json_deep_copy(v);
	}
type:
	form_problem(errors, fd->name, "field_type", "« %s » n'a pas le bon type "
	    "(%s attendu).", fd->label, fd->type == F_INTEGER ? "un nombre entier" :
	    fd->type == F_BOOLEAN ? "vrai ou faux" : fd->type == F_ENUM_LIST ?
	    "une liste" : "un texte");
	*bad_value = 1;
	return NULL;
}

/* Does clean[c.field] satisfy the condition {field, in | not_in}? */
static int
cond_true(json_t *c, json_t *clean)
{
	json_t	*v = json_object_get(clean, json_string_value(
		    json_object_get(c, "field")));
	json_t	*in = json_object_get(c, "in"), *list = in ? in :
		    json_object_get(c, "not_in"), *item;
	size_t	 i;
	int	 found = 0;

	json_array_foreach(list, i, item)
		if (v != NULL && json_equal(v, item))
			found = 1;
	return in ? found : !found;
}

/* A JSON value as text for messages. */
static void
value_text(json_t *v, char *out, size_t outlen)
{
	if (json_is_string(v))
		snprintf(out, outlen, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(out, outlen, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	else
		snprintf(out, outlen, "?");
}

/*
 * Fills a rule's message: {name} takes the value of the named entry of
 * vars (pairs of name, text, NULL-terminated).
 */
static void
rule_message(const struct rule *r, char *out, size_t outlen, ...)
{
	const char	*m = json_string_value(json_object_get(r->def, "message"));
	const char	*p, *name, *val;
	struct buf	 b = { 0 };
	va_list		 ap;
	size_t		 n;

	for (p = m; *p != '\0'; p++) {
		if (*p != '{' || strchr(p, '}') == NULL) {
			buf_append(&b, p, 1);
			continue;
		}
		n = strchr(p, '}') - p - 1;
		val = NULL;
		va_start(ap, outlen);
		while ((name = va_arg(ap, const char *)) != NULL) {
			const char *v = va_arg(ap, const char *);

			if (strlen(name) == n && strncmp(name, p + 1, n) == 0)
				val = v;
		}
		va_end(ap);
		if (val == NULL) {
			buf_append(&b, p, 1);
			continue;
		}
		buf_puts(&b, val);
		p += n + 1;
	}
	snprintf(out, outlen, "%s", b.data ? b.data : "");
	buf_free(&b);
}

static void
run_rule(const struct form *f, const struct rule *r, json_t *clean,
    json_t *errors, json_t *warnings)
{
	json_t		*d = r->def, *list = r->warning ? warnings : errors;
	const char	*field = json_string_value(json_object_get(d, "field"));
	const char	*target = json_string_value(json_object_get(d, "target"));
	json_t		*v = json_object_get(clean, field), *t = target ?
			    json_object_get(clean, target) : NULL, *spec, *item;
	char		 vs[256], ts[64], extra[96], msg[512];
	long long	 lo, hi, x, th;
	size_t		 i;
	int		 ok;

	if (v == NULL)
		return;
	value_text(v, vs, sizeof(vs));
	if (strcmp(r->kind, "range_by_value") == 0) {
		spec = json_object_get(json_object_get(d, "ranges"), vs);
		if (spec == NULL || !json_is_integer(t))
			return;
		x = json_integer_value(t);
		lo = json_is_integer(json_object_get(spec, "min")) ?
		    json_integer_value(json_object_get(spec, "min")) : -1;
		hi = json_is_integer(json_object_get(spec, "max")) ?
		    json_integer_value(json_object_get(spec, "max")) : -1;
		if ((lo >= 0 && x < lo) || (hi >= 0 && x > hi)) {
			snprintf(ts, sizeof(ts), "%lld", x);
			if (lo >= 0 && hi >= 0)
				snprintf(extra, sizeof(extra), "de %lld à %lld",
				    lo, hi);
			else if (lo >= 0)
				snprintf(extra, sizeof(extra), "plus de %lld",
				    lo - 1);
			else
				snprintf(extra, sizeof(extra), "au plus %lld", hi);
			rule_message(r, msg, sizeof(msg), "value", vs, "target",
			    ts, "range", extra, NULL);
			form_problem(list, field, r->code, "%s", msg);
		}
	} else if (strcmp(r->kind, "fifth_category_threshold") == 0) {
		json_t *type = json_object_get(clean, json_string_value(
		    json_object_get(d, "type_field")));
		json_t *acc = json_object_get(clean, json_string_value(
		    json_object_get(d, "accommodation_field")));

		if (!json_is_string(type) || !json_is_integer(t))
			return;
		spec = json_object_get(json_object_get(d, "thresholds"),
		    json_string_value(type));
		if (json_is_object(spec))
			spec = json_object_get(spec, json_is_integer(acc) &&
			    json_integer_value(acc) > 0 ? "with_accommodation" :
			    "default");
		if (!json_is_integer(spec))
			return;
		th = json_integer_value(spec);
		x = json_integer_value(t);
		if ((strcmp(vs, "5") == 0 && x >= th) ||
		    (strcmp(vs, "4") == 0 && x < th)) {
			snprintf(ts, sizeof(ts), "%lld", x);
			snprintf(extra, sizeof(extra), "%lld", th);
			rule_message(r, msg, sizeof(msg), "value", vs, "target", ts,
			    "type", json_string_value(type), "threshold", extra,
			    NULL);
			form_problem(list, field, r->code, "%s", msg);
		}
	} else if (strcmp(r->kind, "implies_value") == 0) {
		ok = 0;
		json_array_foreach(json_object_get(d, "in"), i, item)
			if (json_equal(item, v))
				ok = 1;
		if (ok && !json_equal(t, json_object_get(d, "expected"))) {
			rule_message(r, msg, sizeof(msg), "value", vs, NULL);
			form_problem(list, target, r->code, "%s", msg);
		}
	} else if (strcmp(r->kind, "suggested_value") == 0) {
		const char *by = json_string_value(json_object_get(d, "by"));
		json_t *bv = json_object_get(clean, by), *known;

		if (!json_is_string(bv))
			return;
		known = json_object_get(field_find(f, field)->suggestions,
		    json_string_value(bv));
		if (!json_is_array(known) || json_array_size(known) == 0)
			return;		/* no list known for that value */
		json_array_foreach(known, i, item)
			if (json_equal(item, v))
				return;
		rule_message(r, msg, sizeof(msg), "value", vs, "by",
		    json_string_value(bv), NULL);
		form_problem(list, field, r->code, "%s", msg);
	} else if (strcmp(r->kind, "allowed_values") == 0) {
		if (!json_is_integer(v))
			return;
		x = json_integer_value(v);
		json_array_foreach(json_object_get(d, "ranges"), i, spec)
			if (x >= json_integer_value(json_object_get(spec, "min")) &&
			    x <= json_integer_value(json_object_get(spec, "max")))
				return;
		rule_message(r, msg, sizeof(msg), "value", vs, NULL);
		form_problem(list, field, r->code, "%s", msg);
	} else if (strcmp(r->kind, "differs_from") == 0) {
		if (json_is_string(t) && strcasecmp(vs, json_string_value(t)) == 0) {
			rule_message(r, msg, sizeof(msg), "value", vs, NULL);
			form_problem(list, field, r->code, "%s", msg);
		}
	} else if (strcmp(r->kind, "not_all_caps") == 0) {
		size_t upper = 0, lower = 0;

		for (i = 0; vs[i]; i++) {
			upper += vs[i] >= 'A' && vs[i] <= 'Z';
			lower += vs[i] >= 'a' && vs[i] <= 'z';
		}
		if (upper >= 3 && lower == 0) {
			rule_message(r, msg, sizeof(msg), "value", vs, NULL);
			form_problem(list, field, r->code, "%s", msg);
		}
	}
}

void
form_validate(const struct form *f, json_t *attrs, int complete,
    json_t **clean, json_t *errors, json_t *warnings)
{
	const struct field	*fd;
	json_t			*v;
	unsigned char		*bad;
	size_t			 i;
	int			 badv;

	*clean = json_object();
	if (attrs != NULL && !json_is_object(attrs)) {
		form_problem(errors, NULL, "attributes_type", "Les attributs "
		    "doivent être un objet JSON.");
		return;
	}
	bad = xcalloc(f->nfields, 1);
	for (i = 0; i < f->nfields; i++) {
		fd = &f->fields[i];
		v = read_value(fd, json_object_get(attrs, fd->name), errors, &badv);
		bad[i] = (unsigned char)badv;
		if (v == NULL && !badv && complete && fd->dflt != NULL)
			v = json_incref(fd->dflt);
		if (v != NULL)
			json_object_set_new(*clean, fd->name, v);
	}
	for (i = 0; i < f->nfields; i++) {
		fd = &f->fields[i];
		v = json_object_get(*clean, fd->name);
		if (v != NULL && fd->allowed_if != NULL &&
		    !cond_true(fd->allowed_if, *clean)) {
			form_problem(errors, fd->name, "field_not_allowed",
			    "« %s » ne s'applique pas ici.", fd->label);
			json_object_del(*clean, fd->name);
		} else if (v == NULL && !bad[i] && complete && (fd->required ||
		    (fd->required_if != NULL && cond_true(fd->required_if,
		    *clean))))
			form_problem(errors, fd->name, "field_required",
			    "« %s » est obligatoire.", fd->label);
	}
	free(bad);
	for (i = 0; i < f->nrules; i++)
		run_rule(f, &f->rules[i], *clean, errors, warnings);
}

/*
 * Text from a file or a query string, as the JSON value the field's type
 * wants: an integer, true or false (also 1/0, oui/non, vrai/faux, o/n,
 * yes/no), a list split at the field's export separator (or | , ;), else
 * the text. Text that does not read as the type stays text, so that
 * read_value reports the type error with its field and label.
 */
static json_t *
text_value(const struct field *fd, const char *raw)
{
	static const char *const yes[] = { "true", "1", "oui", "vrai", "o",
	    "yes", "y", NULL };
	static const char *const no[] = { "false", "0", "non", "faux", "n",
	    "no", NULL };
	const char	*sep;
	char		*end, *copy, *p, *tok;
	long long	 x;
	json_t		*list;
	size_t		 i;

	switch (fd->type) {
	case F_INTEGER:
		errno = 0;
		x = strtoll(raw, &end, 10);
		if (raw[0] != '\0' && *end == '\0' && errno == 0)
			return json_integer(x);
		break;
	case F_BOOLEAN:
		for (i = 0; yes[i] != NULL; i++)
			if (strcasecmp(raw, yes[i]) == 0)
				return json_true();
		for (i = 0; no[i] != NULL; i++)
			if (strcasecmp(raw, no[i]) == 0)
				return json_false();
		break;
	case F_ENUM_LIST:
		sep = json_string_value(json_object_get(fd->exports,
		    "separator"));
		list = json_array();
		copy = xstrdup(raw);
		for (p = copy; (tok = strsep(&p, sep ? sep : "|,;")) != NULL;) {
			str_strip(tok);
			if (tok[0] != '\0')
				json_array_append_new(list, json_string(tok));
		}
		free(copy);
		return list;
	default:
		break;
	}
	return json_string(raw);
}

json_t *
form_text_value(const struct form *f, const char *field, const char *text)
{
	const struct field	*fd = field_find(f, field);

	return fd == NULL ? NULL : text_value(fd, text);
}

/*
 * A filter of the open-data API comes as query text: it is read as the
 * field's type (text_value; booleans only as true or false) and then checked by the same read_value as a
 * submitted value, so that a filter accepts exactly the values a record
 * can hold. An enum_list field matches the records whose list holds the
 * values given, by jsonb containment.
 */
json_t *
form_filter_value(const struct form *f, const char *field, const char *raw,
    json_t *errors)
{
	const struct field	*fd = field_find(f, field);
	json_t			*in, *out;
	int			 bad_value;

	if (fd == NULL || !fd->queryable)
		return NULL;
	if (!utf8_valid(raw, strlen(raw))) {
		form_problem(errors, fd->name, "field_not_utf8", "« %s » n'est "
		    "pas un texte UTF-8 valide.", fd->label);
		return NULL;
	}
	/* A query string says true or false: the API's schema says boolean
	 * (a file's oui/non/1/0 are for imports). */
	in = fd->type == F_BOOLEAN && strcmp(raw, "true") != 0 &&
	    strcmp(raw, "false") != 0 ? json_string(raw) : text_value(fd, raw);
	out = read_value(fd, in, errors, &bad_value);
	json_decref(in);
	if (out == NULL && json_array_size(errors) == 0)
		form_problem(errors, fd->name, "filter_empty", "Le filtre « %s » "
		    "ne peut pas être vide.", fd->label);
	return out;
}
