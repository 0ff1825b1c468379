/*
 * routes.c — THE route table. One row per method and path: the action it
 * performs (authz.h decides who may), every parameter it accepts from the
 * path, the query and the JSON body, and the largest body it takes. Nothing
 * a route does not declare reaches its handler. Requests for paths not
 * listed fall back to the static files of the web UI (GET, HEAD).
 */
#include "account.h"
#include "csp.h"
#include "export.h"
#include "health.h"
#include "import.h"
#include "moderation.h"
#include "notify.h"
#include "ogc.h"
#include "openapi.h"
#include "org.h"
#include "route.h"
#include "submission.h"
#include "workflow.h"
#include "zone.h"

#define ID_MAX		9007199254740991LL	/* integers exact in JSON */
#define SMALL_BODY	16384

static const char *const roles[] = { "contributor", "reviewer", "org_admin",
    "admin", NULL };
static const char *const scopes[] = { "read", "submit", "review", "export",
    "admin", NULL };

static const struct param_spec p_id[] = {
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ NULL }
};
static const struct param_spec p_login[] = {
	{ "email", IN_BODY, P_EMAIL, P_REQUIRED, 0, 0, NULL },
	{ "password", IN_BODY, P_SECRET, P_REQUIRED, 0, 1024, NULL },
	{ NULL }
};
static const struct param_spec p_password[] = {
	{ "current_password", IN_BODY, P_SECRET, P_REQUIRED, 0, 1024, NULL },
	{ "new_password", IN_BODY, P_SECRET, P_REQUIRED, 0, 1024, NULL },
	{ NULL }
};
static const struct param_spec p_token_new[] = {
	{ "name", IN_BODY, P_STR, P_REQUIRED, 1, 100, NULL },
	{ "scopes", IN_BODY, P_ENUMS, P_REQUIRED, 0, 5, scopes },
	{ "expires_days", IN_BODY, P_INT, 0, 1, 3650, NULL },
	{ NULL }
};
static const struct param_spec p_user_token[] = {
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "name", IN_BODY, P_STR, P_REQUIRED, 1, 100, NULL },
	{ "scopes", IN_BODY, P_ENUMS, P_REQUIRED, 0, 5, scopes },
	{ "expires_days", IN_BODY, P_INT, 0, 1, 3650, NULL },
	{ NULL }
};
static const struct param_spec p_email[] = {
	{ "email", IN_BODY, P_EMAIL, P_REQUIRED, 0, 0, NULL },
	{ NULL }
};
static const struct param_spec p_redeem[] = {
	{ "token", IN_BODY, P_SECRET, P_REQUIRED, 0, 128, NULL },
	{ "password", IN_BODY, P_SECRET, P_REQUIRED, 0, 1024, NULL },
	{ NULL }
};
static const struct param_spec p_token[] = {
	{ "token", IN_BODY, P_SECRET, P_REQUIRED, 0, 128, NULL },
	{ NULL }
};
static const struct param_spec p_org_new[] = {
	{ "name", IN_BODY, P_STR, P_REQUIRED, 2, 200, NULL },
	{ "kind", IN_BODY, P_STR, P_REQUIRED, 2, 32, NULL },
	{ "siren", IN_BODY, P_STR, P_NULLABLE, 9, 9, NULL },
	{ "departements", IN_BODY, P_DEPTS, 0, 0, 200, NULL },
	{ "communes", IN_BODY, P_COMMUNES, 0, 0, 5000, NULL },
	{ NULL }
};
static const struct param_spec p_org_update[] = {
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "name", IN_BODY, P_STR, 0, 2, 200, NULL },
	{ "kind", IN_BODY, P_STR, 0, 2, 32, NULL },
	{ "siren", IN_BODY, P_STR, P_NULLABLE, 9, 9, NULL },
	{ "departements", IN_BODY, P_DEPTS, 0, 0, 200, NULL },
	{ "communes", IN_BODY, P_COMMUNES, 0, 0, 5000, NULL },
	{ "active", IN_BODY, P_BOOL, 0, 0, 0, NULL },
	{ NULL }
};
static const struct param_spec p_invite[] = {
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "email", IN_BODY, P_EMAIL, P_REQUIRED, 0, 0, NULL },
	{ "display_name", IN_BODY, P_STR, P_REQUIRED, 1, 120, NULL },
	{ "role", IN_BODY, P_ENUM, P_REQUIRED, 0, 0, roles },
	{ "departements", IN_BODY, P_DEPTS, P_NULLABLE, 0, 200, NULL },
	{ "communes", IN_BODY, P_COMMUNES, P_NULLABLE, 0, 5000, NULL },
	{ NULL }
};
static const struct param_spec p_user_update[] = {
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "display_name", IN_BODY, P_STR, 0, 1, 120, NULL },
	{ "role", IN_BODY, P_ENUM, 0, 0, 0, roles },
	{ "departements", IN_BODY, P_DEPTS, P_NULLABLE, 0, 200, NULL },
	{ "communes", IN_BODY, P_COMMUNES, P_NULLABLE, 0, 5000, NULL },
	{ "active", IN_BODY, P_BOOL, 0, 0, 0, NULL },
	{ NULL }
};

