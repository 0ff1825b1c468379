-- Idempotency keys (the Idempotency-Key request header, on the routes that
-- create): the answer given to the first request that succeeded with a key,
-- so that a client's retry after a lost answer gets it again instead of
-- creating a second time. A row is written in the transaction that created
-- what the answer announces, so that one never exists without the other.
-- Keys belong to a user and a route; a row older than a day is no longer
-- looked at, and is purged now and then by the servers.

CREATE TABLE idempotency_keys (
	user_id		bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	-- The route as declared ("POST /api/v1/imports"), not the path.
	route		text NOT NULL CHECK (length(route) BETWEEN 1 AND 300),
	key		text NOT NULL CHECK (key ~ '^[ -~]{1,255}$'),
	-- SHA-256 of the method, the request target and the body: the same
	-- key with another request is refused.
	fingerprint	text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
	-- Only successes are kept: a refusal created nothing to protect.
	status		smallint NOT NULL CHECK (status BETWEEN 200 AND 299),
	-- The answer's headers that say what was created (Content-Type, ETag,
	-- Location), {name: value}, and its body as sent.
	headers		jsonb NOT NULL DEFAULT '{}',
	body		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, route, key)
);

-- The purge deletes by age.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
