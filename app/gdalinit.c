/*
 * gdalinit.c — GDAL set up once (gdalinit.h).
 *
 * GDALAllRegister would load every driver and look for plugins on disk:
 * slower to start, more memory, and more file formats parsing untrusted
 * input than we need. SQLite does not sync at each transaction: the export
 * job syncs a finished GeoPackage once, before recording it (export.c).
 */
#include <pthread.h>

#include <cpl_conv.h>

#include "gdalinit.h"

/* Declared with C linkage in GDAL's ogrsf_frmts.h, a C++ header. */
void	 RegisterOGRGeoPackage(void);
void	 RegisterOGRGeoJSON(void);

static pthread_once_t	once = PTHREAD_ONCE_INIT;

static void
init(void)
{
	CPLSetConfigOption("GDAL_DRIVER_PATH", "disable");
	CPLSetConfigOption("OGR_SQLITE_SYNCHRONOUS", "OFF");
	RegisterOGRGeoPackage();
	RegisterOGRGeoJSON();
}

void
gdal_init_once(void)
{
	pthread_once(&once, init);
}
