-- PostGIS for geometries (EPSG:4326 storage, ST_Transform to EPSG:2154 for
-- exports) and pg_trgm for the similar-name duplicate search. Creating them
-- needs a superuser: in production the DBA runs this file, or creates the
-- extensions beforehand (IF NOT EXISTS then makes it a no-op).
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
