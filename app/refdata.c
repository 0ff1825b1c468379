/*
 * refdata.c — the reference data loader.
 *
 * Files are handed whole to PostgreSQL as one jsonb parameter and unpacked
 * there (jsonb_array_elements, ST_GeomFromGeoJSON): no JSON is parsed twice,
 * and an 8 MB COG file loads in about a second. Outlines are made valid and
 * multi (the published files are simplified and may hold a bow-tie); a file
 * whose features lack a code or a name is refused, naming the file.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "refdata.h"
#include "util.h"

enum rkind { R_NONE, R_REGION, R_DEPARTEMENT, R_COMMUNE, R_COG };

static const char *const kind_names[] = { "", "region", "departement",
    "commune", "cog" };

static enum rkind
kind_of(const char *path)
{
	const char	*base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	if (fnmatch("region*.geojson", base, 0) == 0)
		return R_REGION;
	if (fnmatch("departements*.geojson", base, 0) == 0)
		return R_DEPARTEMENT;
	if (fnmatch("communes*.geojson", base, 0) == 0)
		return R_COMMUNE;
	if (strcmp(base, "communes.json") == 0)
		return R_COG;
	return R_NONE;
}

/* The features of $2: a FeatureCollection's, or a lone Feature. */
#define FEATURES \
	"(SELECT $2::jsonb AS j) d, jsonb_array_elements(CASE " \
	"WHEN d.j->>'type' = 'Feature' THEN jsonb_build_array(d.j) " \
	"ELSE d.j->'features' END) f"

