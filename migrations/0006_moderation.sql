-- Moderation: the competent authorities' decisions, every version of a
-- record, amendments to validated objects, comments, notifications, and the
-- hash-chained event log that makes all of it tamper-evident.

-- A validated object removed by a validated deletion request.
ALTER TABLE submissions DROP CONSTRAINT submissions_state_check;
ALTER TABLE submissions ADD CONSTRAINT submissions_state_check CHECK (state IN (
	'draft', 'submitted', 'in_review', 'changes_requested', 'validated',
	'rejected', 'withdrawn', 'deleted'));

-- An amendment is a submission about a validated object (target): it
-- modifies it or asks for its removal, and is applied when validated, if
-- the object is still at the version the amendment was made from.
ALTER TABLE submissions
	ADD COLUMN operation text NOT NULL DEFAULT 'create'
	    CHECK (operation IN ('create', 'modify', 'delete')),
	ADD COLUMN target_id bigint REFERENCES submissions (id),
	ADD COLUMN target_version integer,
	-- Each submission to the reviewers opens a round; sign-offs count
	-- within their round only.
	ADD COLUMN round integer NOT NULL DEFAULT 0,
	ADD COLUMN due_at timestamptz,
	ADD COLUMN decided_at timestamptz,
	ADD COLUMN updated_by bigint REFERENCES users (id),
	ADD CONSTRAINT submissions_target_check CHECK
	    ((operation = 'create') = (target_id IS NULL));
CREATE INDEX submissions_target_idx ON submissions (target_id) WHERE target_id IS NOT NULL;
CREATE INDEX submissions_queue_idx ON submissions (guichet, submitted_at)
	WHERE state IN ('submitted', 'in_review');
UPDATE submissions SET updated_by = author_id;
UPDATE submissions SET round = 1, due_at = submitted_at + interval '15 days'
	WHERE submitted_at IS NOT NULL;

-- Every version of every record, written by the database itself whenever
-- the version number moves, so that no code path can forget it.
CREATE TABLE submission_versions (
	submission_id	bigint NOT NULL REFERENCES submissions (id),
	version		integer NOT NULL,
	state		text NOT NULL,
	attributes	jsonb NOT NULL,
	geom		geometry(Geometry, 4326),
	label		text,
	insee_commune	text,
	saved_by	bigint REFERENCES users (id),
	saved_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (submission_id, version)
);
CREATE FUNCTION guichet_keep_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' OR NEW.version <> OLD.version THEN
		INSERT INTO submission_versions (submission_id, version, state,
		    attributes, geom, label, insee_commune, saved_by)
		VALUES (NEW.id, NEW.version, NEW.state, NEW.attributes, NEW.geom,
		    NEW.label, NEW.insee_commune, coalesce(NEW.updated_by, NEW.author_id));
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER submissions_keep_version AFTER INSERT OR UPDATE ON submissions
	FOR EACH ROW EXECUTE FUNCTION guichet_keep_version();
INSERT INTO submission_versions (submission_id, version, state, attributes,
    geom, label, insee_commune, saved_by, saved_at)
SELECT id, version, state, attributes, geom, label, insee_commune, author_id,
    updated_at FROM submissions;

-- The decisions of reviewers, one row each, never changed. authority is the
-- code of the reviewing authority in the guichet's form (review.authorities)
-- or 'admin' for a platform administrator; remarks map fields to remarks.
CREATE TABLE reviews (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	submission_id	bigint NOT NULL REFERENCES submissions (id),
	round		integer NOT NULL,
	version		integer NOT NULL,
	authority	text NOT NULL,
	organisation_id	bigint NOT NULL REFERENCES organisations (id),
	reviewer_id	bigint NOT NULL REFERENCES users (id),
	decision	text NOT NULL CHECK (decision IN ('validate', 'reject',
			    'request_changes')),
	reason		text,
	comment		text CHECK (length(comment) <= 5000),
	remarks		jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(remarks) = 'object'),
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reviews_submission_idx ON reviews (submission_id, round);

-- Who of each authority handles a record.
CREATE TABLE assignments (
	submission_id	bigint NOT NULL REFERENCES submissions (id),
	authority	text NOT NULL,
	user_id		bigint NOT NULL REFERENCES users (id),
	assigned_by	bigint NOT NULL REFERENCES users (id),
	assigned_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (submission_id, authority)
);
CREATE INDEX assignments_user_idx ON assignments (user_id);

CREATE TABLE comments (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	submission_id	bigint NOT NULL REFERENCES submissions (id),
	author_id	bigint NOT NULL REFERENCES users (id),
	field		text,
	body		text NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comments_submission_idx ON comments (submission_id, id);

-- The in-app list; mail goes through the outbox (immediately, or in the
-- daily digest for those who chose it).
CREATE TABLE notifications (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id),
	kind		text NOT NULL,
	submission_id	bigint REFERENCES submissions (id),
	message		text NOT NULL,
	link		text NOT NULL,	-- the page of the web UI it leads to
	created_at	timestamptz NOT NULL DEFAULT now(),
	read_at		timestamptz,
	digested_at	timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);
