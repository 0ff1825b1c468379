/*
 * ogc.c — OGC API Features over the validated objects, and their DCAT-AP
 * description.
 *
 * A collection is a guichet: its features are the objects whose current
 * version is validated (state 'validated', operation 'create': amendments
 * are applied to their target when validated), their properties the fields
 * of the guichet's form in form order (null when not filled), plus the
 * commune, the département, the validation date and the producing
 * organisation. The feature id is the object's public uid, stable across
 * versions.
 *
 * Paging is by offset, with the total (numberMatched) counted in the same
 * statement as the page, so that a page and its count see one snapshot.
 * Answers carry an ETag (a hash of the body) and a Last-Modified (the last
 * change to any object of the guichet), and are answered 304 on a match;
 * they may be read from any origin (the routes' R_CORS flag).
 * Last-Modified is that change's second rounded down (floor): rounded to
 * the nearest, it could be later than the answer's Date, and a change
 * made in the next half second would keep it, and get 304 on
 * If-Modified-Since.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "asset.h"
#include "conf.h"
#include "db.h"
#include "form.h"
#include "html.h"
#include "http.h"
#include "ogc.h"
#include "ogcparam.h"
#include "territory.h"
#include "util.h"

#define CRS84		"http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#define EPSG2154	"http://www.opengis.net/def/crs/EPSG/0/2154"
/* The area of use of EPSG:2154 in its own coordinates (rounded outwards). */
#define L93_MINX	-378306.0
#define L93_MINY	6005281.0
#define L93_MAXX	1320650.0
#define L93_MAXY	7235613.0
#define LIMIT_DEFAULT	10
#define LIMIT_MAX	10000

#define MT_JSON		"application/json"
#define MT_GEOJSON	"application/geo+json"
#define MT_HTML		"text/html"
#define MT_JSONLD	"application/ld+json"
#define MT_OAS		"application/vnd.oai.openapi+json;version=3.0"

/* Collection ids are the public names; "adresses" publishes "adresse". */
const char *const ogc_collection_ids[] = { "erp", "equipco", "adresses", NULL };
static const char *const collection_guichets[] = { "erp", "equipco", "adresse" };

static const char *const conformance[] = {
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
	"http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
	NULL
};

/* The current version of a published object. */
#define PUBLISHED	"s.guichet = $1 AND s.state = 'validated' AND " \
	"s.operation = 'create'"

/*
 * The Last-Modified of a guichet's answers: the second of the last change
 * to any of its objects, once that second is over by a margin. A writer
 * stamps updated_at when its transaction starts and commits a moment
 * later; a date given out sooner could be followed by a change stamped
 * within it, and If-Modified-Since would then hide that change. Until
 * then, answers go without Last-Modified (the ETag still validates them).
 */
#define LASTMOD	"(SELECT CASE WHEN max(updated_at) < clock_timestamp() - " \
	"interval '2 seconds' THEN floor(extract(epoch FROM max(updated_at)))" \
	"::bigint END FROM submissions WHERE guichet = $1)"

/* --- answers ---------------------------------------------------------------- */

enum fmt { FMT_JSON, FMT_HTML, FMT_JSONLD };

/*
 * The f parameter decides; without it, a browser asking for HTML before
 * any JSON gets HTML (OGC's content negotiation by Accept).
 */
static enum fmt
fmt_of(const struct req *r)
{
	const struct param_val	*f = req_param(r, "f");
	const char		*acc, *h, *j;

	if (f != NULL && f->set)
		return strcmp(f->s, "html") == 0 ? FMT_HTML :
		    strcmp(f->s, "jsonld") == 0 ? FMT_JSONLD : FMT_JSON;
	if ((acc = req_header(r, "Accept")) == NULL ||
	    (h = strstr(acc, "text/html")) == NULL)
		return FMT_JSON;
	j = strstr(acc, "json");
	return j == NULL || j > h ? FMT_HTML : FMT_JSON;
}

static char *
http_date(time_t t, char *out, size_t outlen)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	return out;
}

/*
 * Sends text s (taken over) of media type mt. A request whose If-None-Match
 * holds the body's hash, or (without If-None-Match) whose If-Modified-Since
 * is not before lastmod, gets 304.
 */
static void
send_text(struct req *r, char *s, const char *mt, long long lastmod,
    const char *crs)
{
	struct MHD_Response	*resp;
	struct tm		 tm;
	unsigned char		 h[16];
	const char		*inm, *ims;
	char			 etag[40], date[64], ctype[96];
	size_t			 n = strlen(s);
	int			 fresh = 0;

	crypto_generichash(h, sizeof(h), (unsigned char *)s, n, NULL, 0);
	etag[0] = '"';
	hex_encode(etag + 1, h, sizeof(h));
	strcat(etag, "\"");
	inm = req_header(r, "If-None-Match");
	ims = req_header(r, "If-Modified-Since");
	if (inm != NULL)
		fresh = http_etag_matches(inm, etag);
	else if (ims != NULL && lastmod > 0) {
		memset(&tm, 0, sizeof(tm));
		if (strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL)
			fresh = timegm(&tm) >= (time_t)lastmod;
	}
	if (fresh) {
		free(s);
		resp = MHD_create_response_from_buffer(0, "",
		    MHD_RESPMEM_PERSISTENT);
		r->bytes = 0;
	} else {
		resp = MHD_create_response_from_buffer_with_free_callback(n, s,
		    free);
		r->bytes = n;
		snprintf(ctype, sizeof(ctype), "%s%s", mt,
		    strcmp(mt, MT_OAS) == 0 ? "" : "; charset=utf-8");
		MHD_add_response_header(resp, "Content-Type", ctype);
	}
	MHD_add_response_header(resp, "ETag", etag);
	if (lastmod > 0)
		MHD_add_response_header(resp, "Last-Modified",
		    http_date((time_t)lastmod, date, sizeof(date)));
	if (crs != NULL) {
		snprintf(ctype, sizeof(ctype), "<%s>", crs);
		MHD_add_response_header(resp, "Content-Crs", ctype);
	}
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "Vary", "Accept");
	http_common_headers(resp, 0);
	http_reply(r, fresh ? 304 : 200, resp);
}

static void
send_json(struct req *r, json_t *body, const char *mt, long long lastmod,
    const char *crs)
{
	char	*s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));

	json_decref(body);
	send_text(r, s != NULL ? s : xstrdup("{}"), mt, lastmod, crs);
}

/* --- links ------------------------------------------------------------------ */

static json_t *
olink(const char *rel, const char *type, const char *title, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static json_t *
abs_link(const char *rel, const char *type, const char *title,
    const char *href)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "href", href, "rel", rel,
	    "type", type, "title", title);
}

/* A link to conf.public_url + the path fmt makes. */
static json_t *
olink(const char *rel, const char *type, const char *title, const char *fmt,
    ...)
{
	va_list		ap;
	char		path[1024], href[1280];

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	snprintf(href, sizeof(href), "%s%s", conf.public_url, path);
	return abs_link(rel, type, title, href);
}

