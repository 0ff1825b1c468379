-- Bulk imports: an organisation brings its existing base (an SDIS's ERP
-- from Prevarisc, a commune's BAL file) into a guichet. The file is kept
-- as uploaded; a dry run checks every row exactly as a hand-entered
-- submission is checked and records a report per row; a commit turns the
-- rows without errors into submissions, all at once, recorded as one
-- batch that can be cancelled as long as none of its rows was reviewed.
-- Checking and committing are jobs, claimed like export batches.

CREATE TABLE imports (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	guichet		text NOT NULL CHECK (guichet IN ('erp', 'equipco', 'adresse')),
	organisation_id	bigint NOT NULL REFERENCES organisations (id),
	created_by	bigint NOT NULL REFERENCES users (id),
	filename	text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
	format		text NOT NULL CHECK (format IN ('csv', 'geojson', 'gpkg')),
	bytes		bigint NOT NULL CHECK (bytes >= 0),
	sha256		text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	-- What was read of the file: encoding and separator (CSV), the
	-- source columns in order, a few rows to map from.
	encoding	text,
	separator	text,
	columns		jsonb NOT NULL DEFAULT '[]',
	sample		jsonb NOT NULL DEFAULT '[]',
	-- The mapping: form field -> source column; the geometry's source
	-- ({"kind": "native"} | {"kind": "wkt", "column"} | {"kind": "xy",
	-- "x", "y"} in EPSG:2154 | {"kind": "lonlat", "lon", "lat"}); per
	-- enumeration field, source value -> form value.
	mapping		jsonb NOT NULL DEFAULT '{}',
	geometry	jsonb,
	value_map	jsonb NOT NULL DEFAULT '{}',
	-- Rows become submitted records, or validated ones when the importing
	-- organisation is the competent authority and asked for it.
	validate	boolean NOT NULL DEFAULT false,
	state		text NOT NULL DEFAULT 'uploaded' CHECK (state IN ('uploaded',
			    'checking', 'checked', 'committing', 'committed',
			    'cancelled', 'failed')),
	progress	bigint NOT NULL DEFAULT 0,
	total		bigint,
	counts		jsonb NOT NULL DEFAULT '{}',
	error		text,
	attempts	integer NOT NULL DEFAULT 0,
	heartbeat_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	checked_at	timestamptz,
	committed_at	timestamptz,
	cancelled_at	timestamptz
);
CREATE INDEX imports_jobs_idx ON imports (id) WHERE state IN ('checking', 'committing');
CREATE INDEX imports_org_idx ON imports (organisation_id, id DESC);

-- The report: one row per record of the file, with its problems (errors
-- and warnings, each {field, code, message}) and what a commit would save.
CREATE TABLE import_rows (
	import_id	bigint NOT NULL REFERENCES imports (id),
	line		bigint NOT NULL,	-- CSV line, or feature number
	-- skipped: a row the format carries that is no record (a BAL
	-- file's lieu-dit line, numéro 99999).
	status		text NOT NULL CHECK (status IN ('valid', 'warning', 'error',
			    'skipped')),
	errors		jsonb NOT NULL DEFAULT '[]',
	warnings	jsonb NOT NULL DEFAULT '[]',
	attributes	jsonb,
	geom		geometry(Geometry, 4326),
	label		text,
	insee_commune	text,
	departement	text,
	submission_id	bigint REFERENCES submissions (id),
	PRIMARY KEY (import_id, line)
);
CREATE INDEX import_rows_geom_idx ON import_rows USING gist (geom);

-- The mapping an organisation last used for a guichet, suggested next time.
CREATE TABLE import_mappings (
	organisation_id	bigint NOT NULL REFERENCES organisations (id),
	guichet		text NOT NULL CHECK (guichet IN ('erp', 'equipco', 'adresse')),
	mapping		jsonb NOT NULL,
	geometry	jsonb,
	value_map	jsonb NOT NULL DEFAULT '{}',
	updated_by	bigint NOT NULL REFERENCES users (id),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (organisation_id, guichet)
);

-- The batch a submission came in with.
ALTER TABLE submissions ADD COLUMN import_id bigint REFERENCES imports (id);
CREATE INDEX submissions_import_idx ON submissions (import_id) WHERE import_id IS NOT NULL;

-- The event chain, for batches: a commit of an import appends tens of
-- thousands of events in one statement, and updating event_head twice per
-- event made each update walk the row's earlier versions in that
-- transaction (quadratic: 20,000 events took 46 s). Each event now reads
-- the previous link from the log itself (its primary key's last entry,
-- earlier rows of the same statement included), under the chain's lock,
-- and event_head is written once per statement. Same hashes, same chain.
CREATE OR REPLACE FUNCTION guichet_event_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	last_seq	bigint;
	last_hash	bytea;
BEGIN
	PERFORM 1 FROM event_head FOR UPDATE;
	SELECT seq, hash INTO last_seq, last_hash FROM events ORDER BY seq DESC
	    LIMIT 1;
	IF NOT FOUND THEN
		SELECT seq, hash INTO last_seq, last_hash FROM event_head;
	END IF;
	NEW.seq := last_seq + 1;
	NEW.prev_hash := last_hash;
	NEW.at := clock_timestamp();
	NEW.hash := sha256(NEW.prev_hash || convert_to(guichet_event_text(
	    NEW.seq, NEW.at, NEW.kind, NEW.actor_id, NEW.submission_id,
	    NEW.payload), 'UTF8'));
	RETURN NEW;
END $$;

CREATE FUNCTION guichet_event_head() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE event_head h SET seq = e.seq, hash = e.hash FROM (SELECT seq, hash
	    FROM events ORDER BY seq DESC LIMIT 1) e;
	RETURN NULL;
END $$;
CREATE TRIGGER events_head AFTER INSERT ON events
	FOR EACH STATEMENT EXECUTE FUNCTION guichet_event_head();