static const char *const guichets[] = { "erp", "equipco", "adresse", NULL };
static const char *const states[] = { "draft", "submitted", "in_review",
    "changes_requested", "validated", "rejected", "withdrawn", "deleted",
    NULL };

static const char *const zone_kinds[] = { "commune", "departement", "region",
    NULL };
static const struct param_spec p_zones[] = {
	{ "kind", IN_QUERY, P_ENUM, 0, 0, 0, zone_kinds },
	{ "bbox", IN_QUERY, P_STR, 0, 7, 100, NULL },
	{ "code", IN_QUERY, P_STR, 0, 2, 5, NULL },
	{ NULL }
};
static const struct param_spec p_guichet[] = {
	{ "guichet", IN_PATH, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ NULL }
};
static const char *const amend_ops[] = { "modify", "delete", NULL };
static const struct param_spec p_sub_new[] = {
	{ "guichet", IN_PATH, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ "attributes", IN_BODY, P_JSON, P_REQUIRED, 0, 0, NULL },
	{ "geometry", IN_BODY, P_JSON, P_NULLABLE, 0, 0, NULL },
	{ "submit", IN_BODY, P_BOOL, 0, 0, 0, NULL },
	{ "confirm_warnings", IN_BODY, P_BOOL, 0, 0, 0, NULL },
	/* An amendment of a validated object. */
	{ "amends", IN_BODY, P_INT, 0, 1, ID_MAX, NULL },
	{ "amends_version", IN_BODY, P_INT, 0, 1, 2147483647, NULL },
	{ "operation", IN_BODY, P_ENUM, 0, 0, 0, amend_ops },
	{ NULL }
};
static const struct param_spec p_sub_edit[] = {
	{ "guichet", IN_PATH, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "attributes", IN_BODY, P_JSON, P_REQUIRED, 0, 0, NULL },
	{ "geometry", IN_BODY, P_JSON, P_NULLABLE, 0, 0, NULL },
	{ "submit", IN_BODY, P_BOOL, 0, 0, 0, NULL },
	{ "confirm_warnings", IN_BODY, P_BOOL, 0, 0, 0, NULL },
	{ "version", IN_BODY, P_INT, 0, 1, 2147483647, NULL },
	{ NULL }
};
static const struct param_spec p_sub_list[] = {
	{ "guichet", IN_PATH, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ "state", IN_QUERY, P_ENUM, 0, 0, 0, states },
	{ "limit", IN_QUERY, P_INT, 0, 1, 200, NULL },
	{ "offset", IN_QUERY, P_INT, 0, 0, 1000000, NULL },
	{ NULL }
};
static const struct param_spec p_sub_id[] = {
	{ "guichet", IN_PATH, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ NULL }
};

static const char *const actions[] = { "submit", "resubmit", "withdraw",
    "claim", "validate", "request_changes", "reject", NULL };
static const char *const decisions[] = { "validate", "request_changes",
    "reject", NULL };
static const char *const queue_states[] = { "submitted", "in_review",
    "changes_requested", NULL };
static const char *const assigned[] = { "me", "none", "any", NULL };
static const char *const notify_modes[] = { "immediate", "digest", "none",
    NULL };