/* Appends s percent-encoded for a query string (unreserved bytes kept). */
static void
query_encode(struct buf *b, const char *s)
{
	static const char	hex[] = "0123456789ABCDEF";
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
			buf_append(b, p, 1);
		else
			buf_appendf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
}

/*
 * The items URL of this request with another offset and format: every
 * query pair the client sent is kept (all were checked), offset and f are
 * replaced.
 */
static json_t *
page_link(const struct req *r, const char *collection, const char *rel,
    const char *type, const char *title, long long offset, const char *f)
{
	struct buf	b = { 0 };
	size_t		i;
	json_t		*l;

	buf_appendf(&b, "%s/ogc/collections/%s/items?", conf.public_url,
	    collection);
	for (i = 0; i < r->url.nquery; i++) {
		if (strcmp(r->url.query[i].name, "offset") == 0 ||
		    strcmp(r->url.query[i].name, "f") == 0)
			continue;
		query_encode(&b, r->url.query[i].name);
		buf_puts(&b, "=");
		query_encode(&b, r->url.query[i].value);
		buf_puts(&b, "&");
	}
	buf_appendf(&b, "offset=%lld", offset);
	if (f != NULL)
		buf_appendf(&b, "&f=%s", f);
	l = abs_link(rel, type, title, b.data);
	buf_free(&b);
	return l;
}

/* --- HTML ------------------------------------------------------------------- */

static void
html_begin(struct buf *b, const char *title)
{
	buf_puts(b, "<!doctype html>\n<html lang=\"fr\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\n<title>");
	html_escape(b, title);
	buf_puts(b, " — Données ouvertes OPenIG</title>\n<link rel=\"stylesheet\" "
	    "href=\"/css/guichet.css\">\n</head>\n<body>\n<header>\n<p "
	    "class=\"marque\"><a href=\"/\">Guichet</a> <span>Données ouvertes"
	    "</span></p>\n</header>\n<main>\n<h1>");
	html_escape(b, title);
	buf_puts(b, "</h1>\n");
}

static void
html_links(struct buf *b, json_t *links)
{
	json_t	*l;
	size_t	 i;

	if (json_array_size(links) == 0)
		return;
	buf_puts(b, "<ul class=\"liens\">\n");
	json_array_foreach(links, i, l) {
		buf_puts(b, "<li><a href=\"");
		html_escape(b, json_string_value(json_object_get(l, "href")));
		buf_puts(b, "\">");
		html_escape(b, json_string_value(json_object_get(l, "title")));
		buf_puts(b, "</a> <small>(");
		html_escape(b, json_string_value(json_object_get(l, "type")));
		buf_puts(b, ")</small></li>\n");
	}
	buf_puts(b, "</ul>\n");
}

/* A property value as text: strings as they are, others as JSON. */
static void
html_value(struct buf *b, json_t *v)
{
	char	*s;

	if (json_is_string(v)) {
		html_escape(b, json_string_value(v));
		return;
	}
	if (v == NULL || json_is_null(v))
		return;
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	html_escape(b, s ? s : "");
	free(s);
}

/*
 * The HTML view of any of our JSON answers: its title and description,
 * the collections or the features it lists, its links. Every text goes
 * through html_escape.
 */
static void
send_html(struct req *r, json_t *doc, const char *title, const char *name_field,
    long long lastmod)
{
	struct buf	 b = { 0 };
	json_t		*v, *p, *props;
	const char	*k, *desc;
	size_t		 i;

	html_begin(&b, title);
	if ((desc = json_string_value(json_object_get(doc, "description")))) {
		buf_puts(&b, "<p>");
		html_escape(&b, desc);
		buf_puts(&b, "</p>\n");
	}
	json_array_foreach(json_object_get(doc, "conformsTo"), i, v) {
		buf_puts(&b, i == 0 ? "<ul>\n<li>" : "<li>");
		html_escape(&b, json_string_value(v));
		buf_puts(&b, "</li>\n");
		if (i + 1 == json_array_size(json_object_get(doc, "conformsTo")))
			buf_puts(&b, "</ul>\n");
	}
	json_array_foreach(json_object_get(doc, "collections"), i, v) {
		buf_puts(&b, "<h2>");
		html_escape(&b, json_string_value(json_object_get(v, "title")));
		buf_puts(&b, "</h2>\n<p>");
		html_escape(&b, json_string_value(json_object_get(v,
		    "description")));
		buf_puts(&b, "</p>\n");
		html_links(&b, json_object_get(v, "links"));
	}
	if ((v = json_object_get(doc, "numberMatched")) != NULL)
		buf_appendf(&b, "<p>%lld objets en tout, %lld sur cette page.</p>\n",
		    (long long)json_integer_value(v), (long long)
		    json_integer_value(json_object_get(doc, "numberReturned")));
	if (json_object_get(doc, "features") != NULL) {
		buf_puts(&b, "<table>\n<thead><tr><th>Identifiant</th><th>Nom"
		    "</th><th>Commune</th><th>Validé le</th></tr></thead>\n"
		    "<tbody>\n");
		json_array_foreach(json_object_get(doc, "features"), i, v) {
			props = json_object_get(v, "properties");
			buf_puts(&b, "<tr><td><a href=\"");
			html_escape(&b, json_string_value(json_object_get(
			    json_array_get(json_object_get(v, "links"), 0),
			    "href")));
			buf_puts(&b, "?f=html\">");
			html_escape(&b, json_string_value(json_object_get(v, "id")));
			buf_puts(&b, "</a></td><td>");
			html_value(&b, json_object_get(props, name_field));
			buf_puts(&b, "</td><td>");
			html_value(&b, json_object_get(props, "commune"));
			buf_puts(&b, "</td><td>");
			html_value(&b, json_object_get(props, "valide_le"));
			buf_puts(&b, "</td></tr>\n");
		}
		buf_puts(&b, "</tbody>\n</table>\n");
	}
	if (json_is_object(props = json_object_get(doc, "properties")) &&
	    json_object_get(doc, "features") == NULL) {
		buf_puts(&b, "<table>\n<tbody>\n");
		json_object_foreach(props, k, p) {
			buf_puts(&b, "<tr><th>");
			html_escape(&b, k);
			buf_puts(&b, "</th><td>");
			html_value(&b, p);
			buf_puts(&b, "</td></tr>\n");
		}
		buf_puts(&b, "</tbody>\n</table>\n");
	}
	html_links(&b, json_object_get(doc, "links"));
	buf_puts(&b, "</main>\n</body>\n</html>\n");
	json_decref(doc);
	send_text(r, b.data, MT_HTML, lastmod, NULL);
}

/* --- landing, conformance ----------------------------------------------------- */

