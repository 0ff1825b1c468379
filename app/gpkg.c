/*
 * gpkg.c — GeoPackage through GDAL's library (OGR C API).
 *
 * The library rather than ogr2ogr: rows go from the cursor straight into
 * OGR features with the types the form declares (a subprocess would need
 * an intermediate file and would guess types from it), one process, and
 * errors come back as values. Drivers are registered once (gdalinit.c).
 * Features are written
 * in transactions of 100,000; GDAL builds the spatial index at the end, as
 * ogr2ogr does. SQLite does not sync at each transaction: the job syncs
 * the finished file once, before recording it (export.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <sodium.h>

#include "form.h"
#include "gdalinit.h"
#include "geom.h"
#include "util.h"
#include "xformat.h"

#define BATCH	100000


/* The layer's geometry type: what the form allows, polygons as multi. */
static OGRwkbGeometryType
layer_type(const struct xf_spec *x)
{
	unsigned	t = form_geometry_types(x->form);

	if (t == GEOM_POINT)
		return wkbPoint;
	if ((t & GEOM_POINT) == 0)
		return wkbMultiPolygon;
	return wkbUnknown;
}

static void
gdal_error(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "GeoPackage : %s : %s", what,
	    CPLGetLastErrorMsg()[0] ? CPLGetLastErrorMsg() : "erreur GDAL");
}

struct gpkg {
	const struct xf_spec	*x;
	GDALDatasetH		 ds;
	OGRLayerH		 lyr;
	OGRFeatureDefnH		 defn;
	unsigned char		*wkb;
	size_t			 cap;
	int64_t			 n;
};

/* One feature: the columns with the form's types, the WKB geometry. */
static int
gpkg_row(void *arg, PGresult *res, int r, char *err, size_t errlen)
{
	struct gpkg	*w = arg;
	OGRFeatureH	 feat = OGR_F_Create(w->defn);
	OGRGeometryH	 g;
	const char	*v;
	char		*tmp;
	size_t		 i, len;
	int		 rc = -1;

	for (i = 0; i < w->x->ncols; i++) {
		v = xf_text(&w->x->cols[i], res, r, (int)i + XF_FIRST, &tmp);
		if (v == NULL)
			OGR_F_SetFieldNull(feat, (int)i);
		else if (w->x->cols[i].kind == XF_INTEGER)
			OGR_F_SetFieldInteger64(feat, (int)i, atoll(v));
		else if (w->x->cols[i].kind == XF_BOOLEAN)
			OGR_F_SetFieldInteger(feat, (int)i, strcmp(v, "true") == 0);
		else
			OGR_F_SetFieldString(feat, (int)i, v);
		free(tmp);
	}
	len = (size_t)PQgetlength(res, r, XF_GEOM) / 2;
	if (len > w->cap)
		w->wkb = xrealloc(w->wkb, w->cap = len);
	if (sodium_hex2bin(w->wkb, w->cap, PQgetvalue(res, r, XF_GEOM), len * 2,
	    NULL, &len, NULL) != 0 || OGR_G_CreateFromWkb(w->wkb, NULL, &g,
	    (int)len) != OGRERR_NONE) {
		snprintf(err, errlen, "GeoPackage : géométrie illisible");
		goto out;
	}
	OGR_F_SetGeometryDirectly(feat, g);
	if (OGR_L_CreateFeature(w->lyr, feat) != OGRERR_NONE) {
		gdal_error(err, errlen, "écriture");
		goto out;
	}
	if (++w->n % BATCH == 0) {
		GDALDatasetCommitTransaction(w->ds);
		GDALDatasetStartTransaction(w->ds, FALSE);
	}
	rc = 0;
out:
	OGR_F_Destroy(feat);
	return rc;
}

int
gpkg_write(const struct xf_spec *x, PGconn *c, const char *path,
    int64_t *rows, xf_progress progress, void *arg, char *err, size_t errlen)
{
	static const char *const lco[] = { "GEOMETRY_NAME=geometrie",
	    "FID=fid", NULL };
	GDALDriverH	 drv;
	GDALDatasetH	 ds = NULL;
	OGRLayerH	 lyr;
	OGRSpatialReferenceH srs = NULL;
	OGRFieldDefnH	 fld;
	struct gpkg	 w = { x, NULL, NULL, NULL, NULL, 0, 0 };
	size_t		 i;
	int		 rc = -1, intx = 0;

	*rows = 0;
	gdal_init_once();
	CPLPushErrorHandler(CPLQuietErrorHandler);
	CPLErrorReset();
	if ((drv = GDALGetDriverByName("GPKG")) == NULL) {
		gdal_error(err, errlen, "pilote absent");
		goto out;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "GeoPackage : %s", xf_syserr(errno));
		goto out;
	}
	if ((ds = GDALCreate(drv, path, 0, 0, 0, GDT_Unknown, NULL)) == NULL) {
		log_warn("GDAL: %s: %s", path, CPLGetLastErrorMsg());
		snprintf(err, errlen, "GeoPackage : le fichier ne peut pas être "
		    "créé");
		goto out;
	}
	srs = OSRNewSpatialReference(NULL);
	if (OSRImportFromEPSG(srs, 2154) != OGRERR_NONE) {
		gdal_error(err, errlen, "EPSG:2154");
		goto out;
	}
	lyr = GDALDatasetCreateLayer(ds, x->layer, srs, layer_type(x),
	    (char **)lco);
	if (lyr == NULL) {
		gdal_error(err, errlen, x->layer);
		goto out;
	}
	for (i = 0; i < x->ncols; i++) {
		fld = OGR_Fld_Create(x->cols[i].name, x->cols[i].kind ==
		    XF_INTEGER || x->cols[i].kind == XF_BOOLEAN ? OFTInteger :
		    OFTString);
		if (x->cols[i].kind == XF_BOOLEAN)
			OGR_Fld_SetSubType(fld, OFSTBoolean);
		if (x->cols[i].width > 0)
			OGR_Fld_SetWidth(fld, x->cols[i].width);
		if (OGR_L_CreateField(lyr, fld, TRUE) != OGRERR_NONE) {
			OGR_Fld_Destroy(fld);
			gdal_error(err, errlen, x->cols[i].name);
			goto out;
		}
		OGR_Fld_Destroy(fld);
	}
	w.defn = OGR_L_GetLayerDefn(lyr);
	w.lyr = lyr;
	w.ds = ds;
	GDALDatasetStartTransaction(ds, FALSE);
	intx = 1;
	if (xf_rows(c, gpkg_row, &w, progress, arg, rows, err, errlen) != 0)
		goto out;
	if (intx && GDALDatasetCommitTransaction(ds) != OGRERR_NONE) {
		gdal_error(err, errlen, "validation");
		goto out;
	}
	intx = 0;
	rc = 0;
out:
	free(w.wkb);
	if (ds != NULL) {
		if (intx)
			GDALDatasetRollbackTransaction(ds);
		GDALClose(ds);	/* builds the spatial index, closes the file */
	}
	if (srs != NULL)
		OSRDestroySpatialReference(srs);
	CPLPopErrorHandler();
	return rc;
}
