/*
 * isource.c — reading imported files record by record (isource.h).
 *
 * CSV goes through our own reader (csv.c): the SDIS and commune files come
 * in Windows-1252 as often as in UTF-8, with ';' as often as ',', and a
 * row that cannot be read must be reported and skipped, not end the file.
 * GeoJSON and GeoPackage go through GDAL's library, one feature at a time
 * (the GeoJSON driver streams large files), their geometries transformed
 * to WGS 84 in longitude, latitude order. Coordinates in text columns are
 * turned into geometries with the same library, so that Lambert-93 is
 * transformed by PROJ exactly as PostGIS would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "csv.h"
#include "gdalinit.h"
#include "isource.h"
#include "util.h"

struct isrc {
	FILE			*f;
	struct csv		*csv;
	GDALDatasetH		 ds;
	OGRLayerH		 lyr;
	OGRCoordinateTransformationH ct;	/* layer SRS -> WGS 84, or NULL */
	json_t			*columns;
	long			 feature;
};

static void
gdal_message(char *err, size_t errlen, const char *what)
{
	const char	*m = CPLGetLastErrorMsg();

	snprintf(err, errlen, "%s%s%s", what, m && *m ? " : " : "",
	    m ? m : "");
	utf8_trim(err);
}

/* WGS 84 with longitude first, as GeoJSON wants it. */
static OGRSpatialReferenceH
wgs84(void)
{
	OGRSpatialReferenceH	s = OSRNewSpatialReference(NULL);

	OSRImportFromEPSG(s, 4326);
	OSRSetAxisMappingStrategy(s, OAMS_TRADITIONAL_GIS_ORDER);
	return s;
}

static int
has(json_t *list, const char *name)
{
	json_t	*v;
	size_t	 i;

	json_array_foreach(list, i, v)
		if (strcmp(json_string_value(v), name) == 0)
			return 1;
	return 0;
}

static int
open_csv(struct isrc *s, const char *path, char *err, size_t errlen)
{
	struct csv_row	row;
	size_t		i;
	int		rc;

	if ((s->f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "Le fichier n'a pas pu être ouvert.");
		return -1;
	}
	if ((s->csv = csv_open(s->f, err, errlen)) == NULL)
		return -1;
	if ((rc = csv_next(s->csv, &row, err, errlen)) != 1) {
		if (rc == 0)
			snprintf(err, errlen, "Le fichier est vide.");
		return -1;
	}
	s->columns = json_array();
	for (i = 0; i < row.nfields; i++) {
		char	*name = xstrdup(row.fields[i]);

		str_strip(name);
		/* Every column needs a name of its own to be mapped. */
		if (name[0] == '\0' || has(s->columns, name)) {
			char *other = xasprintf("%s%scolonne_%zu", name,
			    name[0] ? "_" : "", i + 1);

			free(name);
			name = other;
		}
		json_array_append_new(s->columns, json_string(name));
		free(name);
	}
	return 0;
}

static int
open_gdal(struct isrc *s, const char *path, const char *format, char *err,
    size_t errlen)
{
	const char *const	 drivers[] = { strcmp(format, "gpkg") == 0 ?
				    "GPKG" : "GeoJSON", NULL };
	OGRFeatureDefnH		 defn;
	OGRSpatialReferenceH	 from, to;
	int			 i;

	gdal_init_once();
	CPLErrorReset();
	s->ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, drivers,
	    NULL, NULL);
	if (s->ds == NULL || GDALDatasetGetLayerCount(s->ds) < 1 ||
	    (s->lyr = GDALDatasetGetLayer(s->ds, 0)) == NULL) {
		gdal_message(err, errlen, strcmp(format, "gpkg") == 0 ?
		    "Ce fichier n'est pas un GeoPackage lisible" :
		    "Ce fichier n'est pas un GeoJSON lisible");
		return -1;
	}
	defn = OGR_L_GetLayerDefn(s->lyr);
	s->columns = json_array();
	for (i = 0; i < OGR_FD_GetFieldCount(defn); i++)
		json_array_append_new(s->columns, json_string(OGR_Fld_GetNameRef(
		    OGR_FD_GetFieldDefn(defn, i))));
	if ((from = OGR_L_GetSpatialRef(s->lyr)) != NULL) {
		to = wgs84();
		s->ct = OCTNewCoordinateTransformation(from, to);
		OSRDestroySpatialReference(to);
		if (s->ct == NULL) {
			gdal_message(err, errlen, "Le système de coordonnées du "
			    "fichier n'est pas connu");
			return -1;
		}
	}
	OGR_L_ResetReading(s->lyr);
	return 0;
}

