/*
 * zone.c — reference outlines for maps.
 *
 * The UI draws commune outlines so that a map is useful with no tile
 * server at all. Outlines are simplified to about 20 m (plenty at the zoom
 * levels they are drawn at) and capped in number, so that an answer stays
 * small; the whole feature collection is built by PostgreSQL.
 */
#include <stdio.h>

#include "db.h"
#include "http.h"
#include "zone.h"

void
zone_list(struct req *r)
{
	const struct param_val *kind = req_param(r, "kind"),
	    *bbox = req_param(r, "bbox"), *code = req_param(r, "code");
	double		 b[4];
	char		 bs[4][32], n;
	const char	*v[6];
	int		 i;

	if (bbox->set) {
		if (sscanf(bbox->s, "%lf,%lf,%lf,%lf%c", &b[0], &b[1], &b[2],
		    &b[3], &n) != 4 || b[0] >= b[2] || b[1] >= b[3] ||
		    b[0] < -180 || b[2] > 180 || b[1] < -90 || b[3] > 90) {
			http_reply_error(r, 400, "param_invalid", "Le paramètre "
			    "« bbox » doit valoir ouest,sud,est,nord en degrés.",
			    "bbox");
			return;
		}
		for (i = 0; i < 4; i++)
			snprintf(bs[i], sizeof(bs[i]), "%.7f", b[i]);
	}
	if (!bbox->set && !code->set) {
		http_reply_error(r, 400, "param_missing", "Donnez « bbox » ou "
		    "« code ».", "bbox");
		return;
	}
	v[0] = kind->set ? kind->s : "commune";
	v[1] = bbox->set ? bs[0] : NULL;
	v[2] = bbox->set ? bs[1] : NULL;
	v[3] = bbox->set ? bs[2] : NULL;
	v[4] = bbox->set ? bs[3] : NULL;
	v[5] = code->set ? code->s : NULL;
	db_reply_json(r, "SELECT json_build_object('type', "
	    "'FeatureCollection', 'features', coalesce(json_agg(json_build_object("
	    "'type', 'Feature', 'properties', json_build_object('code', code, "
	    "'nom', nom), 'bbox', json_build_array(ST_XMin(geom), ST_YMin(geom), "
	    "ST_XMax(geom), ST_YMax(geom)), 'geometry', ST_AsGeoJSON("
	    "ST_SimplifyPreserveTopology(geom, 0.0002), 5)::json)), '[]')) "
	    "FROM (SELECT code, nom, geom FROM ref_zones WHERE kind = $1 "
	    "AND ($6::text IS NULL OR code = $6) AND ($2::float8 IS NULL OR "
	    "geom && ST_MakeEnvelope($2, $3, $4, $5, 4326)) ORDER BY code "
	    "LIMIT 600) z", 6, v, "");
}