void
ogc_landing(struct req *r)
{
	json_t	*doc, *links;

	links = json_pack("[o, o, o, o, o, o]",
	    olink("self", MT_JSON, "Cette page", "/ogc?f=json"),
	    olink("alternate", MT_HTML, "Cette page en HTML", "/ogc?f=html"),
	    olink("service-desc", MT_OAS, "Définition de l'API (OpenAPI 3.0)",
	    "/ogc/api"),
	    olink("conformance", MT_JSON, "Classes de conformité",
	    "/ogc/conformance"),
	    olink("data", MT_JSON, "Collections", "/ogc/collections"),
	    olink("http://www.w3.org/ns/dcat#catalog", MT_JSONLD,
	    "Catalogue DCAT-AP", "/ogc/collections?f=jsonld"));
	doc = json_pack("{s:s, s:s, s:o}", "title",
	    "Données ouvertes des guichets OPenIG",
	    "description", "Les établissements recevant du public, les "
	    "équipements collectifs et les adresses validés par les autorités "
	    "compétentes d'Occitanie, en OGC API Features.", "links", links);
	if (fmt_of(r) == FMT_HTML)
		send_html(r, doc, "Données ouvertes des guichets OPenIG", NULL, 0);
	else
		send_json(r, doc, MT_JSON, 0, NULL);
}

void
ogc_conformance(struct req *r)
{
	json_t	*list = json_array();
	size_t	 i;

	for (i = 0; conformance[i] != NULL; i++)
		json_array_append_new(list, json_string(conformance[i]));
	if (fmt_of(r) == FMT_HTML)
		send_html(r, json_pack("{s:o}", "conformsTo", list),
		    "Classes de conformité", NULL, 0);
	else
		send_json(r, json_pack("{s:o}", "conformsTo", list), MT_JSON, 0,
		    NULL);
}

/* --- collections ---------------------------------------------------------------- */

/* What a collection's description needs from the database. */
struct coll_meta {
	long long	count;
	long long	lastmod;	/* epoch seconds, 0: never */
	char		first[32];	/* first validation, RFC 3339, or "" */
	char		modified[32];	/* last change, RFC 3339, or "" */
	double		bbox[4];	/* the region's extent */
};

/*
 * Reads the metadata of a guichet's collection. Returns 0, or -1 after
 * answering the database error.
 */
static int
coll_meta_read(struct req *r, const char *guichet, struct coll_meta *m)
{
	struct db_err	 e;
	PGresult	*res;
	int		 i;

	res = db_query(&e, DB_IDEMPOTENT,
	    "WITH z AS (SELECT ST_Extent(geom) AS e FROM ref_zones WHERE kind "
	    "= 'region') SELECT (SELECT count(*) FROM submissions s WHERE "
	    PUBLISHED "), (SELECT to_char(min(decided_at) AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM submissions s WHERE "
	    PUBLISHED "), " LASTMOD ", (SELECT to_char(max("
	    "updated_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
	    "FROM submissions WHERE guichet = $1), coalesce(ST_XMin(z.e), -180), "
	    "coalesce(ST_YMin(z.e), -90), coalesce(ST_XMax(z.e), 180), "
	    "coalesce(ST_YMax(z.e), 90) FROM z", 1,
	    (const char *const[]){ guichet });
	if (res == NULL) {
		db_reply_error(r, &e);
		return -1;
	}
	m->count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(m->first, sizeof(m->first), "%s", PQgetvalue(res, 0, 1));
	m->lastmod = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	snprintf(m->modified, sizeof(m->modified), "%s", PQgetvalue(res, 0, 3));
	for (i = 0; i < 4; i++)
		m->bbox[i] = strtod(PQgetvalue(res, 0, 4 + i), NULL);
	PQclear(res);
	return 0;
}

static const char *
form_text(const struct form *f, const char *key)
{
	return json_string_value(json_object_get(form_definition(f), key));
}

/* The OGC description of collection ci. */
static json_t *
coll_json(size_t ci, const struct coll_meta *m)
{
	const char		*id = ogc_collection_ids[ci];
	const struct form	*f = form_find(collection_guichets[ci]);

	return json_pack("{s:s, s:s, s:s, s:s, s:{s:{s:[[f,f,f,f]], s:s}, "
	    "s:{s:[[s?,n]], s:s}}, s:[s,s], s:s, s:[o,o,o,o,o,o,o,o]}",
	    "id", id, "title", form_text(f, "title"), "description",
	    form_text(f, "description"), "itemType", "feature",
	    "extent", "spatial", "bbox", m->bbox[0], m->bbox[1], m->bbox[2],
	    m->bbox[3], "crs", CRS84, "temporal", "interval",
	    m->first[0] ? m->first : NULL, "trs",
	    "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
	    "crs", CRS84, EPSG2154, "storageCrs", CRS84, "links",
	    olink("self", MT_JSON, "Cette collection", "/ogc/collections/%s", id),
	    olink("alternate", MT_HTML, "Cette collection en HTML",
	    "/ogc/collections/%s?f=html", id),
	    olink("items", MT_GEOJSON, "Les objets (GeoJSON)",
	    "/ogc/collections/%s/items", id),
	    olink("items", MT_HTML, "Les objets (HTML)",
	    "/ogc/collections/%s/items?f=html", id),
	    olink("http://www.opengis.net/def/rel/ogc/1.0/queryables",
	    "application/schema+json", "Les filtres possibles",
	    "/ogc/collections/%s/queryables", id),
	    olink("describedby", MT_JSONLD, "Description DCAT-AP",
	    "/ogc/collections/%s?f=jsonld", id),
	    abs_link("license", MT_HTML, "Licence Ouverte 2.0 (Etalab)",
	    conf.open_data_license),
	    olink("related", MT_HTML, "Carte à intégrer (widget)",
	    "/widget?theme=%s", id));
}

/* --- DCAT-AP ---------------------------------------------------------------- */

static json_t *
dcat_context(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
	    "dcat", "http://www.w3.org/ns/dcat#",
	    "dct", "http://purl.org/dc/terms/",
	    "foaf", "http://xmlns.com/foaf/0.1/",
	    "vcard", "http://www.w3.org/2006/vcard/ns#",
	    "xsd", "http://www.w3.org/2001/XMLSchema#",
	    "gsp", "http://www.opengis.net/ont/geosparql#");
}

static json_t *
lang_fr(const char *s)
{
	return json_pack("{s:s, s:s}", "@value", s, "@language", "fr");
}