struct isrc *
isrc_open(const char *path, const char *format, char *err, size_t errlen)
{
	struct isrc	*s = xcalloc(1, sizeof(*s));
	int		 rc;

	CPLPushErrorHandler(CPLQuietErrorHandler);
	rc = strcmp(format, "csv") == 0 ? open_csv(s, path, err, errlen) :
	    open_gdal(s, path, format, err, errlen);
	CPLPopErrorHandler();
	if (rc != 0) {
		isrc_close(s);
		return NULL;
	}
	return s;
}

json_t *isrc_columns(const struct isrc *s) { return s->columns; }
int isrc_has_geometry(const struct isrc *s) { return s->ds != NULL; }

const char *
isrc_encoding(const struct isrc *s)
{
	return s->csv ? csv_encoding(s->csv) : NULL;
}

char
isrc_separator(const struct isrc *s)
{
	return s->csv ? csv_separator(s->csv) : 0;
}

static int
next_csv(struct isrc *s, json_t **values, long *line, char *err,
    size_t errlen)
{
	struct csv_row	 row;
	size_t		 i;
	char		*v;
	int		 rc;

	rc = csv_next(s->csv, &row, err, errlen);
	*line = (long)row.line;
	if (rc != 1)
		return rc;
	if (row.nfields > json_array_size(s->columns)) {
		snprintf(err, errlen, "La ligne compte %zu valeurs pour %zu "
		    "colonnes.", row.nfields, json_array_size(s->columns));
		return -1;
	}
	*values = json_object();
	for (i = 0; i < row.nfields; i++) {
		v = row.fields[i];
		str_strip(v);
		if (v[0] != '\0')
			json_object_set_new(*values, json_string_value(
			    json_array_get(s->columns, i)), json_string(v));
	}
	return 1;
}

static int
next_gdal(struct isrc *s, json_t **values, json_t **geometry, long *line,
    char *err, size_t errlen)
{
	OGRFeatureH	 feat;
	OGRGeometryH	 g;
	char		*text, *v;
	size_t		 i;

	CPLErrorReset();
	if ((feat = OGR_L_GetNextFeature(s->lyr)) == NULL) {
		if (CPLGetLastErrorType() >= CE_Failure) {
			*line = s->feature + 1;
			gdal_message(err, errlen, "Lecture du fichier interrompue");
			return -1;
		}
		return 0;
	}
	*line = ++s->feature;
	*values = json_object();
	for (i = 0; i < json_array_size(s->columns); i++) {
		if (!OGR_F_IsFieldSetAndNotNull(feat, (int)i))
			continue;
		v = xstrdup(OGR_F_GetFieldAsString(feat, (int)i));
		str_strip(v);
		if (v[0] != '\0')
			json_object_set_new(*values, json_string_value(
			    json_array_get(s->columns, i)), json_string(v));
		free(v);
	}
	if ((g = OGR_F_GetGeometryRef(feat)) != NULL) {
		if (s->ct != NULL && OGR_G_Transform(g, s->ct) != OGRERR_NONE) {
			OGR_F_Destroy(feat);
			json_decref(*values);
			*values = NULL;
			snprintf(err, errlen, "La géométrie n'a pas pu être "
			    "ramenée en WGS 84.");
			return -1;
		}
		text = OGR_G_ExportToJson(g);
		*geometry = text ? json_loads(text, 0, NULL) : NULL;
		CPLFree(text);
	}
	OGR_F_Destroy(feat);
	return 1;
}

int
isrc_next(struct isrc *s, json_t **values, json_t **geometry, long *line,
    char *err, size_t errlen)
{
	int	rc;

	*values = *geometry = NULL;
	*line = 0;
	if (s->csv != NULL)
		return next_csv(s, values, line, err, errlen);
	CPLPushErrorHandler(CPLQuietErrorHandler);
	rc = next_gdal(s, values, geometry, line, err, errlen);
	CPLPopErrorHandler();
	return rc;
}

void
isrc_close(struct isrc *s)
{
	if (s == NULL)
		return;
	if (s->csv != NULL)
		csv_close(s->csv);
	if (s->f != NULL)
		fclose(s->f);
	if (s->ct != NULL)
		OCTDestroyCoordinateTransformation(s->ct);
	if (s->ds != NULL)
		GDALClose(s->ds);
	json_decref(s->columns);
	free(s);
}