static const struct param_spec p_transition[] = {
	{ "guichet", IN_PATH, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "action", IN_BODY, P_ENUM, P_REQUIRED, 0, 0, actions },
	{ "comment", IN_BODY, P_STR, P_LINES, 0, 5000, NULL },
	{ "reason", IN_BODY, P_STR, 0, 1, 64, NULL },
	{ "remarks", IN_BODY, P_JSON, 0, 0, 0, NULL },
	{ "version", IN_BODY, P_INT, 0, 1, 2147483647, NULL },
	{ "confirm_warnings", IN_BODY, P_BOOL, 0, 0, 0, NULL },
	{ NULL }
};
static const struct param_spec p_assign[] = {
	{ "guichet", IN_PATH, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "user_id", IN_BODY, P_INT, P_REQUIRED | P_NULLABLE, 1, ID_MAX, NULL },
	{ NULL }
};
static const struct param_spec p_diff[] = {
	{ "guichet", IN_PATH, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "from", IN_QUERY, P_INT, P_REQUIRED, 1, 2147483647, NULL },
	{ "to", IN_QUERY, P_INT, 0, 1, 2147483647, NULL },
	{ NULL }
};
static const struct param_spec p_comment[] = {
	{ "guichet", IN_PATH, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "body", IN_BODY, P_STR, P_REQUIRED | P_LINES, 1, 5000, NULL },
	{ "field", IN_BODY, P_STR, 0, 1, 64, NULL },
	{ NULL }
};
static const struct param_spec p_queue[] = {
	{ "guichet", IN_QUERY, P_ENUM, 0, 0, 0, guichets },
	{ "state", IN_QUERY, P_ENUM, 0, 0, 0, queue_states },
	{ "commune", IN_QUERY, P_STR, 0, 5, 5, NULL },
	{ "assigned", IN_QUERY, P_ENUM, 0, 0, 0, assigned },
	{ "overdue", IN_QUERY, P_BOOL, 0, 0, 0, NULL },
	{ "older_than_days", IN_QUERY, P_INT, 0, 0, 3650, NULL },
	{ "import", IN_QUERY, P_INT, 0, 1, ID_MAX, NULL },
	{ "limit", IN_QUERY, P_INT, 0, 1, 200, NULL },
	{ "offset", IN_QUERY, P_INT, 0, 0, 1000000, NULL },
	{ NULL }
};
static const struct param_spec p_bulk[] = {
	{ "guichet", IN_PATH, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ "ids", IN_BODY, P_IDS, P_REQUIRED, 0, 200, NULL },
	{ "action", IN_BODY, P_ENUM, P_REQUIRED, 0, 0, decisions },
	{ "comment", IN_BODY, P_STR, P_LINES, 0, 5000, NULL },
	{ "reason", IN_BODY, P_STR, 0, 1, 64, NULL },
	{ NULL }
};
static const struct param_spec p_notifications[] = {
	{ "unread", IN_QUERY, P_BOOL, 0, 0, 0, NULL },
	{ "limit", IN_QUERY, P_INT, 0, 1, 200, NULL },
	{ "offset", IN_QUERY, P_INT, 0, 0, 1000000, NULL },
	{ NULL }
};
static const struct param_spec p_notif_read[] = {
	{ "ids", IN_BODY, P_IDS, 0, 0, 1000, NULL },
	{ "all", IN_BODY, P_BOOL, 0, 0, 0, NULL },
	{ NULL }
};
static const struct param_spec p_notify_prefs[] = {
	{ "notify", IN_BODY, P_ENUM, P_REQUIRED, 0, 0, notify_modes },
	{ NULL }
};

static const char *const formats[] = { "gpkg", "geojson", "csv", "csv_shp",
    "bal", "ign", NULL };