CREATE INDEX notifications_digest_idx ON notifications (user_id)
	WHERE digested_at IS NULL AND read_at IS NULL;
ALTER TABLE users ADD COLUMN notify text NOT NULL DEFAULT 'immediate'
	CHECK (notify IN ('immediate', 'digest', 'none'));

-- Is a record at (commune, département) inside a territory? The SQL twin of
-- terr_contains(), for the queries that look for competent reviewers.
CREATE FUNCTION guichet_covers(depts text[], communes text[], commune text,
    dept text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT commune = ANY(communes) OR dept = ANY(depts)
$$;
-- A user's territory: its own restriction, else its organisation's.
CREATE FUNCTION guichet_user_covers(u users, o organisations, commune text,
    dept text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN u.departements IS NULL AND u.communes IS NULL
	    THEN guichet_covers(o.departements, o.communes, commune, dept)
	    ELSE guichet_covers(coalesce(u.departements, '{}'),
	    coalesce(u.communes, '{}'), commune, dept) END
$$;

-- The event log: append-only and hash-chained. Each row's hash is
-- SHA-256(previous hash || guichet_event_text(row)); the head row holds the
-- last link, and updating it serialises writers, so the chain has one order
-- whatever the number of servers. `guichet audit verify` recomputes it.
CREATE TABLE events (
	seq		bigint PRIMARY KEY,
	at		timestamptz NOT NULL,
	kind		text NOT NULL,
	actor_id	bigint REFERENCES users (id),
	submission_id	bigint REFERENCES submissions (id),
	payload		jsonb NOT NULL DEFAULT '{}',
	prev_hash	bytea NOT NULL,
	hash		bytea NOT NULL
);
CREATE INDEX events_submission_idx ON events (submission_id, seq)
	WHERE submission_id IS NOT NULL;
CREATE INDEX events_kind_idx ON events (kind, seq);

CREATE TABLE event_head (
	one	boolean PRIMARY KEY DEFAULT true CHECK (one),
	seq	bigint NOT NULL,
	hash	bytea NOT NULL
);
INSERT INTO event_head VALUES (true, 0, decode(repeat('00', 32), 'hex'));

-- The text a link hashes: every column but the hashes, in a fixed format
-- (the time in microseconds since the epoch, exact); audit.c builds the
-- same text from the raw columns to verify, without this function.
CREATE FUNCTION guichet_event_text(seq bigint, at timestamptz, kind text,
    actor bigint, submission bigint, payload jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT seq::text || '|' || (extract(epoch FROM at) * 1000000)::bigint
	    || '|' || kind || '|' || coalesce(actor::text, '') || '|' ||
	    coalesce(submission::text, '') || '|' || payload::text
$$;

CREATE FUNCTION guichet_event_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE event_head SET seq = seq + 1 RETURNING seq, hash
	    INTO NEW.seq, NEW.prev_hash;
	NEW.at := clock_timestamp();
	NEW.hash := sha256(NEW.prev_hash || convert_to(guichet_event_text(
	    NEW.seq, NEW.at, NEW.kind, NEW.actor_id, NEW.submission_id,
	    NEW.payload), 'UTF8'));
	UPDATE event_head SET hash = NEW.hash;
	RETURN NEW;
END $$;
CREATE TRIGGER events_chain BEFORE INSERT ON events
	FOR EACH ROW EXECUTE FUNCTION guichet_event_chain();

CREATE FUNCTION guichet_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the event log is append-only'
	    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
	FOR EACH ROW EXECUTE FUNCTION guichet_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
	FOR EACH STATEMENT EXECUTE FUNCTION guichet_append_only();
CREATE TRIGGER reviews_append_only BEFORE UPDATE OR DELETE ON reviews
	FOR EACH ROW EXECUTE FUNCTION guichet_append_only();
CREATE TRIGGER reviews_no_truncate BEFORE TRUNCATE ON reviews
	FOR EACH STATEMENT EXECUTE FUNCTION guichet_append_only();
CREATE TRIGGER versions_append_only BEFORE UPDATE OR DELETE ON submission_versions
	FOR EACH ROW EXECUTE FUNCTION guichet_append_only();
CREATE TRIGGER versions_no_truncate BEFORE TRUNCATE ON submission_versions
	FOR EACH STATEMENT EXECUTE FUNCTION guichet_append_only();
CREATE TRIGGER comments_append_only BEFORE UPDATE OR DELETE ON comments
	FOR EACH ROW EXECUTE FUNCTION guichet_append_only();
CREATE TRIGGER comments_no_truncate BEFORE TRUNCATE ON comments
	FOR EACH STATEMENT EXECUTE FUNCTION guichet_append_only();