static json_t *
ref(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *
ref(const char *fmt, ...)
{
	va_list	ap;
	char	iri[1280];

	va_start(ap, fmt);
	vsnprintf(iri, sizeof(iri), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "@id", iri);
}

static json_t *
publisher(void)
{
	return json_pack("{s:s, s:o}", "@type", "foaf:Agent", "foaf:name",
	    lang_fr(conf.open_data_publisher));
}

/*
 * A collection as a DCAT-AP dataset: what CKAN's DCAT harvester
 * (ckanext-dcat) reads, with EU vocabularies for theme, language,
 * frequency and file type, and one distribution per format of the OGC
 * API, each naming the service it comes from. A media type is an IRI of
 * IANA's register (DCAT-AP: a dct:MediaType, which a text is not).
 */
#define IANA_MT	"http://www.iana.org/assignments/media-types/"

static json_t *
dcat_dataset(size_t ci, const struct coll_meta *m)
{
	const char		*id = ogc_collection_ids[ci];
	const struct form	*f = form_find(collection_guichets[ci]);
	char			 wkt[256], iri[1024];
	json_t			*d, *service;

	snprintf(wkt, sizeof(wkt), "POLYGON((%.6f %.6f,%.6f %.6f,%.6f %.6f,"
	    "%.6f %.6f,%.6f %.6f))", m->bbox[0], m->bbox[1], m->bbox[2],
	    m->bbox[1], m->bbox[2], m->bbox[3], m->bbox[0], m->bbox[3],
	    m->bbox[0], m->bbox[1]);
	service = json_pack("{s:s, s:o, s:o, s:o}", "@type", "dcat:DataService",
	    "dct:title", lang_fr("OGC API Features des guichets OPenIG"),
	    "dcat:endpointURL", ref("%s/ogc", conf.public_url),
	    "dct:conformsTo",
	    ref("http://www.opengis.net/spec/ogcapi-features-1/1.0"));
	snprintf(iri, sizeof(iri), "%s/ogc/collections/%s", conf.public_url, id);
	d = json_pack("{s:s, s:s, s:s, s:o, s:o, s:[s,s,s], s:o, s:o, s:o, "
	    "s:o, s:o, s:o, s:{s:s, s:{s:s, s:s}}, s:o, s:o}", "@id", iri,
	    "@type", "dcat:Dataset", "dct:identifier", id,
	    "dct:title", lang_fr(form_text(f, "title")),
	    "dct:description", lang_fr(form_text(f, "description")),
	    "dcat:keyword", "Occitanie", "OPenIG", strcmp(id, "adresses") == 0 ?
	    "adresse" : strcmp(id, "erp") == 0 ? "ERP" : "équipement",
	    "dcat:theme", ref("http://publications.europa.eu/resource/authority/"
	    "data-theme/%s", strcmp(id, "adresses") == 0 ? "REGI" : "GOVE"),
	    "dct:language", ref("http://publications.europa.eu/resource/"
	    "authority/language/FRA"),
	    "dct:accrualPeriodicity", ref("http://publications.europa.eu/"
	    "resource/authority/frequency/CONT"),
	    "dct:publisher", publisher(),
	    "dcat:contactPoint", json_pack("{s:s, s:s, s:o}", "@type",
	    "vcard:Organization", "vcard:fn", conf.open_data_publisher,
	    "vcard:hasEmail", ref("mailto:%s", conf.open_data_contact)),
	    "dcat:landingPage", ref("%s/ogc/collections/%s?f=html",
	    conf.public_url, id),
	    "dct:spatial", "@type", "dct:Location", "dcat:bbox", "@value", wkt,
	    "@type", "gsp:wktLiteral",
	    "dct:license", ref("%s", conf.open_data_license),
	    "dcat:distribution", json_pack("[{s:s, s:o, s:o, s:o, s:o, s:o, "
	    "s:O}, {s:s, s:o, s:o, s:o, s:o, s:o, s:O}]",
	    "@type", "dcat:Distribution",
	    "dct:title", lang_fr("GeoJSON (OGC API Features)"),
	    "dcat:accessURL", ref("%s/ogc/collections/%s/items?f=json",
	    conf.public_url, id),
	    "dct:format", ref("http://publications.europa.eu/resource/authority/"
	    "file-type/GEOJSON"),
	    "dcat:mediaType", ref(IANA_MT "%s", MT_GEOJSON),
	    "dct:license", ref("%s", conf.open_data_license),
	    "dcat:accessService", service,
	    "@type", "dcat:Distribution",
	    "dct:title", lang_fr("Page HTML (OGC API Features)"),
	    "dcat:accessURL", ref("%s/ogc/collections/%s/items?f=html",
	    conf.public_url, id),
	    "dct:format", ref("http://publications.europa.eu/resource/authority/"
	    "file-type/HTML"), "dcat:mediaType", ref(IANA_MT "%s", MT_HTML),
	    "dct:license", ref("%s", conf.open_data_license),
	    "dcat:accessService", service));
	json_decref(service);
	if (m->first[0] != '\0') {
		json_object_set_new(d, "dct:issued", json_pack("{s:s, s:s}",
		    "@value", m->first, "@type", "xsd:dateTime"));
		json_object_set_new(d, "dct:temporal", json_pack("{s:s, s:{s:s, "
		    "s:s}}", "@type", "dct:PeriodOfTime", "dcat:startDate",
		    "@value", m->first, "@type", "xsd:dateTime"));
	}
	if (m->modified[0] != '\0')
		json_object_set_new(d, "dct:modified", json_pack("{s:s, s:s}",
		    "@value", m->modified, "@type", "xsd:dateTime"));
	return d;
}

/* --- collections ------------------------------------------------------------ */

void
ogc_collections(struct req *r)
{
	struct coll_meta	 m;
	json_t			*list = json_array(), *datasets = json_array();
	long long		 lastmod = 0;
	enum fmt		 fmt = fmt_of(r);
	size_t			 i;

	for (i = 0; ogc_collection_ids[i] != NULL; i++) {
		if (coll_meta_read(r, collection_guichets[i], &m)) {
			json_decref(list);
			json_decref(datasets);
			return;
		}
		if (m.lastmod > lastmod)
			lastmod = m.lastmod;
		json_array_append_new(list, coll_json(i, &m));
		json_array_append_new(datasets, dcat_dataset(i, &m));
	}
	if (fmt == FMT_JSONLD) {
		json_decref(list);
		char	iri[1024];

		snprintf(iri, sizeof(iri), "%s/ogc/collections", conf.public_url);
		send_json(r, json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:o, "
		    "s:o, s:o}", "@context", dcat_context(), "@id", iri,
		    "@type", "dcat:Catalog",
		    "dct:title", lang_fr("Données ouvertes des guichets OPenIG"),
		    "dct:description", lang_fr("Les objets validés des guichets "
		    "régionaux de saisie collaborative d'Occitanie."),
		    "dct:publisher", publisher(),
		    "foaf:homepage", ref("%s/", conf.public_url),
		    "dct:language", ref("http://publications.europa.eu/resource/"
		    "authority/language/FRA"),
		    "dcat:dataset", datasets), MT_JSONLD, lastmod, NULL);
		return;
	}
	json_decref(datasets);
	list = json_pack("{s:o, s:[o,o]}", "collections", list, "links",
	    olink("self", MT_JSON, "Les collections", "/ogc/collections?f=json"),
	    olink("alternate", MT_HTML, "Les collections en HTML",
	    "/ogc/collections?f=html"));
	if (fmt == FMT_HTML)
		send_html(r, list, "Collections", NULL, lastmod);
	else
		send_json(r, list, MT_JSON, lastmod, NULL);
}

