/*
 * isource.h — the records of an imported file, whatever its format: CSV
 * (csv.c: encoding and separator sniffed) or a GDAL vector file (GeoJSON,
 * GeoPackage: its first layer, geometries brought to WGS 84). Each record
 * comes as an object of column name -> text, plus its own geometry as
 * GeoJSON when the format carries one. Geometries held in text columns
 * (WKT, x/y in Lambert-93, longitude/latitude) are built by
 * isrc_geometry from the mapping.
 */
#ifndef GUICHET_ISOURCE_H
#define GUICHET_ISOURCE_H

#include <jansson.h>

struct isrc;

/* Opens path as format ("csv", "geojson", "gpkg"); NULL and a French err. */
struct isrc	*isrc_open(const char *path, const char *format, char *err,
		    size_t errlen);
/* The column names, in file order (borrowed). */
json_t		*isrc_columns(const struct isrc *);
/* CSV only: "UTF-8" or "windows-1252", and the separator; NULL / 0 else. */
const char	*isrc_encoding(const struct isrc *);
char		 isrc_separator(const struct isrc *);
/* Does the format carry its own geometries? */
int		 isrc_has_geometry(const struct isrc *);

/*
 * The next record: 1 with *values (column -> text; columns without a value
 * are absent) and *geometry (GeoJSON in WGS 84, or NULL), both new
 * references, and *line (CSV line, or feature number from 1); 0 at the
 * end; -1 with a French err for a record that cannot be read (*line set),
 * after which reading goes on.
 */
int		 isrc_next(struct isrc *, json_t **values, json_t **geometry,
		    long *line, char *err, size_t errlen);
void		 isrc_close(struct isrc *);

/*
 * A geometry from text columns per spec: {"kind": "wkt", "column"} (WGS 84,
 * or EPSG:2154 with an "SRID=2154;" prefix), {"kind": "xy", "x", "y"}
 * (Lambert-93, EPSG:2154), {"kind": "lonlat", "lon", "lat"} (WGS 84;
 * decimal commas accepted). Returns GeoJSON in WGS 84, NULL when the
 * columns are empty (nothing in *err) or with a French err when they do not
 * make a geometry.
 */
json_t		*isrc_geometry(json_t *spec, json_t *values, char *err,
		    size_t errlen);

#endif
