/*
 * gdalinit.h — GDAL's library, set up once for the process: only the
 * drivers we use (GeoPackage for exports and imports, GeoJSON for imports)
 * are registered, plugins are never loaded.
 */
#ifndef GUICHET_GDALINIT_H
#define GUICHET_GDALINIT_H

/* Registers the drivers on the first call; any thread, any number of times. */
void	 gdal_init_once(void);

#endif