/* The collection of the path, or -1 after answering 404. */
static int
collection_or_404(struct req *r)
{
	const char	*id = req_param(r, "collectionId")->s;
	size_t		 i;

	for (i = 0; ogc_collection_ids[i] != NULL; i++)
		if (strcmp(id, ogc_collection_ids[i]) == 0)
			return (int)i;
	http_reply_error(r, 404, "collection_unknown", "Cette collection "
	    "n'existe pas (erp, equipco ou adresses).", "collectionId");
	return -1;
}

void
ogc_collection(struct req *r)
{
	struct coll_meta	 m;
	enum fmt		 fmt = fmt_of(r);
	json_t			*doc;
	int			 ci;

	if ((ci = collection_or_404(r)) < 0 ||
	    coll_meta_read(r, collection_guichets[ci], &m))
		return;
	if (fmt == FMT_JSONLD) {
		doc = dcat_dataset((size_t)ci, &m);
		json_object_set_new(doc, "@context", dcat_context());
		send_json(r, doc, MT_JSONLD, m.lastmod, NULL);
		return;
	}
	doc = coll_json((size_t)ci, &m);
	if (fmt == FMT_HTML)
		send_html(r, doc, json_string_value(json_object_get(doc, "title")),
		    NULL, m.lastmod);
	else
		send_json(r, doc, MT_JSON, m.lastmod, NULL);
}

/* The JSON Schema type of a form field's values, from its definition. */
static json_t *
field_schema(json_t *def)
{
	const char	*type = json_string_value(json_object_get(def, "type"));
	json_t		*s, *v, *values = json_array();
	size_t		 i;

	s = json_pack("{s:s, s:s}", "title", json_string_value(
	    json_object_get(def, "label")), "type", strcmp(type, "integer") == 0 ?
	    "integer" : strcmp(type, "boolean") == 0 ? "boolean" : "string");
	json_array_foreach(json_object_get(def, "values"), i, v)
		json_array_append(values, json_object_get(v, "value"));
	if (json_array_size(values) > 0)
		json_object_set(s, "enum", values);
	json_decref(values);
	return s;
}

/*
 * The queryables of a collection (Part 3): the fields of its form marked
 * queryable, plus commune and département, as a JSON Schema.
 */
static json_t *
queryables_json(size_t ci)
{
	const struct form	*f = form_find(collection_guichets[ci]);
	json_t			*props, *def;
	size_t			 i;

	props = json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s}}",
	    "commune", "title", "Code INSEE de la commune", "type", "string",
	    "pattern", "^[0-9][0-9AB][0-9]{3}$",
	    "departement", "title", "Code du département", "type", "string");
	json_array_foreach(json_object_get(form_definition(f), "fields"), i,
	    def)
		if (json_is_true(json_object_get(def, "queryable")))
			json_object_set_new(props, json_string_value(
			    json_object_get(def, "name")), field_schema(def));
	return props;
}

void
ogc_queryables(struct req *r)
{
	char	id[256];
	int	ci;

	if ((ci = collection_or_404(r)) < 0)
		return;
	snprintf(id, sizeof(id), "%s/ogc/collections/%s/queryables",
	    conf.public_url, ogc_collection_ids[ci]);
	send_json(r, json_pack("{s:s, s:s, s:s, s:s, s:o, s:b}",
	    "$schema", "https://json-schema.org/draft/2020-12/schema",
	    "$id", id, "type", "object", "title",
	    form_text(form_find(collection_guichets[ci]), "title"),
	    "properties", queryables_json((size_t)ci),
	    "additionalProperties", 0), "application/schema+json", 0, NULL);
}

/* --- features ----------------------------------------------------------------- */

/* A query on a collection's features, read from the request. */
struct items_q {
	int		 ci;
	int		 out2154;	/* coordinates in Lambert-93 */
	const char	*v[16];		/* SQL parameters */
	int		 nv;
	struct buf	 where;		/* after PUBLISHED */
	char		 num[6][32];	/* bbox numbers, limit, offset */
	char		*filter;	/* jsonb of the attribute filters */
	long long	 limit, offset;
	struct ogcp_interval dt;
};

static const char *
addv(struct items_q *q, const char *value)
{
	static const char *const names[] = { "$1", "$2", "$3", "$4", "$5",
	    "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
	    "$16" };

	q->v[q->nv] = value;
	return names[q->nv++];
}

static int
is_declared(const struct req *r, const char *name)
{
	const struct param_spec	*s;

	for (s = r->route->params; s && s->name; s++)
		if (s->in == IN_QUERY && strcmp(s->name, name) == 0)
			return 1;
	return 0;
}

static int
bad_param(struct req *r, const char *code, const char *msg, const char *field)
{
	http_reply_error(r, 400, code, msg, field);
	return -1;
}

/*
 * The condition of a bbox. A Lambert-93 box goes to lon/lat cut to where
 * EPSG:2154 is defined (its area of use: beyond it, PROJ makes nonsense of
 * the corners, and a box holding all of France held nothing), with a
 * vertex every kilometre along its edges (straight in Lambert-93, they are
 * curved in lon/lat: joining the corners alone misses ~1.6 km at the
 * middle of a 300 km edge).
 */
static void
bbox_where(struct items_q *q, struct ogcp_bbox bb, int l93)
{
	const char	*env[4];
	int		 i;

	if (l93 && (bb.maxx < L93_MINX || bb.minx > L93_MAXX ||
	    bb.maxy < L93_MINY || bb.miny > L93_MAXY)) {
		buf_puts(&q->where, " AND false");	/* none of ours */
		return;
	}
	if (l93) {
		bb.minx = bb.minx < L93_MINX ? L93_MINX : bb.minx;
		bb.miny = bb.miny < L93_MINY ? L93_MINY : bb.miny;
		bb.maxx = bb.maxx > L93_MAXX ? L93_MAXX : bb.maxx;
		bb.maxy = bb.maxy > L93_MAXY ? L93_MAXY : bb.maxy;
	}
	snprintf(q->num[0], 32, "%.17g", bb.minx);
	snprintf(q->num[1], 32, "%.17g", bb.miny);
	snprintf(q->num[2], 32, "%.17g", bb.maxx);
	snprintf(q->num[3], 32, "%.17g", bb.maxy);
	/* ST_Intersects brings its own index condition (PostGIS 3). The
	 * parameters are numbered in order: one addv per statement. */
	for (i = 0; i < 4; i++)
		env[i] = addv(q, q->num[i]);
	buf_appendf(&q->where, " AND ST_Intersects(s.geom, %s%s, %s, %s, "
	    "%s, %s)%s))", l93 ? "ST_Transform(ST_Segmentize("
	    "ST_MakeEnvelope(" : "(ST_MakeEnvelope(", env[0], env[1], env[2],
	    env[3], l93 ? "2154" : "4326", l93 ? ", 1000), 4326" : "");
}