static const char *const export_modes[] = { "incremental", "full", NULL };
static const struct param_spec p_export_new[] = {
	{ "guichet", IN_BODY, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ "format", IN_BODY, P_ENUM, P_REQUIRED, 0, 0, formats },
	{ "mode", IN_BODY, P_ENUM, 0, 0, 0, export_modes },
	{ "departements", IN_BODY, P_DEPTS, 0, 0, 200, NULL },
	{ "communes", IN_BODY, P_COMMUNES, 0, 0, 5000, NULL },
	{ NULL }
};
static const struct param_spec p_export_list[] = {
	{ "guichet", IN_QUERY, P_ENUM, 0, 0, 0, guichets },
	{ "limit", IN_QUERY, P_INT, 0, 1, 200, NULL },
	{ "offset", IN_QUERY, P_INT, 0, 0, 1000000, NULL },
	{ NULL }
};
static const struct param_spec p_export_file[] = {
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "name", IN_PATH, P_STR, P_REQUIRED, 1, 200, NULL },
	{ NULL }
};

/* OGC API Features. The items route also takes the queryable fields of
 * its collection's form as filters (ogc.c checks them against the form). */
static const char *const ogc_formats[] = { "json", "html", NULL };
static const char *const ogc_formats_ld[] = { "json", "html", "jsonld", NULL };
static const char *const crs_uris[] = {
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "http://www.opengis.net/def/crs/EPSG/0/2154", NULL };
static const struct param_spec p_ogc[] = {
	{ "f", IN_QUERY, P_ENUM, 0, 0, 0, ogc_formats },
	{ NULL }
};
static const struct param_spec p_ogc_ld[] = {
	{ "f", IN_QUERY, P_ENUM, 0, 0, 0, ogc_formats_ld },
	{ NULL }
};
static const struct param_spec p_ogc_coll[] = {
	{ "collectionId", IN_PATH, P_STR, P_REQUIRED, 1, 32, NULL },
	{ "f", IN_QUERY, P_ENUM, 0, 0, 0, ogc_formats_ld },
	{ NULL }
};
static const struct param_spec p_ogc_items[] = {
	{ "collectionId", IN_PATH, P_STR, P_REQUIRED, 1, 32, NULL },
	{ "f", IN_QUERY, P_ENUM, 0, 0, 0, ogc_formats },
	{ "limit", IN_QUERY, P_INT, 0, 1, 1000000000, NULL },
	{ "offset", IN_QUERY, P_INT, 0, 0, 1000000000, NULL },
	{ "bbox", IN_QUERY, P_STR, 0, 1, 400, NULL },
	{ "bbox-crs", IN_QUERY, P_ENUM, 0, 0, 0, crs_uris },
	{ "crs", IN_QUERY, P_ENUM, 0, 0, 0, crs_uris },
	{ "datetime", IN_QUERY, P_STR, 0, 1, 100, NULL },
	{ "commune", IN_QUERY, P_STR, 0, 1, 10, NULL },
	{ "departement", IN_QUERY, P_STR, 0, 1, 10, NULL },
	{ NULL }
};
static const struct param_spec p_ogc_item[] = {
	{ "collectionId", IN_PATH, P_STR, P_REQUIRED, 1, 32, NULL },
	{ "featureId", IN_PATH, P_STR, P_REQUIRED, 1, 64, NULL },
	{ "f", IN_QUERY, P_ENUM, 0, 0, 0, ogc_formats },
	{ "crs", IN_QUERY, P_ENUM, 0, 0, 0, crs_uris },
	{ NULL }
};
static const struct param_spec p_widget[] = {
	{ "theme", IN_QUERY, P_ENUM, P_REQUIRED, 0, 0, ogc_collection_ids },
	{ "territory", IN_QUERY, P_STR, 0, 1, 10, NULL },
	{ NULL }
};

static const char *const import_formats[] = { "csv", "geojson", "gpkg",
    NULL };
static const char *const row_statuses[] = { "valid", "warning", "error",
    NULL };
