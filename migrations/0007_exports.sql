-- Exports: batches of validated data for IGN (BD TOPO contribution formats,
-- Espace collaboratif transactions) and for the national address base
-- (BAL 1.4), each recorded with its files and their SHA-256 so that it can
-- be downloaded again byte for byte. A batch is also the job that writes it:
-- claimed by a server with SELECT … FOR UPDATE SKIP LOCKED, taken over by
-- another when its heartbeat stops.

-- The producer of a BAL file is the commune: its SIREN names the file.
ALTER TABLE ref_communes ADD COLUMN siren text;

-- Is a record at (commune, département) in an export's scope? An empty
-- scope is everything.
CREATE FUNCTION guichet_in_scope(depts text[], communes text[], commune text,
    dept text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT cardinality(depts) + cardinality(communes) = 0 OR
	    guichet_covers(depts, communes, commune, dept)
$$;

-- A scope as one comparable text: the sorted codes ('' is everything).
CREATE FUNCTION guichet_scope(depts text[], communes text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT (SELECT coalesce(string_agg(d, ',' ORDER BY d), '') FROM unnest(depts) d)
	    || ';' || (SELECT coalesce(string_agg(c, ',' ORDER BY c), '') FROM unnest(communes) c)
$$;

CREATE TABLE export_batches (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	guichet		text NOT NULL CHECK (guichet IN ('erp', 'equipco', 'adresse')),
	format		text NOT NULL CHECK (format IN ('gpkg', 'geojson', 'csv',
			    'csv_shp', 'bal', 'ign')),
	-- incremental: what was validated (created, modified, deleted) in the
	-- event log after after_seq up to upto_seq; full: what is validated.
	mode		text NOT NULL CHECK (mode IN ('incremental', 'full')),
	departements	text[] NOT NULL DEFAULT '{}' CHECK (guichet_dept_codes_ok(departements)),
	communes	text[] NOT NULL DEFAULT '{}' CHECK (guichet_commune_codes_ok(communes)),
	-- The scope as one text ('' is everything), for "the previous batch
	-- of the same guichet, format and scope".
	scope		text NOT NULL,
	after_seq	bigint NOT NULL,
	upto_seq	bigint NOT NULL CHECK (upto_seq >= after_seq),
	state		text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued',
			    'running', 'done', 'failed')),
	progress	bigint NOT NULL DEFAULT 0,
	total		bigint,
	counts		jsonb NOT NULL DEFAULT '{}',
	error		text,
	attempts	integer NOT NULL DEFAULT 0,
	-- NULL: asked for on the command line (guichet export).
	created_by	bigint REFERENCES users (id),
	created_at	timestamptz NOT NULL DEFAULT now(),
	started_at	timestamptz,
	heartbeat_at	timestamptz,
	finished_at	timestamptz
);
-- Incremental batches of one guichet, format and scope follow each other:
-- two cannot start from the same point (a failed one leaves its window to
-- the next; an empty one holds nothing to repeat).
CREATE UNIQUE INDEX export_batches_chain_idx ON export_batches
	(guichet, format, scope, after_seq) WHERE mode = 'incremental' AND
	state <> 'failed' AND upto_seq > after_seq;
CREATE INDEX export_batches_queue_idx ON export_batches (id)
	WHERE state IN ('queued', 'running');
CREATE INDEX export_batches_list_idx ON export_batches (guichet, id DESC);

CREATE TABLE export_files (
	batch_id	bigint NOT NULL REFERENCES export_batches (id),
	name		text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,200}$'),
	media_type	text NOT NULL,
	bytes		bigint NOT NULL,
	sha256		text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	rows		bigint NOT NULL,
	PRIMARY KEY (batch_id, name)
);
-- What a batch wrote is never rewritten.
CREATE TRIGGER export_files_append_only BEFORE UPDATE OR DELETE ON export_files
	FOR EACH ROW EXECUTE FUNCTION guichet_append_only();

-- The change feed: the objects of a guichet validated, modified or deleted
-- in (after_seq, upto_seq] of the event log, with the operation an export
-- carries for each (an object created and deleted within the window
-- carries none).
CREATE FUNCTION guichet_changes(g text, after_seq bigint, upto_seq bigint)
RETURNS TABLE (id bigint, operation text)
LANGUAGE sql STABLE AS $$
	SELECT obj, CASE WHEN bool_or(d) THEN 'delete' WHEN bool_or(c) THEN
	    'create' ELSE 'modify' END
	FROM (SELECT e.submission_id AS obj,
		e.kind = 'transition' AS c, e.kind = 'object.deleted' AS d
	    FROM events e JOIN submissions s ON s.id = e.submission_id
	    WHERE e.seq > after_seq AND e.seq <= upto_seq AND s.guichet = g
	    AND s.operation = 'create' AND (e.kind IN ('object.modified',
	    'object.deleted') OR (e.kind = 'transition' AND
	    e.payload->>'action' = 'validate' AND (e.payload->>'final')::boolean))) t
	GROUP BY obj
	HAVING NOT (bool_or(c) AND bool_or(d))
$$;
