-- Member accounts: organisations with their territory, users with a role,
-- sessions and API tokens stored as hashes only, one-time tokens for
-- invitations and password resets, the mail outbox, login throttling and
-- the account event log.

-- The kinds of member organisations; a table so that a platform can add its own.
CREATE TABLE organisation_kinds (
	code	text PRIMARY KEY CHECK (code ~ '^[a-z_]{2,32}$'),
	label	text NOT NULL
);
INSERT INTO organisation_kinds (code, label) VALUES
	('commune', 'Commune'),
	('epci', 'EPCI'),
	('departement', 'Département'),
	('region', 'Région'),
	('prefecture', 'Préfecture'),
	('ddt', 'DDT(M)'),
	('etat', 'Autre service de l''État'),
	('sdis', 'SDIS'),
	('ign', 'IGN'),
	('openig', 'OPenIG'),
	('entreprise', 'Entreprise'),
	('association', 'Association');

-- A territory is a set of départements and communes (INSEE codes).
CREATE FUNCTION guichet_dept_codes_ok(text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(bool_and(c ~ '^([0-9]{2}|2[AB]|97[1-6])$'), true) FROM unnest($1) c
$$;
CREATE FUNCTION guichet_commune_codes_ok(text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(bool_and(c ~ '^([0-9]{2}|2[AB])[0-9]{3}$' OR c ~ '^97[1-6][0-9]{2}$'), true)
	FROM unnest($1) c
$$;

CREATE TABLE organisations (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name		text NOT NULL CHECK (length(name) BETWEEN 2 AND 200),
	kind		text NOT NULL REFERENCES organisation_kinds (code),
	siren		text UNIQUE CHECK (siren ~ '^[0-9]{9}$'),
	departements	text[] NOT NULL DEFAULT '{}' CHECK (guichet_dept_codes_ok(departements)),
	communes	text[] NOT NULL DEFAULT '{}' CHECK (guichet_commune_codes_ok(communes)),
	active		boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organisations_name_key ON organisations (lower(name));

CREATE TABLE users (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email		text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254),
	display_name	text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 120),
	organisation_id	bigint NOT NULL REFERENCES organisations (id),
	role		text NOT NULL CHECK (role IN ('contributor', 'reviewer', 'org_admin', 'admin')),
	-- A restriction inside the organisation's territory; NULL: all of it.
	departements	text[] CHECK (guichet_dept_codes_ok(departements)),
	communes	text[] CHECK (guichet_commune_codes_ok(communes)),
	-- Argon2id (libsodium crypto_pwhash_str); NULL until an invitation is accepted.
	password_hash	text,
	is_service	boolean NOT NULL DEFAULT false,
	active		boolean NOT NULL DEFAULT true,
	last_login_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_organisation_idx ON users (organisation_id);

-- Browser sessions: the cookie holds a 256-bit token, the table its SHA-256.
CREATE TABLE sessions (
	token_hash	text PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id),
	csrf_token	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_seen_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	revoked_at	timestamptz,
	client_addr	inet
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- API tokens for external systems: shown once, stored as SHA-256, scoped.
CREATE TABLE api_tokens (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	token_hash	text NOT NULL UNIQUE,
	prefix		text NOT NULL,
	scopes		text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'submit', 'review', 'export', 'admin']
			    AND cardinality(scopes) > 0),
	created_by	bigint NOT NULL REFERENCES users (id),
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz,
	last_used_at	timestamptz,
	revoked_at	timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- Invitations and password resets: single use, expiring, stored as SHA-256.
CREATE TABLE one_time_tokens (
	token_hash	text PRIMARY KEY,
	kind		text NOT NULL CHECK (kind IN ('invitation', 'reset')),
	user_id		bigint NOT NULL REFERENCES users (id),
	created_by	bigint REFERENCES users (id),
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz
);

-- Mail to send. Written in the same transaction as what it announces.
CREATE TABLE outbox (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	to_addr		text NOT NULL,
	subject		text NOT NULL,
	body		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	sent_at		timestamptz,
	attempts	integer NOT NULL DEFAULT 0,
	last_error	text
);
CREATE INDEX outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL;

-- Login failures per account (lower-case email) and per source address.
CREATE TABLE login_throttle (
	key		text PRIMARY KEY,
	failures	integer NOT NULL DEFAULT 0,
	last_failure_at	timestamptz NOT NULL DEFAULT now(),
	blocked_until	timestamptz
);

-- Who did what to which account, from where.
CREATE TABLE account_events (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	kind		text NOT NULL,
	actor_id	bigint REFERENCES users (id),
	user_id		bigint REFERENCES users (id),
	organisation_id	bigint REFERENCES organisations (id),
	client_addr	inet,
	detail		jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX account_events_org_idx ON account_events (organisation_id, at DESC);
CREATE INDEX account_events_user_idx ON account_events (user_id, at DESC);
