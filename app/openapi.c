/*
 * openapi.c — the partner API's description, OpenAPI 3.0, generated from
 * the route table.
 *
 * The table already says everything a client needs per route: method and
 * path, the parameters with their bounds and choices, the JSON body
 * members, who may call it (the action, hence the token scope), and a
 * summary. Generating the description from it means that it cannot drift
 * from what the server accepts; a test compares the two anyway, and the
 * table check refuses a route without a summary.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "conf.h"
#include "http.h"
#include "idem.h"
#include "openapi.h"
#include "route.h"

#define API_PREFIX	"/api/v1/"

/* The JSON Schema of one declared parameter. */
static json_t *
param_schema(const struct param_spec *s)
{
	json_t	*sch, *choices;
	size_t	 i;

	switch (s->kind) {
	case P_INT:
		sch = json_pack("{s:s, s:I, s:I}", "type", "integer", "minimum",
		    (json_int_t)s->min, "maximum", (json_int_t)s->max);
		break;
	case P_BOOL:
		sch = json_pack("{s:s}", "type", "boolean");
		break;
	case P_ENUM:
	case P_ENUMS:
		choices = json_array();
		for (i = 0; s->choices[i] != NULL; i++)
			json_array_append_new(choices, json_string(s->choices[i]));
		sch = json_pack("{s:s, s:o}", "type", "string", "enum", choices);
		if (s->kind == P_ENUMS)
			sch = json_pack("{s:s, s:o, s:b, s:I}", "type", "array",
			    "items", sch, "uniqueItems", 1, "maxItems",
			    (json_int_t)s->max);
		break;
	case P_EMAIL:
		sch = json_pack("{s:s, s:s, s:i}", "type", "string", "format",
		    "email", "maxLength", 254);
		break;
	case P_SECRET:
		sch = json_pack("{s:s, s:s, s:I}", "type", "string", "format",
		    "password", "maxLength", (json_int_t)s->max);
		break;
	case P_DEPTS:
	case P_COMMUNES:
		sch = json_pack("{s:s, s:{s:s, s:s}, s:b, s:I}", "type", "array",
		    "items", "type", "string", "pattern", s->kind == P_DEPTS ?
		    "^([0-9]{2}|2[AB]|97[1-6])$" : "^[0-9][0-9AB][0-9]{3}$",
		    "uniqueItems", 1, "maxItems", (json_int_t)s->max);
		break;
	case P_IDS:
		sch = json_pack("{s:s, s:{s:s, s:i}, s:b, s:I}", "type", "array",
		    "items", "type", "integer", "minimum", 1, "uniqueItems", 1,
		    "maxItems", (json_int_t)s->max);
		break;
	case P_JSON:
		sch = json_object();
		break;
	case P_STR:
	default:
		sch = json_pack("{s:s, s:I, s:I}", "type", "string", "minLength",
		    (json_int_t)s->min, "maxLength", (json_int_t)s->max);
		break;
	}
	if (s->flags & P_NULLABLE)
		json_object_set_new(sch, "nullable", json_true());
	return sch;
}

/* "get_api_v1_guichets_guichet_submissions_id": unique per route. */
static json_t *
operation_id(const struct route *rt)
{
	char	 id[256];
	size_t	 n = 0;
	const char *p;

	for (p = rt->method; *p && n < sizeof(id) - 1; p++)
		id[n++] = (char)(*p | 0x20);
	for (p = rt->pattern; *p && n < sizeof(id) - 1; p++) {
		if (*p == '{' || *p == '}')
			continue;
		id[n++] = (*p == '/' || *p == '-' || *p == '.') ? '_' : *p;
	}
	id[n] = '\0';
	return json_string(id);
}

/* The first path segment after /api/v1/: the operation's tag. */
static json_t *
tag(const struct route *rt)
{
	const char	*p = rt->pattern + strlen(API_PREFIX);

	return json_stringn(p, strcspn(p, "/"));
}