static int
load_outlines(PGconn *c, const char *path, enum rkind k, const char *text,
    long *count)
{
	struct db_err	 e;
	PGresult	*res;
	const char	*v[2] = { kind_names[k], text };

	/* Every feature must have a code and a name, or nothing is loaded. */
	res = db_exec(c, &e, "SELECT count(*) FILTER (WHERE f->'properties'->>'code' "
	    "IS NULL OR f->'properties'->>'nom' IS NULL OR f->'geometry' IS NULL "
	    "OR jsonb_typeof(f->'geometry') <> 'object'), count(*) "
	    "FROM " FEATURES " WHERE $1::text IS NOT NULL", 2, v);
	if (res == NULL) {
		fprintf(stderr, "guichet: %s: not a GeoJSON FeatureCollection "
		    "(%s)\n", path, PQerrorMessage(c));
		return -1;
	}
	if (atol(PQgetvalue(res, 0, 0)) > 0 || atol(PQgetvalue(res, 0, 1)) == 0) {
		fprintf(stderr, "guichet: %s: %s feature(s) without code, nom or "
		    "geometry, of %s\n", path, PQgetvalue(res, 0, 0),
		    PQgetvalue(res, 0, 1));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	res = db_exec(c, &e, "INSERT INTO ref_zones (kind, code, nom, geom) "
	    "SELECT $1, f->'properties'->>'code', f->'properties'->>'nom', "
	    "ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID("
	    "ST_GeomFromGeoJSON(f->>'geometry'), 4326)), 3)) "
	    "FROM " FEATURES " "
	    "ON CONFLICT (kind, code) DO UPDATE SET nom = EXCLUDED.nom, "
	    "geom = EXCLUDED.geom", 2, v);
	if (res == NULL) {
		fprintf(stderr, "guichet: %s: %s", path, PQerrorMessage(c));
		return -1;
	}
	*count = atol(PQcmdTuples(res));
	PQclear(res);
	return 0;
}

static int
load_cog(PGconn *c, const char *path, const char *text, long *count)
{
	struct db_err	 e;
	PGresult	*res;
	const char	*v[1] = { text };

	res = db_exec(c, &e, "INSERT INTO ref_communes (code, type, nom, "
	    "departement, region, codes_postaux, chef_lieu, anciens_codes, "
	    "siren) SELECT e->>'code', e->>'type', e->>'nom', "
	    "e->>'departement', e->>'region', ARRAY(SELECT "
	    "jsonb_array_elements_text(coalesce(e->'codesPostaux', '[]'))), "
	    "coalesce(e->>'chefLieu', e->>'commune'), ARRAY(SELECT "
	    "jsonb_array_elements_text(coalesce(e->'anciensCodes', '[]'))), "
	    "e->>'siren' FROM jsonb_array_elements($1::jsonb) e "
	    "ON CONFLICT (code, type) DO UPDATE SET nom = EXCLUDED.nom, "
	    "departement = EXCLUDED.departement, region = EXCLUDED.region, "
	    "codes_postaux = EXCLUDED.codes_postaux, "
	    "chef_lieu = EXCLUDED.chef_lieu, anciens_codes = "
	    "EXCLUDED.anciens_codes, siren = EXCLUDED.siren", 1, v);
	if (res == NULL) {
		fprintf(stderr, "guichet: %s: not the commune list of "
		    "@etalab/decoupage-administratif: %s", path,
		    PQerrorMessage(c));
		return -1;
	}
	*count = atol(PQcmdTuples(res));
	PQclear(res);
	return 0;
}

/* Expands folders (and the npm package's folder) into the files to load. */
static void
collect(const char *path, char ***files, size_t *n)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		*sub;

	if (stat(path, &st) != 0)
		fatal("%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		if (kind_of(path) == R_NONE)
			fatal("%s: not a reference file (region*.geojson, "
			    "departements*.geojson, communes*.geojson or "
			    "communes.json)", path);
		*files = xreallocarray(*files, *n + 1, sizeof(**files));
		(*files)[(*n)++] = xstrdup(path);
		return;
	}
	sub = xasprintf("%s/data/communes.json", path);
	if (stat(sub, &st) == 0) {	/* @etalab/decoupage-administratif */
		collect(sub, files, n);
		free(sub);
		return;
	}
	free(sub);
	if ((d = opendir(path)) == NULL)
		fatal("%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || kind_of(de->d_name) == R_NONE)
			continue;
		sub = xasprintf("%s/%s", path, de->d_name);
		collect(sub, files, n);
		free(sub);
	}
	closedir(d);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * With --replace, what the load brings replaces everything of its kinds:
 * the way to move to newer outlines (communes merge, codes go away).
 * Kinds not in the load are left alone.
 */
static int
replace_kinds(PGconn *c, char **files, size_t nfiles)
{
	struct db_err	 e;
	const char	*v[1];
	size_t		 i;
	int		 done[5] = { 0 }, k;

	for (i = 0; i < nfiles; i++) {
		k = kind_of(files[i]);
		if (done[k]++)
			continue;
		v[0] = kind_names[k];
		if (db_run(c, &e, k == R_COG ? "DELETE FROM ref_communes WHERE "
		    "$1::text IS NOT NULL" : "DELETE FROM ref_zones WHERE kind = $1",
		    1, v)) {
			fprintf(stderr, "guichet: cannot replace the %s data: %s",
			    kind_names[k], PQerrorMessage(c));
			return -1;
		}
	}
	return 0;
}

int
refdata_load(int npaths, char **paths)
{
	struct db_err	 e;
	char		 err[512], **files = NULL, *text;
	long		 counts[5] = { 0 }, n;
	size_t		 nfiles = 0, i, len;
	PGconn		*c;
	int		 rc = 1, k, replace = 0;

	if (npaths > 0 && strcmp(paths[0], "--replace") == 0) {
		replace = 1;
		npaths--;
		paths++;
	}
	if (npaths == 0)
		fatal("usage: guichet load-refdata [--replace] PATH...");
	for (k = 0; k < npaths; k++)
		collect(paths[k], &files, &nfiles);
	if (nfiles == 0)
		fatal("no reference file found in the paths given");
	qsort(files, nfiles, sizeof(*files), cmp_str);
	if ((c = db_connect(err, sizeof(err))) == NULL)
		fatal("cannot connect to PostgreSQL: %s", err);
	if (db_run(c, &e, "BEGIN", 0, NULL))
		fatal("BEGIN: %s", PQerrorMessage(c));
	if (replace && replace_kinds(c, files, nfiles))
		goto out;
	for (i = 0; i < nfiles; i++) {
		enum rkind kind = kind_of(files[i]);

		if ((text = file_read(files[i], &len)) == NULL) {
			fprintf(stderr, "guichet: %s: %s\n", files[i],
			    strerror(errno));
			goto out;
		}
		n = 0;
		k = kind == R_COG ? load_cog(c, files[i], text, &n) :
		    load_outlines(c, files[i], kind, text, &n);
		free(text);
		if (k != 0)
			goto out;
		counts[kind] += n;
	}
	if (db_run(c, &e, "COMMIT", 0, NULL)) {
		fprintf(stderr, "guichet: COMMIT: %s", PQerrorMessage(c));
		goto out;
	}
	printf("reference data loaded from %zu file(s): %ld region(s), %ld "
	    "département(s), %ld commune outline(s), %ld COG commune "
	    "entries\n", nfiles, counts[R_REGION], counts[R_DEPARTEMENT],
	    counts[R_COMMUNE], counts[R_COG]);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "guichet: nothing was loaded\n");
	PQfinish(c);
	for (i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	return rc;
}