/* A decimal number from text, a decimal comma allowed; 0 or -1. */
static int
number(json_t *values, const char *column, double *out)
{
	const char	*t = json_string_value(json_object_get(values, column));
	char		 buf[64], *end;
	size_t		 i;

	if (t == NULL || strlen(t) >= sizeof(buf))
		return -1;
	for (i = 0; t[i] != '\0'; i++)
		buf[i] = t[i] == ',' ? '.' : t[i];
	buf[i] = '\0';
	if (strspn(buf, "0123456789+-.eE") != i || i == 0)
		return -1;
	*out = strtod(buf, &end);
	return *end == '\0' ? 0 : -1;
}

static json_t *
to_geojson(OGRGeometryH g, int epsg, char *err, size_t errlen)
{
	OGRSpatialReferenceH	 from, to;
	OGRCoordinateTransformationH ct;
	json_t			*out = NULL;
	char			*text;

	if (epsg != 4326) {
		from = OSRNewSpatialReference(NULL);
		OSRImportFromEPSG(from, epsg);
		OSRSetAxisMappingStrategy(from, OAMS_TRADITIONAL_GIS_ORDER);
		to = wgs84();
		ct = OCTNewCoordinateTransformation(from, to);
		OSRDestroySpatialReference(from);
		OSRDestroySpatialReference(to);
		if (ct == NULL || OGR_G_Transform(g, ct) != OGRERR_NONE) {
			if (ct != NULL)
				OCTDestroyCoordinateTransformation(ct);
			snprintf(err, errlen, "Les coordonnées n'ont pas pu être "
			    "converties du Lambert-93 en WGS 84.");
			return NULL;
		}
		OCTDestroyCoordinateTransformation(ct);
	}
	if ((text = OGR_G_ExportToJson(g)) != NULL)
		out = json_loads(text, 0, NULL);
	CPLFree(text);
	if (out == NULL)
		snprintf(err, errlen, "La géométrie n'a pas pu être lue.");
	return out;
}

json_t *
isrc_geometry(json_t *spec, json_t *values, char *err, size_t errlen)
{
	const char	*kind = json_string_value(json_object_get(spec, "kind"));
	const char	*wkt, *a, *b;
	OGRGeometryH	 g = NULL;
	json_t		*out = NULL;
	double		 x, y;
	int		 epsg = 4326;
	char		*w;

	err[0] = '\0';
	if (kind == NULL)
		return NULL;
	gdal_init_once();
	CPLPushErrorHandler(CPLQuietErrorHandler);
	if (strcmp(kind, "wkt") == 0) {
		wkt = json_string_value(json_object_get(values, json_string_value(
		    json_object_get(spec, "column"))));
		if (wkt == NULL)
			goto out;
		if (strncasecmp(wkt, "SRID=", 5) == 0) {
			epsg = atoi(wkt + 5);
			wkt = strchr(wkt, ';') ? strchr(wkt, ';') + 1 : wkt + 5;
			if (epsg != 4326 && epsg != 2154) {
				snprintf(err, errlen, "Seuls les SRID 4326 et 2154 "
				    "sont acceptés dans le WKT.");
				goto out;
			}
		}
		w = xstrdup(wkt);
		{
			char	*p = w;

			if (OGR_G_CreateFromWkt(&p, NULL, &g) != OGRERR_NONE)
				g = NULL;
		}
		free(w);
		if (g == NULL) {
			snprintf(err, errlen, "Le WKT n'a pas pu être lu.");
			goto out;
		}
	} else {
		a = json_string_value(json_object_get(spec, strcmp(kind, "xy") ?
		    "lon" : "x"));
		b = json_string_value(json_object_get(spec, strcmp(kind, "xy") ?
		    "lat" : "y"));
		if (a == NULL || b == NULL || (json_object_get(values, a) == NULL &&
		    json_object_get(values, b) == NULL))
			goto out;
		if (number(values, a, &x) || number(values, b, &y)) {
			snprintf(err, errlen, "Les coordonnées (%s, %s) doivent "
			    "être des nombres décimaux.", a, b);
			goto out;
		}
		g = OGR_G_CreateGeometry(wkbPoint);
		OGR_G_SetPoint_2D(g, 0, x, y);
		epsg = strcmp(kind, "xy") == 0 ? 2154 : 4326;
	}
	out = to_geojson(g, epsg, err, errlen);
out:
	if (g != NULL)
		OGR_G_DestroyGeometry(g);
	CPLPopErrorHandler();
	return out;
}
