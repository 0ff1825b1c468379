/*
 * csp.c — the Content-Security-Policy and its violation reports.
 *
 * The policy allows scripts, styles and fonts from our own origin only (no
 * inline script, no eval), images from our origin and data: URLs (map
 * markers), and framing only by the configured ancestors. Browsers POST
 * violations to /csp-report; each is logged as one line of JSON so that a
 * page broken by the policy is noticed, with only the fields we know and
 * jansson's escaping so that a hostile report cannot forge log lines.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "csp.h"
#include "http.h"

static char	policy[1024], widget_policy[1024];

static void
build(char *out, size_t outlen, const char *tiles, const char *ancestors)
{
	snprintf(out, outlen, "default-src 'self'; script-src 'self'; "
	    "style-src 'self'; img-src 'self' data: blob:%s; font-src 'self'; "
	    "connect-src 'self'; object-src 'none'; base-uri 'none'; "
	    "form-action 'self'; frame-ancestors %s; report-uri /csp-report",
	    tiles, ancestors);
}

void
csp_init(void)
{
	char	tiles[256] = "", ancestors[512];
	size_t	n;

	/* The map's base layer comes from its tile server's origin. */
	if (conf.map_tiles_url[0] != '\0') {
		n = strcspn(conf.map_tiles_url + 8, "/?") + 8;
		snprintf(tiles, sizeof(tiles), " %.*s", (int)(n < 200 ? n : 200),
		    conf.map_tiles_url);
	}
	build(policy, sizeof(policy), tiles, conf.frame_ancestors);
	/* The widget's page: the same sources, its own ancestors, and always
	 * our own origin (the « Données ouvertes » page previews it), unless
	 * framing is refused altogether. */
	snprintf(ancestors, sizeof(ancestors), "%s%s", strstr(
	    conf.widget_frame_ancestors, "'none'") != NULL || strstr(
	    conf.widget_frame_ancestors, "'self'") != NULL || strcmp(
	    conf.widget_frame_ancestors, "*") == 0 ? "" : "'self' ",
	    conf.widget_frame_ancestors);
	build(widget_policy, sizeof(widget_policy), tiles, ancestors);
}

/* What the UI needs of the configuration: the map's base layer. */
void
csp_ui_config(struct req *r)
{
	http_reply_json(r, 200, json_pack("{s:s?, s:s}", "tiles_url",
	    conf.map_tiles_url[0] ? conf.map_tiles_url : NULL,
	    "tiles_attribution", conf.map_tiles_attribution));
}

const char *
csp_header(void)
{
	return policy;
}

const char *
csp_widget_header(void)
{
	return widget_policy;
}

int
csp_frames_denied(void)
{
	return strcmp(conf.frame_ancestors, "'none'") == 0;
}

/*
 * Accepts the classic report-uri shape {"csp-report": {...}}. Anything else
 * that parses as JSON is acknowledged and ignored: a browser must not be
 * made to retry, and we have nothing to tell it.
 */
void
csp_report(struct req *r)
{
	static const char *const fields[] = { "document-uri",
	    "violated-directive", "effective-directive", "blocked-uri",
	    "source-file", "line-number" };
	json_t		*body, *rep, *out, *v;
	char		*line;
	size_t		 i;

	if ((body = req_json_or_400(r)) == NULL)
		return;
	rep = json_object_get(body, "csp-report");
	if (!json_is_object(rep)) {
		http_reply_error(r, 400, "invalid_report", "Le rapport doit "
		    "contenir un objet « csp-report ».", "csp-report");
		return;
	}
	out = json_object();
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		v = json_object_get(rep, fields[i]);
		if (json_is_string(v) && json_string_length(v) <= 512)
			json_object_set(out, fields[i], v);
		else if (json_is_integer(v))
			json_object_set(out, fields[i], v);
	}
	line = json_dumps(out, JSON_COMPACT | JSON_ENSURE_ASCII);
	log_warn("csp-violation %s", line ? line : "{}");
	free(line);
	json_decref(out);
	http_reply_empty(r, 204);
}
