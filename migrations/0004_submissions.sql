-- Submissions to the three guichets: attributes validated by the guichet's
-- form (forms/<guichet>.json), a geometry in EPSG:4326, and the commune and
-- département it falls in, indexed for the queues, exports and duplicate
-- search that read them.
CREATE TABLE submissions (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	-- Stable public id (BAL id_ban_adresse for addresses); never reused.
	uid		uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
	guichet		text NOT NULL CHECK (guichet IN ('erp', 'equipco', 'adresse')),
	state		text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft',
			    'submitted', 'in_review', 'changes_requested',
			    'validated', 'rejected', 'withdrawn')),
	attributes	jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
	geom		geometry(Geometry, 4326) CHECK (geom IS NULL OR
			    GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON')),
	-- The form's name field, for searching and for the duplicate check.
	label		text,
	insee_commune	text,
	departement	text,
	author_id	bigint NOT NULL REFERENCES users (id),
	organisation_id	bigint NOT NULL REFERENCES organisations (id),
	version		integer NOT NULL DEFAULT 1,
	-- Warnings the author saw and confirmed when submitting.
	warnings	jsonb NOT NULL DEFAULT '[]',
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	submitted_at	timestamptz
);
CREATE INDEX submissions_geom_idx ON submissions USING gist (geom);
CREATE INDEX submissions_guichet_state_idx ON submissions (guichet, state);
CREATE INDEX submissions_commune_idx ON submissions (insee_commune);
CREATE INDEX submissions_departement_idx ON submissions (departement);
CREATE INDEX submissions_author_idx ON submissions (author_id, guichet);
CREATE INDEX submissions_organisation_idx ON submissions (organisation_id);
CREATE INDEX submissions_label_trgm_idx ON submissions USING gin (label gin_trgm_ops);
