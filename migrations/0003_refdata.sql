-- Reference data: administrative outlines (region, départements, communes)
-- from GeoJSON files, and the current commune list of the COG (names,
-- postcodes, communes déléguées) from @etalab/decoupage-administratif.
-- Loaded by `guichet load-refdata`; nothing here is edited by users.

CREATE TABLE ref_zones (
	kind	text NOT NULL CHECK (kind IN ('region', 'departement', 'commune')),
	code	text NOT NULL,
	nom	text NOT NULL,
	geom	geometry(MultiPolygon, 4326) NOT NULL,
	PRIMARY KEY (kind, code)
);
CREATE INDEX ref_zones_geom_idx ON ref_zones USING gist (geom);

CREATE TABLE ref_communes (
	code		text NOT NULL,
	type		text NOT NULL CHECK (type IN ('commune-actuelle', 'commune-deleguee',
			    'commune-associee', 'arrondissement-municipal')),
	nom		text NOT NULL,
	departement	text,
	region		text,
	codes_postaux	text[] NOT NULL DEFAULT '{}',
	-- For déléguées, associées and arrondissements: the commune they belong to.
	chef_lieu	text,
	anciens_codes	text[] NOT NULL DEFAULT '{}',
	PRIMARY KEY (code, type)
);
CREATE INDEX ref_communes_chef_lieu_idx ON ref_communes (chef_lieu);
