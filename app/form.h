/*
 * form.h — the rule catalogue: forms/<guichet>.json, loaded at start-up and
 * used to validate submissions (types, required and required-if, allowed-if,
 * enumerations, bounds, patterns, cross-field rules). Every error names its
 * field, a stable code and a French message; warnings are kept apart.
 * The same files are served to the UI (GET /api/v1/forms/{guichet}).
 */
#ifndef GUICHET_FORM_H
#define GUICHET_FORM_H

#include <jansson.h>

struct form;

/*
 * Loads erp.json, equipco.json and adresse.json from dir. Returns -1 with
 * one line in err naming the file and the faulty path in it
 * ("forms/erp.json: fields[3].type: unknown type \"txt\"").
 */
int		 form_load_all(const char *dir, char *err, size_t errlen);
/* Checks one form definition; for tests and fuzzing. NULL when valid. */
struct form	*form_parse(const char *name, json_t *def, char *err,
		    size_t errlen);
void		 form_free(struct form *);
void		 form_free_all(void);

const struct form *form_find(const char *guichet);
const char	*form_guichet(const struct form *);
json_t		*form_definition(const struct form *);	/* borrowed */
/* The geometry types allowed, as a geom.h bit set. */
unsigned	 form_geometry_types(const struct form *);
const char	*form_commune_field(const struct form *);
const char	*form_name_field(const struct form *);

/*
 * Moderation (the form's "review"): the reviewing authorities, each a set
 * of organisation kinds; whether all must validate (else any one); the
 * days a decision is due in.
 */
int		 form_review_all(const struct form *);
int		 form_due_days(const struct form *);
size_t		 form_authority_count(const struct form *);
/* The code of authority i (label into *label when not NULL). */
const char	*form_authority(const struct form *, size_t i,
		    const char **label);
/* The organisation kinds of authority i (borrowed). */
json_t		*form_authority_kinds(const struct form *, size_t i);
/* The authority an organisation kind reviews for, or -1. */
int		 form_authority_of_kind(const struct form *, const char *kind);
/* A field's label, or NULL for an undeclared field. */
const char	*form_field_label(const struct form *, const char *field);

/* The number of fields, and the name of field i. */
size_t		 form_field_count(const struct form *);
const char	*form_field_name(const struct form *, size_t i);

/*
 * A filter on a queryable field, from query text, as the typed value to
 * look for in the attributes (jsonb containment): NULL with a problem
 * appended to errors when it is not a value the field can hold (or the
 * field is not queryable: NULL, nothing appended).
 */
json_t		*form_filter_value(const struct form *, const char *field,
		    const char *raw, json_t *errors);

/*
 * Text (a file's cell) as the JSON value field wants, before validation:
 * integer, boolean (true/false, 1/0, oui/non…), list (split at the field's
 * export separator, or | , ;), else text. NULL for an undeclared field.
 */
json_t		*form_text_value(const struct form *, const char *field,
		    const char *text);

/*
 * Validates attrs. complete: a submission (required fields are required);
 * otherwise a draft, where only the values given are checked. Fills
 * *clean with the declared fields only, typed (the caller decrefs), and
 * appends {field, code, message} objects to errors and warnings.
 */
void		 form_validate(const struct form *, json_t *attrs, int complete,
		    json_t **clean, json_t *errors, json_t *warnings);

/* Appends one problem ({field, code, message}) to a list. */
void		 form_problem(json_t *list, const char *field, const char *code,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* 1 when s is 14 digits with a valid Luhn check digit (SIRET). */
int		 form_siret_ok(const char *s);

#endif