static const struct param_spec p_import_new[] = {
	{ "guichet", IN_QUERY, P_ENUM, P_REQUIRED, 0, 0, guichets },
	{ "filename", IN_QUERY, P_STR, P_REQUIRED, 1, 255, NULL },
	{ "format", IN_QUERY, P_ENUM, 0, 0, 0, import_formats },
	{ NULL }
};
static const struct param_spec p_import_list[] = {
	{ "guichet", IN_QUERY, P_ENUM, 0, 0, 0, guichets },
	{ "limit", IN_QUERY, P_INT, 0, 1, 200, NULL },
	{ "offset", IN_QUERY, P_INT, 0, 0, 1000000, NULL },
	{ NULL }
};
static const struct param_spec p_import_update[] = {
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "mapping", IN_BODY, P_JSON, 0, 0, 0, NULL },
	{ "geometry", IN_BODY, P_JSON, P_NULLABLE, 0, 0, NULL },
	{ "value_map", IN_BODY, P_JSON, 0, 0, 0, NULL },
	{ "validate", IN_BODY, P_BOOL, 0, 0, 0, NULL },
	{ NULL }
};
static const struct param_spec p_import_rows[] = {
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, ID_MAX, NULL },
	{ "status", IN_QUERY, P_ENUM, 0, 0, 0, row_statuses },
	{ "limit", IN_QUERY, P_INT, 0, 1, 1000, NULL },
	{ "offset", IN_QUERY, P_INT, 0, 0, 100000000, NULL },
	{ NULL }
};

#define IMPORT_FILE	4294967296ULL	/* capped by conf.import_max_bytes */

#define GEOMETRY_BODY	4194304		/* a polygon of 100,000 vertices */

#define JSONB(n)	n, BODY_JSON
/* Open data: credentials are not looked at, any origin may read, and a
 * read-only node on a hot standby may serve it. */
#define OPEN		(R_NOAUTH | R_CORS | R_STANDBY)
#define NOBODY		0, NULL

