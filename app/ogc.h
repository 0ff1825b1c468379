/*
 * ogc.h — the open data: OGC API Features (Part 1 Core, GeoJSON, HTML,
 * OpenAPI 3.0; Part 2 CRS with CRS84 and EPSG:2154; Part 3 queryables) at
 * /ogc, over the validated objects of the three guichets, and their DCAT-AP
 * description for catalogues (JSON-LD).
 *
 * Everything here is public and read-only: the collections hold validated
 * objects only, in their current version, with the properties of their
 * form; who entered them and what was refused stay behind the API rights.
 */
#ifndef GUICHET_OGC_H
#define GUICHET_OGC_H

#include <jansson.h>

struct req;

void	 ogc_landing(struct req *);
void	 ogc_conformance(struct req *);
void	 ogc_api(struct req *);
void	 ogc_collections(struct req *);
void	 ogc_collection(struct req *);
void	 ogc_queryables(struct req *);
void	 ogc_items(struct req *);
void	 ogc_item(struct req *);
/* The embeddable map page (/widget). */
void	 ogc_widget(struct req *);

/* The collection ids ("erp", "equipco", "adresses"), NULL-terminated. */
extern const char *const ogc_collection_ids[];

#endif