/*
 * Reads the filters of an items request into q. Every query parameter must
 * be one the route declares or a queryable of the collection's form (OGC
 * wants 400 for the others, so that a misspelt filter is not silently
 * ignored). Returns 0, or -1 after answering 400.
 */
static int
items_read(struct req *r, struct items_q *q)
{
	const struct form	*f = form_find(collection_guichets[q->ci]);
	const struct param_val	*p;
	struct ogcp_bbox	 bb;
	json_t			*attrs = json_object(), *errors = json_array(),
				*val;
	const char		*name;
	char			 msg[300];
	size_t			 i;
	int			 rc = -1;

	q->v[q->nv++] = collection_guichets[q->ci];
	for (i = 0; i < r->url.nquery; i++) {
		name = r->url.query[i].name;
		if (is_declared(r, name))
			continue;
		if (json_object_get(attrs, name) != NULL) {
			snprintf(msg, sizeof(msg), "Le paramètre « %s » est donné "
			    "plusieurs fois.", name);
			bad_param(r, "param_repeated", msg, name);
			goto out;
		}
		val = form_filter_value(f, name, r->url.query[i].value, errors);
		if (val == NULL && json_array_size(errors) > 0) {
			bad_param(r, "filter_invalid", json_string_value(
			    json_object_get(json_array_get(errors, 0), "message")),
			    name);
			goto out;
		}
		if (val == NULL) {
			/* Not a name of ours: never echoed (it is the client's). */
			snprintf(msg, sizeof(msg), "Un paramètre de la requête "
			    "n'est pas connu ici (voir /ogc/collections/%s/"
			    "queryables).", ogc_collection_ids[q->ci]);
			bad_param(r, "param_unknown", msg, NULL);
			goto out;
		}
		json_object_set_new(attrs, name, val);
	}
	if (json_object_size(attrs) > 0) {
		q->filter = json_dumps(attrs, JSON_COMPACT);
		buf_appendf(&q->where, " AND s.attributes @> %s::jsonb",
		    addv(q, q->filter));
	}
	if ((p = req_param(r, "commune"))->set) {
		if (!terr_commune_ok(p->s)) {
			bad_param(r, "filter_invalid", "« commune » doit être un "
			    "code INSEE de commune.", "commune");
			goto out;
		}
		buf_appendf(&q->where, " AND s.insee_commune = %s", addv(q, p->s));
	}
	if ((p = req_param(r, "departement"))->set) {
		if (!terr_dept_ok(p->s)) {
			bad_param(r, "filter_invalid", "« departement » doit être "
			    "un code de département.", "departement");
			goto out;
		}
		buf_appendf(&q->where, " AND s.departement = %s", addv(q, p->s));
	}
	if ((p = req_param(r, "bbox"))->set) {
		int	l93 = req_param(r, "bbox-crs")->set &&
			    strcmp(req_param(r, "bbox-crs")->s, EPSG2154) == 0;

		if (ogcp_bbox_parse(p->s, !l93, &bb, msg, sizeof(msg))) {
			bad_param(r, "param_invalid", msg, "bbox");
			goto out;
		}
		bbox_where(q, bb, l93);
	} else if (req_param(r, "bbox-crs")->set) {
		bad_param(r, "param_invalid", "« bbox-crs » ne va pas sans "
		    "« bbox ».", "bbox-crs");
		goto out;
	}
	if ((p = req_param(r, "datetime"))->set) {
		if (ogcp_datetime_parse(p->s, &q->dt, msg, sizeof(msg))) {
			bad_param(r, "param_invalid", msg, "datetime");
			goto out;
		}
		if (q->dt.lo[0])
			buf_appendf(&q->where, " AND s.decided_at >= %s::timestamptz",
			    addv(q, q->dt.lo));
		if (q->dt.hi[0])
			buf_appendf(&q->where, " AND s.decided_at <= %s::timestamptz",
			    addv(q, q->dt.hi));
		if (q->dt.hi_before[0])
			buf_appendf(&q->where, " AND s.decided_at < %s::timestamptz",
			    addv(q, q->dt.hi_before));
	}
	q->out2154 = req_param(r, "crs")->set &&
	    strcmp(req_param(r, "crs")->s, EPSG2154) == 0;
	p = req_param(r, "limit");
	q->limit = p->set ? (p->i > LIMIT_MAX ? LIMIT_MAX : p->i) : LIMIT_DEFAULT;
	p = req_param(r, "offset");
	q->offset = p->set ? p->i : 0;
	rc = 0;
out:
	json_decref(attrs);
	json_decref(errors);
	return rc;
}

/*
 * Runs the page query of q: one statement for the count, the collection's
 * last change and the page (a LEFT JOIN, so that an empty page still has
 * its one row of count and date). NULL after answering the error.
 */
static PGresult *
items_run(struct req *r, struct items_q *q)
{
	struct db_err	 e;
	struct buf	 sql = { 0 };
	PGresult	*res;
	const char	*where = q->where.data ? q->where.data : "", *lim, *off;

	snprintf(q->num[4], 32, "%lld", q->limit);
	snprintf(q->num[5], 32, "%lld", q->offset);
	lim = addv(q, q->num[4]);
	off = addv(q, q->num[5]);
	buf_appendf(&sql, "WITH m AS (SELECT count(*) AS n FROM submissions s "
	    "WHERE " PUBLISHED "%s), l AS (SELECT " LASTMOD " AS t) "
	    "SELECT m.n, l.t, p.* FROM m CROSS JOIN l LEFT JOIN LATERAL (SELECT "
	    "s.uid::text, %s, s.attributes::text, s.insee_commune, "
	    "s.departement, to_char(s.decided_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), o.name FROM submissions s JOIN "
	    "organisations o ON o.id = s.organisation_id WHERE " PUBLISHED "%s "
	    "ORDER BY s.id LIMIT %s OFFSET %s) p ON true", where, q->out2154 ?
	    "ST_AsGeoJSON(ST_Transform(s.geom, 2154), 2, 0)" :
	    "ST_AsGeoJSON(s.geom, 7, 0)", where, lim, off);
	res = db_query(&e, DB_IDEMPOTENT, sql.data, q->nv, q->v);
	buf_free(&sql);
	if (res == NULL)
		db_reply_error(r, &e);
	return res;
}

/*
 * One feature from row i of an items result: the form's fields in form
 * order (null when not filled), then where and when it was validated.
 */
