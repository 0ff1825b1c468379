-- The API rate limit (api_rate_limit requests per minute per API token):
-- one token bucket per token, kept here rather than in each server's
-- memory so that the servers of a cluster, behind one proxy, count a
-- token's requests together instead of granting the rate once per server.
-- app/ratelimit.c updates a row with one statement per token request.
--
-- UNLOGGED: the row is written on every token request, and a transaction
-- that writes only unlogged tables neither writes WAL nor waits for it to
-- reach the disk at commit. The price is that a crash of PostgreSQL (not a
-- clean restart) empties the table, and a standby never has it: every
-- bucket is then full again, so a partner may make at most one extra
-- minute's worth of requests once. A limiter that protects the service
-- from runaway scripts can afford that; it holds nothing anyone needs.

CREATE UNLOGGED TABLE api_rate_buckets (
	-- A revoked token keeps its row (it is refused before the limiter is
	-- reached); a deleted one takes it along.
	token_id	bigint PRIMARY KEY
			    REFERENCES api_tokens (id) ON DELETE CASCADE,
	-- Requests left, between 0 and the rate: refilled at the rate per
	-- minute from "at" on, one taken by each request let through.
	level		double precision NOT NULL CHECK (level >= 0),
	-- When level was last computed (PostgreSQL's clock: one clock for
	-- every server).
	at		timestamptz NOT NULL,
	-- Whether the last request was let through: the statement returns it,
	-- and RETURNING sees only the row as updated.
	granted		boolean NOT NULL
);
