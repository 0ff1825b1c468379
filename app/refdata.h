/*
 * refdata.h — loading reference data: `guichet load-refdata PATH...`.
 *
 * A PATH is a folder (every file in it that is recognised), or a file:
 *   region*.geojson, departements*.geojson, communes*.geojson — outlines,
 *     GeoJSON FeatureCollections with properties code and nom;
 *   communes.json — the COG commune list of @etalab/decoupage-administratif
 *     (or the package's folder).
 * Everything given is loaded in one transaction, replacing rows with the
 * same code (with --replace, all rows of the kinds loaded), and what was
 * loaded is printed.
 */
#ifndef GUICHET_REFDATA_H
#define GUICHET_REFDATA_H

int	 refdata_load(int npaths, char **paths);

#endif