static json_t *
feature_json(const struct items_q *q, PGresult *res, int i)
{
	const struct form	*f = form_find(collection_guichets[q->ci]);
	json_t			*attrs, *props = json_object(), *geom;
	const char		*name;
	size_t			 k;

	attrs = json_loads(PQgetvalue(res, i, 4), 0, NULL);
	geom = json_loads(PQgetvalue(res, i, 3), 0, NULL);
	for (k = 0; k < form_field_count(f); k++) {
		name = form_field_name(f, k);
		json_object_set(props, name, json_object_get(attrs, name) ?
		    json_object_get(attrs, name) : json_null());
	}
	json_decref(attrs);
	json_object_set_new(props, "commune", json_string(PQgetvalue(res, i, 5)));
	json_object_set_new(props, "departement", json_string(PQgetvalue(res,
	    i, 6)));
	json_object_set_new(props, "valide_le", PQgetisnull(res, i, 7) ?
	    json_null() : json_string(PQgetvalue(res, i, 7)));
	json_object_set_new(props, "producteur", json_string(PQgetvalue(res, i,
	    8)));
	return json_pack("{s:s, s:s, s:o, s:o, s:[o]}", "type", "Feature",
	    "id", PQgetvalue(res, i, 2), "geometry", geom ? geom : json_null(),
	    "properties", props, "links", olink("self", MT_GEOJSON, "Cet objet",
	    "/ogc/collections/%s/items/%s", ogc_collection_ids[q->ci],
	    PQgetvalue(res, i, 2)));
}

static void
items_q_free(struct items_q *q)
{
	buf_free(&q->where);
	free(q->filter);
}

/* The page before offset: from the end when offset is past it. */
static long long
prev_offset(long long offset, long long limit, long long matched)
{
	long long	from = offset < matched ? offset : matched;

	return from > limit ? from - limit : 0;
}

void
ogc_items(struct req *r)
{
	struct items_q	 q = { 0 };
	const char	*id, *fs = req_param(r, "f")->set ? "json" : NULL;
	const char	*name_field;
	PGresult	*res = NULL;
	json_t		*doc, *features, *links;
	long long	 matched, returned, lastmod;
	enum fmt	 fmt = fmt_of(r);
	int		 i;

	if ((q.ci = collection_or_404(r)) < 0 || items_read(r, &q) ||
	    (res = items_run(r, &q)) == NULL)
		goto out;
	id = ogc_collection_ids[q.ci];
	matched = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	lastmod = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	features = json_array();
	for (i = 0; i < PQntuples(res) && !PQgetisnull(res, i, 2); i++)
		json_array_append_new(features, feature_json(&q, res, i));
	returned = (long long)json_array_size(features);
	links = json_pack("[o, o, o]",
	    page_link(r, id, "self", fmt == FMT_HTML ? MT_HTML : MT_GEOJSON,
	    "Cette page", q.offset, fmt == FMT_HTML ? "html" : fs),
	    page_link(r, id, "alternate", fmt == FMT_HTML ? MT_GEOJSON : MT_HTML,
	    fmt == FMT_HTML ? "Cette page en GeoJSON" : "Cette page en HTML",
	    q.offset, fmt == FMT_HTML ? "json" : "html"),
	    olink("collection", MT_JSON, "La collection", "/ogc/collections/%s",
	    id));
	if (q.offset + returned < matched)
		json_array_append_new(links, page_link(r, id, "next",
		    fmt == FMT_HTML ? MT_HTML : MT_GEOJSON, "Page suivante",
		    q.offset + returned, fmt == FMT_HTML ? "html" : fs));
	if (q.offset > 0)
		json_array_append_new(links, page_link(r, id, "prev",
		    fmt == FMT_HTML ? MT_HTML : MT_GEOJSON, "Page précédente",
		    prev_offset(q.offset, q.limit, matched),
		    fmt == FMT_HTML ? "html" : fs));
	doc = json_pack("{s:s, s:I, s:I, s:o, s:o}", "type", "FeatureCollection",
	    "numberMatched", (json_int_t)matched, "numberReturned",
	    (json_int_t)returned, "features", features, "links", links);
	if (fmt == FMT_HTML) {
		name_field = form_name_field(form_find(collection_guichets[q.ci]));
		send_html(r, doc, form_text(form_find(collection_guichets[q.ci]),
		    "title"), name_field, lastmod);
	} else
		send_json(r, doc, MT_GEOJSON, lastmod, q.out2154 ? EPSG2154 :
		    CRS84);
out:
	PQclear(res);
	items_q_free(&q);
}

/* 8-4-4-4-12 hexadecimal digits. */
static int
uuid_ok(const char *s)
{
	size_t	i;

	if (strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' :
		    strchr("0123456789abcdefABCDEF", s[i]) == NULL || s[i] == '\0')
			return 0;
	return 1;
}

void
ogc_item(struct req *r)
{
	struct items_q	 q = { 0 };
	const char	*fid = req_param(r, "featureId")->s, *id;
	PGresult	*res = NULL;
	json_t		*doc;
	long long	 lastmod;

	if ((q.ci = collection_or_404(r)) < 0)
		goto out;
	if (!uuid_ok(fid)) {
		http_reply_error(r, 404, "feature_unknown", "Cet objet n'existe "
		    "pas ou n'est pas publié.", "featureId");
		goto out;
	}
	q.v[q.nv++] = collection_guichets[q.ci];
	buf_appendf(&q.where, " AND s.uid = %s::uuid", addv(&q, fid));
	q.out2154 = req_param(r, "crs")->set &&
	    strcmp(req_param(r, "crs")->s, EPSG2154) == 0;
	q.limit = 1;
	if ((res = items_run(r, &q)) == NULL)
		goto out;
	if (PQgetisnull(res, 0, 2)) {
		http_reply_error(r, 404, "feature_unknown", "Cet objet n'existe "
		    "pas ou n'est pas publié.", "featureId");
		goto out;
	}
	id = ogc_collection_ids[q.ci];
	lastmod = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	doc = feature_json(&q, res, 0);
	json_object_set_new(doc, "links", json_pack("[o, o, o]",
	    olink("self", MT_GEOJSON, "Cet objet", "/ogc/collections/%s/items/%s",
	    id, fid),
	    olink("alternate", MT_HTML, "Cet objet en HTML",
	    "/ogc/collections/%s/items/%s?f=html", id, fid),
	    olink("collection", MT_JSON, "La collection", "/ogc/collections/%s",
	    id)));
	if (fmt_of(r) == FMT_HTML)
		send_html(r, doc, fid, NULL, lastmod);
	else
		send_json(r, doc, MT_GEOJSON, lastmod, q.out2154 ? EPSG2154 :
		    CRS84);
out:
	PQclear(res);
	items_q_free(&q);
}

/* --- the API definition --------------------------------------------------------- */

static json_t *
oas_param(const char *name, const char *in, const char *desc, json_t *schema,
    int required)
{
	return json_pack("{s:s, s:s, s:s, s:b, s:o, s:b}", "name", name, "in",
	    in, "description", desc, "required", required, "schema", schema,
	    "explode", 0);
}