const struct route route_table[] = {
	{ "GET",    "/healthz", health_get, ACT_PUBLIC, NULL, NOBODY, R_STANDBY,
	    "État du serveur et de sa base" },
	{ "GET",    "/ogc", ogc_landing, ACT_PUBLIC, p_ogc, NOBODY, OPEN,
	    "OGC API Features : page d'accueil" },
	{ "GET",    "/ogc/conformance", ogc_conformance, ACT_PUBLIC, p_ogc,
	    NOBODY, OPEN, "OGC API Features : classes de conformité" },
	{ "GET",    "/ogc/api", ogc_api, ACT_PUBLIC, NULL, NOBODY, OPEN,
	    "OGC API Features : définition OpenAPI 3.0" },
	{ "GET",    "/ogc/collections", ogc_collections, ACT_PUBLIC, p_ogc_ld,
	    NOBODY, OPEN,
	    "OGC API Features : collections (catalogue DCAT-AP avec f=jsonld)" },
	{ "GET",    "/ogc/collections/{collectionId}", ogc_collection,
	    ACT_PUBLIC, p_ogc_coll, NOBODY, OPEN,
	    "OGC API Features : une collection (jeu DCAT-AP avec f=jsonld)" },
	{ "GET",    "/ogc/collections/{collectionId}/queryables", ogc_queryables,
	    ACT_PUBLIC, p_ogc_coll, NOBODY, OPEN,
	    "OGC API Features : filtres d'une collection" },
	{ "GET",    "/ogc/collections/{collectionId}/items", ogc_items,
	    ACT_PUBLIC, p_ogc_items, NOBODY, OPEN,
	    "OGC API Features : objets validés d'une collection" },
	{ "GET",    "/ogc/collections/{collectionId}/items/{featureId}",
	    ogc_item, ACT_PUBLIC, p_ogc_item, NOBODY, OPEN,
	    "OGC API Features : un objet validé" },
	{ "GET",    "/widget", ogc_widget, ACT_PUBLIC, p_widget, NOBODY,
	    R_NOAUTH | R_STANDBY,
	    "Carte intégrable des objets validés d'un thème sur un territoire" },
	{ "POST",   "/csp-report", csp_report, ACT_PUBLIC, NULL, SMALL_BODY,
	    "application/csp-report", R_NOAUTH,
	    "Rapport de violation de la politique de sécurité du contenu" },

	/* The session: log in, who am I, log out. */
	{ "POST",   "/api/v1/session", account_login, ACT_PUBLIC, p_login,
	    JSONB(SMALL_BODY), R_NOAUTH | R_SECRET,
	    "Ouvrir une session (courriel et mot de passe)" },
	{ "GET",    "/api/v1/session", account_whoami, ACT_SELF, NULL, NOBODY, 0,
	    "Identité de la session ou du jeton" },
	{ "DELETE", "/api/v1/session", account_logout, ACT_ACCOUNT, NULL,
	    NOBODY, 0,
	    "Fermer la session" },

	/* One's own account. */
	{ "POST",   "/api/v1/account/password", account_password, ACT_ACCOUNT,
	    p_password, JSONB(SMALL_BODY), R_SECRET,
	    "Changer son mot de passe" },
	{ "GET",    "/api/v1/account/tokens", account_tokens_list, ACT_ACCOUNT,
	    NULL, NOBODY, 0,
	    "Ses jetons d'API" },
	{ "POST",   "/api/v1/account/tokens", account_tokens_create,
	    ACT_ACCOUNT, p_token_new, JSONB(SMALL_BODY), 0,
	    "Créer un jeton d'API (montré une seule fois)" },
	{ "DELETE", "/api/v1/account/tokens/{id}", account_tokens_revoke,
	    ACT_ACCOUNT, p_id, NOBODY, 0,
	    "Révoquer un de ses jetons d'API" },

	/* Links received by mail. */
	{ "POST",   "/api/v1/password-reset", account_reset_request, ACT_PUBLIC,
	    p_email, JSONB(SMALL_BODY), R_NOAUTH,
	    "Demander un lien de réinitialisation du mot de passe" },
	{ "POST",   "/api/v1/password-reset/confirm", account_reset_confirm,
	    ACT_PUBLIC, p_redeem, JSONB(SMALL_BODY), R_NOAUTH | R_SECRET,
	    "Choisir un nouveau mot de passe avec le lien reçu" },
	{ "POST",   "/api/v1/invitations/inspect", account_invitation_inspect,
	    ACT_PUBLIC, p_token, JSONB(SMALL_BODY), R_NOAUTH | R_SECRET,
	    "Lire une invitation" },
	{ "POST",   "/api/v1/invitations/accept", account_invitation_accept,
	    ACT_PUBLIC, p_redeem, JSONB(SMALL_BODY), R_NOAUTH | R_SECRET,
	    "Accepter une invitation et créer son compte" },

	/* Organisations and their members. */
	{ "GET",    "/api/v1/organisation-kinds", org_kinds, ACT_PUBLIC, NULL,
	    NOBODY, 0,
	    "Types d'organisation" },
	{ "GET",    "/api/v1/organisations", org_list, ACT_ADMIN, NULL, NOBODY, 0,
	    "Organisations membres" },
	{ "POST",   "/api/v1/organisations", org_create, ACT_ADMIN, p_org_new,
	    JSONB(262144), 0,
	    "Créer une organisation" },
	{ "GET",    "/api/v1/organisations/{id}", org_get, ACT_MEMBERS, p_id,
	    NOBODY, 0,
	    "Une organisation" },
	{ "PATCH",  "/api/v1/organisations/{id}", org_update, ACT_ADMIN,
	    p_org_update, JSONB(262144), 0,
	    "Modifier une organisation" },
	{ "GET",    "/api/v1/organisations/{id}/members", org_members,
	    ACT_MEMBERS, p_id, NOBODY, 0,
	    "Membres d'une organisation" },
	{ "GET",    "/api/v1/organisations/{id}/events", org_events, ACT_MEMBERS,
	    p_id, NOBODY, 0,
	    "Journal des comptes d'une organisation" },
	{ "POST",   "/api/v1/organisations/{id}/invitations", org_invite,
	    ACT_MEMBERS, p_invite, JSONB(262144), 0,
	    "Inviter une personne dans l'organisation" },
	{ "POST",   "/api/v1/organisations/{id}/service-accounts",
	    org_service_account, ACT_ADMIN, p_invite, JSONB(SMALL_BODY), 0,
	    "Créer un compte de service (système externe)" },
	{ "PATCH",  "/api/v1/users/{id}", org_user_update, ACT_MEMBERS,
	    p_user_update, JSONB(262144), 0,
	    "Modifier un membre (rôle, territoire, activité)" },
	{ "POST",   "/api/v1/users/{id}/tokens", org_user_token, ACT_ADMIN,
	    p_user_token, JSONB(SMALL_BODY), 0,
	    "Créer un jeton d'API pour un compte de service" },

	/* What the UI reads of the configuration; reference outlines for maps. */
	{ "GET",    "/api/v1/openapi.json", openapi_get, ACT_PUBLIC, NULL, NOBODY,
	    0, "Cette description OpenAPI 3.0 de l'API" },
	{ "GET",    "/api/v1/ui-config", csp_ui_config, ACT_PUBLIC, NULL, NOBODY,
	    R_STANDBY, "Réglages de l'interface (fond de carte)" },
	{ "GET",    "/api/v1/ref/zones", zone_list, ACT_PUBLIC, p_zones, NOBODY,
	    R_STANDBY,
	    "Contours de référence (région, départements, communes)" },

	/* The guichets: their forms, and submissions. */
	{ "GET",    "/api/v1/forms/{guichet}", sub_form, ACT_PUBLIC, p_guichet,
	    NOBODY, R_STANDBY,
	    "Formulaire d'un guichet : le catalogue de règles" },
	{ "GET",    "/api/v1/guichets/{guichet}/submissions", sub_list, ACT_READ,
	    p_sub_list, NOBODY, 0,
	    "Saisies visibles d'un guichet" },
	{ "POST",   "/api/v1/guichets/{guichet}/submissions", sub_create,
	    ACT_SUBMIT, p_sub_new, JSONB(GEOMETRY_BODY), R_IDEMPOTENT,
	    "Créer une saisie (brouillon ou soumise)" },
	{ "GET",    "/api/v1/guichets/{guichet}/submissions/{id}", sub_get,
	    ACT_READ, p_sub_id, NOBODY, 0,
	    "Une saisie" },
	{ "PATCH",  "/api/v1/guichets/{guichet}/submissions/{id}", sub_update,
	    ACT_SUBMIT, p_sub_edit, JSONB(GEOMETRY_BODY), 0,
	    "Modifier une saisie (If-Match)" },

	/* Moderation: the workflow, decisions, history, comments, queues. */
	{ "GET",    "/api/v1/workflow", wf_get_definition, ACT_PUBLIC, NULL,
	    NOBODY, 0,
	    "Le circuit de validation : états et transitions" },
	{ "POST",   "/api/v1/guichets/{guichet}/submissions/{id}/transitions",
	    mod_transition, ACT_READ, p_transition, JSONB(65536), R_IDEMPOTENT,
	    "Faire passer une saisie dans le circuit (soumettre, valider, rejeter…)" },
	{ "POST",   "/api/v1/guichets/{guichet}/submissions/{id}/assignment",
	    mod_assign, ACT_REVIEW, p_assign, JSONB(SMALL_BODY), 0,
	    "Attribuer une saisie à un instructeur" },
	{ "GET",    "/api/v1/guichets/{guichet}/submissions/{id}/versions",
	    mod_versions, ACT_READ, p_sub_id, NOBODY, 0,
	    "Versions d'une saisie" },
	{ "GET",    "/api/v1/guichets/{guichet}/submissions/{id}/diff",
	    mod_diff, ACT_READ, p_diff, NOBODY, 0,
	    "Différences entre deux versions" },
	{ "GET",    "/api/v1/guichets/{guichet}/submissions/{id}/events",
	    mod_events, ACT_READ, p_sub_id, NOBODY, 0,
	    "Historique d'une saisie" },
	{ "GET",    "/api/v1/guichets/{guichet}/submissions/{id}/comments",
	    mod_comments, ACT_READ, p_sub_id, NOBODY, 0,
	    "Remarques sur une saisie" },
	{ "POST",   "/api/v1/guichets/{guichet}/submissions/{id}/comments",
	    mod_comment_add, ACT_SUBMIT, p_comment, JSONB(SMALL_BODY),
	    R_IDEMPOTENT,
	    "Ajouter une remarque" },
	{ "POST",   "/api/v1/guichets/{guichet}/decisions", mod_bulk,
	    ACT_REVIEW, p_bulk, JSONB(SMALL_BODY), 0,
	    "Décider de plusieurs saisies à la fois" },
	{ "GET",    "/api/v1/queue", mod_queue, ACT_REVIEW, p_queue, NOBODY, 0,
	    "File d'instruction de l'autorité" },
	{ "GET",    "/api/v1/dashboard", mod_dashboard, ACT_READ, NULL, NOBODY, 0,
	    "Tableau de bord (volumes, délais)" },

	/* Exports to IGN and to the national address base. */
	{ "POST",   "/api/v1/exports", export_create, ACT_EXPORT, p_export_new,
	    JSONB(65536), R_IDEMPOTENT,
	    "Demander un lot d'export (BD TOPO, BAL…)" },
	{ "GET",    "/api/v1/exports", export_list, ACT_EXPORT, p_export_list,
	    NOBODY, 0,
	    "Lots d'export" },
	{ "POST",   "/api/v1/exports/preview", export_preview, ACT_EXPORT,
	    p_export_new, JSONB(65536), 0,
	    "Aperçu d'un lot d'export (comptes)" },
	{ "GET",    "/api/v1/exports/{id}", export_get, ACT_EXPORT, p_id,
	    NOBODY, 0,
	    "Un lot d'export et ses fichiers" },
	{ "GET",    "/api/v1/exports/{id}/files/{name}", export_file, ACT_EXPORT,
	    p_export_file, NOBODY, 0,
	    "Télécharger un fichier d'un lot" },

	/* Notifications. */
	{ "POST",   "/api/v1/imports", import_create, ACT_SUBMIT, p_import_new,
	    IMPORT_FILE, "application/octet-stream", R_UPLOAD | R_IDEMPOTENT,
	    "Déposer un fichier à importer (CSV, GeoJSON, GeoPackage)" },
	{ "GET",    "/api/v1/imports", import_list, ACT_READ, p_import_list,
	    NOBODY, 0, "Imports de son organisation" },
	{ "GET",    "/api/v1/imports/{id}", import_get, ACT_READ, p_id, NOBODY,
	    0, "Un import : fichier, correspondance, avancement, bilan" },
	{ "PATCH",  "/api/v1/imports/{id}", import_update, ACT_SUBMIT,
	    p_import_update, JSONB(SMALL_BODY * 4), 0,
	    "Régler la correspondance des colonnes et des valeurs" },
	{ "POST",   "/api/v1/imports/{id}/check", import_check, ACT_SUBMIT, p_id,
	    NOBODY, 0, "Lancer la vérification de chaque ligne (essai à blanc)" },
	{ "POST",   "/api/v1/imports/{id}/commit", import_commit, ACT_SUBMIT,
	    p_id, NOBODY, 0, "Enregistrer les lignes sans erreur (un lot)" },
	{ "POST",   "/api/v1/imports/{id}/cancel", import_cancel, ACT_SUBMIT,
	    p_id, NOBODY, 0, "Annuler l'import, tant qu'aucune saisie n'est "
	    "instruite" },
	{ "GET",    "/api/v1/imports/{id}/rows", import_rows, ACT_READ,
	    p_import_rows, NOBODY, 0, "Le rapport ligne par ligne" },
	{ "GET",    "/api/v1/imports/{id}/report.csv", import_report_csv,
	    ACT_READ, p_id, NOBODY, 0, "Le rapport en CSV" },
	{ "GET",    "/api/v1/notifications", notify_list, ACT_READ,
	    p_notifications, NOBODY, 0,
	    "Ses notifications" },
	{ "POST",   "/api/v1/notifications/read", notify_read, ACT_READ,
	    p_notif_read, JSONB(SMALL_BODY), 0,
	    "Marquer des notifications comme lues" },
	{ "GET",    "/api/v1/account/notifications", notify_prefs, ACT_SELF,
	    NULL, NOBODY, 0,
	    "Sa préférence de notification par courriel" },
	{ "PATCH",  "/api/v1/account/notifications", notify_prefs, ACT_ACCOUNT,
	    p_notify_prefs, JSONB(SMALL_BODY), 0,
	    "Choisir sa préférence de notification" },
};

const size_t route_count = sizeof(route_table) / sizeof(route_table[0]);