static json_t *
operation(const struct route *rt)
{
	const struct param_spec	*s;
	json_t			*op, *params = json_array(), *props = NULL,
				*required = json_array(), *sec;
	const char		*scope = action_scope(rt->action);

	for (s = rt->params; s && s->name; s++) {
		if (s->in == IN_BODY) {
			if (props == NULL)
				props = json_object();
			json_object_set_new(props, s->name, param_schema(s));
			if (s->flags & P_REQUIRED)
				json_array_append_new(required,
				    json_string(s->name));
			continue;
		}
		json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:o}",
		    "name", s->name, "in", s->in == IN_PATH ? "path" : "query",
		    "required", s->in == IN_PATH || (s->flags & P_REQUIRED),
		    "schema", param_schema(s)));
	}
	if (rt->flags & R_IDEMPOTENT)
		json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:s, "
		    "s:{s:s, s:i, s:i, s:s}}", "name", IDEM_HEADER, "in",
		    "header", "required", 0, "description", "Clé choisie par le "
		    "client pour cette opération : renvoyée avec la même "
		    "requête dans les 24 h, elle obtient la réponse de la "
		    "première, à l'identique (en-tête Idempotent-Replayed: "
		    "true), sans créer une seconde fois. Seuls les succès "
		    "sont gardés. Même clé pour une autre requête : 422 ; "
		    "tant que la première s'exécute : 409.", "schema", "type",
		    "string", "minLength", 1, "maxLength", IDEM_KEY_MAX,
		    "pattern", "^[ -~]+$"));
	op = json_pack("{s:s, s:o, s:[o], s:o, s:{s:{s:s}, s:{s:s}, s:{s:s}}, "
	    "s:s}", "summary", rt->summary, "operationId", operation_id(rt),
	    "tags", tag(rt), "parameters", params, "responses", "2XX",
	    "description", "Succès", "4XX", "$ref",
	    "#/components/responses/Error", "5XX", "$ref",
	    "#/components/responses/Error", "x-guichet-action",
	    action_name(rt->action));
	if (props != NULL)
		json_object_set_new(op, "requestBody", json_pack("{s:b, s:{s:{s:"
		    "{s:s, s:o, s:o}}}}", "required", 1, "content", BODY_JSON,
		    "schema", "type", "object", "properties", props, "required",
		    json_incref(required)));
	else if (rt->body_max > 0)
		json_object_set_new(op, "requestBody", json_pack("{s:b, s:{s:{s:"
		    "{}}}}", "required", 1, "content", rt->body_type, "schema"));
	if (props != NULL && json_array_size(required) == 0)
		json_object_del(json_object_get(json_object_get(json_object_get(
		    json_object_get(op, "requestBody"), "content"), BODY_JSON),
		    "schema"), "required");
	json_decref(required);
	/* Who may call: anyone; a session or a token with the scope; a
	 * browser session only. */
	if (rt->action == ACT_PUBLIC)
		sec = json_array();
	else if (scope == NULL)
		sec = json_pack("[{s:[]}]", "cookieAuth");
	else
		sec = json_pack("[{s:[]}, {s:[]}]", "bearerAuth", "cookieAuth");
	json_object_set_new(op, "security", sec);
	if (scope != NULL && scope[0] != '\0' && rt->action != ACT_PUBLIC)
		json_object_set_new(op, "x-guichet-token-scope",
		    json_string(scope));
	return op;
}

json_t *
openapi_document(void)
{
	json_t	*paths = json_object(), *item;
	char	 method[16];
	size_t	 i, k;

	for (i = 0; i < route_count; i++) {
		const struct route *rt = &route_table[i];

		if (strncmp(rt->pattern, API_PREFIX, strlen(API_PREFIX)) != 0)
			continue;
		if ((item = json_object_get(paths, rt->pattern)) == NULL) {
			item = json_object();
			json_object_set_new(paths, rt->pattern, item);
		}
		for (k = 0; rt->method[k] && k < sizeof(method) - 1; k++)
			method[k] = (char)(rt->method[k] | 0x20);
		method[k] = '\0';
		json_object_set_new(item, method, operation(rt));
	}
	return json_pack("{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:o, s:{"
	    "s:{s:{s:s, s:s}, s:{s:s, s:s, s:s}}, "
	    "s:{s:{s:s, s:{s:{s:{s:s}}}}}, "
	    "s:{s:{s:s, s:[s], s:{s:{s:s, s:[s,s], s:{s:{s:s}, s:{s:s}, "
	    "s:{s:s, s:b}}}}}}}}",
	    "openapi", "3.0.3",
	    "info", "title", "API des guichets OPenIG", "version", "1",
	    "description",
	    "Tout ce que fait l'interface web. Authentification : jeton d'API "
	    "(en-tête Authorization: Bearer …, créé dans « Mon compte » ou "
	    "pour un compte de service), limité en requêtes par minute (429 "
	    "avec Retry-After au-delà) ; ou session du navigateur, dont les "
	    "requêtes d'écriture portent l'en-tête X-CSRF-Token. Listes "
	    "paginées par limit et offset. Modification concurrente : If-Match "
	    "avec l'ETag lu (412 sinon). Créations : en-tête Idempotency-Key "
	    "pour les renvoyer sans risque de doublon. Toute erreur a la "
	    "forme {\"error\": "
	    "{\"code\", \"message\", \"field\"}} : code stable, message en "
	    "français, champ en cause. Les paramètres non déclarés sont "
	    "ignorés. Données validées en accès libre : /ogc (OGC API "
	    "Features).",
	    "servers", "url", conf.public_url, "paths", paths,
	    "components",
	    "securitySchemes", "bearerAuth", "type", "http", "scheme", "bearer",
	    "cookieAuth", "type", "apiKey", "in", "cookie", "name", AUTH_COOKIE,
	    "responses", "Error", "description", "Erreur", "content", BODY_JSON,
	    "schema", "$ref", "#/components/schemas/Error",
	    "schemas", "Error", "type", "object", "required", "error",
	    "properties", "error", "type", "object", "required", "code",
	    "message", "properties", "code", "type", "string", "message",
	    "type", "string", "field", "type", "string", "nullable", 1);
}

void
openapi_get(struct req *r)
{
	http_reply_json(r, 200, openapi_document());
}