static json_t *
oas_get(const char *summary, json_t *params, const char *mt)
{
	return json_pack("{s:{s:s, s:o, s:{s:{s:s, s:{s:{}}}, s:{s:s, s:{s:"
	    "{s:{s:s}}}}, s:{s:s}, s:{s:s}}}}", "get", "summary", summary,
	    "parameters", params, "responses", "200", "description", "Succès",
	    "content", mt, "default", "description", "Erreur", "content",
	    MT_JSON, "schema",
	    "$ref", "#/components/schemas/Error", "304", "description",
	    "Inchangé (ETag, Last-Modified)", "404", "description",
	    "Inconnu");
}

static json_t *
crs_schema(void)
{
	return json_pack("{s:s, s:[s,s], s:s}", "type", "string", "enum",
	    CRS84, EPSG2154, "default", CRS84);
}

static json_t *
f_param(int jsonld)
{
	return oas_param("f", "query", "Format de la réponse", jsonld ?
	    json_pack("{s:s, s:[s,s,s]}", "type", "string", "enum", "json",
	    "html", "jsonld") : json_pack("{s:s, s:[s,s]}", "type", "string",
	    "enum", "json", "html"), 0);
}

/*
 * The OpenAPI 3.0 definition of /ogc, with one items path per collection
 * so that each lists its own filters (the queryables of its form): GDAL
 * and the OGC test suite read it to learn the limits and parameters.
 */
void
ogc_api(struct req *r)
{
	json_t	*paths, *params, *qs, *v;
	char	 path[128];
	const char *k;
	size_t	 i;

	paths = json_pack("{s:o, s:o, s:o, s:o}",
	    "/", oas_get("Page d'accueil", json_pack("[o]", f_param(0)), MT_JSON),
	    "/conformance", oas_get("Classes de conformité", json_pack("[o]",
	    f_param(0)), MT_JSON),
	    "/api", oas_get("Cette définition", json_array(), MT_OAS),
	    "/collections", oas_get("Les collections (et leur catalogue "
	    "DCAT-AP avec f=jsonld)", json_pack("[o]", f_param(1)), MT_JSON));
	for (i = 0; ogc_collection_ids[i] != NULL; i++) {
		snprintf(path, sizeof(path), "/collections/%s",
		    ogc_collection_ids[i]);
		json_object_set_new(paths, path, oas_get("Une collection",
		    json_pack("[o]", f_param(1)), MT_JSON));
		snprintf(path, sizeof(path), "/collections/%s/queryables",
		    ogc_collection_ids[i]);
		json_object_set_new(paths, path, oas_get("Ses filtres",
		    json_array(), "application/schema+json"));
		params = json_pack("[o, o, o, o, o, o, o, o, o]",
		    oas_param("limit", "query", "Objets par page", json_pack(
		    "{s:s, s:i, s:i, s:i}", "type", "integer", "minimum", 1,
		    "maximum", LIMIT_MAX, "default", LIMIT_DEFAULT), 0),
		    oas_param("offset", "query", "Objets sautés", json_pack(
		    "{s:s, s:i}", "type", "integer", "minimum", 0), 0),
		    oas_param("bbox", "query", "Cadre : minx,miny,maxx,maxy",
		    json_pack("{s:s, s:i, s:i, s:{s:s}}", "type", "array",
		    "minItems", 4, "maxItems", 6, "items", "type", "number"), 0),
		    oas_param("bbox-crs", "query", "SCR du cadre", crs_schema(), 0),
		    oas_param("crs", "query", "SCR des coordonnées", crs_schema(),
		    0),
		    oas_param("datetime", "query", "Date de validation : instant "
		    "ou intervalle RFC 3339", json_pack("{s:s}", "type",
		    "string"), 0),
		    oas_param("commune", "query", "Code INSEE de la commune",
		    json_pack("{s:s}", "type", "string"), 0),
		    oas_param("departement", "query", "Code du département",
		    json_pack("{s:s}", "type", "string"), 0), f_param(0));
		qs = queryables_json(i);
		json_object_foreach(qs, k, v)
			if (strcmp(k, "commune") != 0 &&
			    strcmp(k, "departement") != 0)
				json_array_append_new(params, oas_param(k, "query",
				    json_string_value(json_object_get(v, "title")),
				    json_incref(v), 0));
		json_decref(qs);
		snprintf(path, sizeof(path), "/collections/%s/items",
		    ogc_collection_ids[i]);
		json_object_set_new(paths, path, oas_get("Les objets validés",
		    params, MT_GEOJSON));
		snprintf(path, sizeof(path), "/collections/%s/items/{featureId}",
		    ogc_collection_ids[i]);
		json_object_set_new(paths, path, oas_get("Un objet", json_pack(
		    "[o, o, o]", oas_param("featureId", "path", "Identifiant "
		    "(uid)", json_pack("{s:s, s:s}", "type", "string", "format",
		    "uuid"), 1), oas_param("crs", "query", "SCR des coordonnées",
		    crs_schema(), 0), f_param(0)), MT_GEOJSON));
	}
	snprintf(path, sizeof(path), "%s/ogc", conf.public_url);
	send_json(r, json_pack("{s:s, s:{s:s, s:s, s:s, s:{s:s, s:s}}, "
	    "s:[{s:s}], s:o, s:{s:{s:{s:s, s:[s], s:{s:{s:s, s:[s,s], s:{"
	    "s:{s:s}, s:{s:s}, s:{s:s, s:b}}}}}}}}",
	    "openapi", "3.0.3", "info", "title", "OGC API Features des guichets "
	    "OPenIG", "version", "1.0", "description", "Les objets validés, en "
	    "accès libre.", "license", "name", "Licence Ouverte 2.0", "url",
	    conf.open_data_license, "servers", "url", path, "paths", paths,
	    "components", "schemas", "Error", "type", "object", "required",
	    "error", "properties", "error", "type", "object", "required",
	    "code", "message", "properties", "code", "type", "string",
	    "message", "type", "string", "field", "type", "string", "nullable",
	    1), MT_OAS, 0, NULL);
}

/* --- the widget ------------------------------------------------------------------ */

/*
 * The embeddable map: a static page (static/widget.html) that reads the
 * items of a collection over a territory through /ogc. The parameters are
 * checked here so that a wrong snippet gets a clear 400, not an empty map.
 */
void
ogc_widget(struct req *r)
{
	const struct param_val	*t = req_param(r, "territory");

	if (t->set && !terr_dept_ok(t->s) && !terr_commune_ok(t->s)) {
		http_reply_error(r, 400, "param_invalid", "« territory » doit être "
		    "un code de département (31) ou de commune (31555).",
		    "territory");
		return;
	}
	asset_serve_embeddable(r, "widget.html");
}
