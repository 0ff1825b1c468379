// The database layer seen from HTTP: surviving a PostgreSQL restart, and
// starting and serving without a reachable database.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import {
  JSON_TYPE, ROOT, SLOW, assertSecurityHeaders, psql, sleep, startServer, waitFor,
} from './harness.mjs';

/** Restarts the shared PostgreSQL cluster (fast mode) and waits for it. */
function restartCluster() {
  const r = spawnSync('make', ['-s', 'db-restart', `DB_PORT=${process.env.PGPORT}`], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `make db-restart failed:\n${r.stdout}\n${r.stderr}`);
}

async function health(base) {
  const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(15_000 * SLOW) });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

describe('PostgreSQL restarted under a running server', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { await srv?.stop(); });

  test('/healthz is 200 before the restart', async () => {
    // Several requests, so that every worker thread holds a connection.
    const got = await Promise.all(Array.from({ length: 16 }, () => health(srv.base)));
    assert.deepEqual(got.map((h) => h.status), Array(16).fill(200));
  });

  test('after `make db-restart`, /healthz is 200 again within a few seconds and the process lives on', async () => {
    restartCluster();
    const t0 = Date.now();
    const h = await waitFor(async () => {
      try {
        const x = await health(srv.base);
        return x.status === 200 ? x : null;
      } catch {
        return null;
      }
    }, { timeoutMs: 20_000 * SLOW, intervalMs: 250, what: '/healthz 200 after the restart' });
    assert.equal(h.body.database, 'ok');
    assert.ok(Date.now() - t0 < 20_000 * SLOW);
    assert.ok(srv.alive(), 'the server process died');
  });

  test('every worker reconnected: 32 requests in a row are all 200', async () => {
    for (let i = 0; i < 32; i++) {
      const h = await health(srv.base);
      assert.equal(h.status, 200, JSON.stringify(h.body));
    }
    const got = await Promise.all(Array.from({ length: 16 }, () => health(srv.base)));
    assert.deepEqual(got.map((h) => h.status), Array(16).fill(200));
  });

  test('the first requests right after a restart already succeed (idempotent query retried on a new connection)', async () => {
    const warm = await Promise.all(Array.from({ length: 16 }, () => health(srv.base)));
    assert.deepEqual(warm.map((h) => h.status), Array(16).fill(200));
    restartCluster();
    const got = await Promise.all(Array.from({ length: 16 }, () => health(srv.base)));
    assert.deepEqual(got.map((h) => h.status), Array(16).fill(200), JSON.stringify(got.map((h) => h.body)));
    assert.ok(srv.alive());
  });

  test('the server still stops cleanly', async () => {
    const { code, stderr } = await srv.stop();
    assert.equal(code, 0);
    assert.match(stderr, /\bstopped$/m);
  });
});

describe('connections killed by PostgreSQL, and a broken schema', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { await srv?.stop(); });

  const killGuichetBackends = () => Number(psql('postgres',
    `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '${srv.db}' AND application_name = 'guichet'`));

  test('after pg_terminate_backend of every guichet connection, /healthz answers 200 at once', async () => {
    const warm = await Promise.all(Array.from({ length: 16 }, () => health(srv.base)));
    assert.deepEqual(warm.map((h) => h.status), Array(16).fill(200));
    assert.ok(killGuichetBackends() >= 1, 'no guichet connection to kill');
    const got = await Promise.all(Array.from({ length: 16 }, () => health(srv.base)));
    assert.deepEqual(got.map((h) => h.status), Array(16).fill(200), JSON.stringify(got.map((h) => h.body)));
  });

  test('without schema_migrations, /healthz → 503 database "error" (not "unreachable")', async () => {
    psql(srv.db, 'ALTER TABLE schema_migrations RENAME TO schema_migrations_away');
    try {
      const h = await health(srv.base);
      assert.equal(h.status, 503);
      assert.equal(h.body.status, 'unavailable');
      assert.equal(h.body.database, 'error');
      assert.match(h.body.reason, /migrate/);
      assert.match(h.headers.get('retry-after') ?? '', /^\d+$/);
    } finally {
      psql(srv.db, 'ALTER TABLE schema_migrations_away RENAME TO schema_migrations');
    }
    assert.equal((await health(srv.base)).status, 200);
  });
});

describe('an unreachable database', () => {
  let srv;
  before(async () => {
    srv = await startServer({
      db: false, migrate: false,
      env: { GUICHET_DATABASE: 'host=127.0.0.1 port=1 dbname=x connect_timeout=1' },
    });
  });
  after(async () => { await srv?.stop(); });

  test('the server starts anyway and says so', () => {
    assert.ok(srv.alive());
    assert.match(srv.stderr(), /PostgreSQL unreachable at start-up/);
    assert.match(srv.stderr(), /listening on/);
  });

  test('/healthz → 503 {"status":"unavailable","database":"unreachable","reason":...} with Retry-After', async () => {
    const h = await health(srv.base);
    assert.equal(h.status, 503);
    assert.equal(h.headers.get('content-type'), JSON_TYPE);
    assert.equal(h.headers.get('cache-control'), 'no-store');
    assert.match(h.headers.get('retry-after') ?? '', /^\d+$/);
    assert.equal(h.body.status, 'unavailable');
    assert.equal(h.body.database, 'unreachable');
    assert.equal(typeof h.body.reason, 'string');
    assert.ok(h.body.reason.length > 0);
    assertSecurityHeaders(h.headers);
  });

  test('the 503 does not reveal the connection string', async () => {
    const res = await fetch(`${srv.base}/healthz`);
    const text = await res.text();
    for (const secret of ['port=1', '127.0.0.1', 'dbname', 'connect_timeout']) {
      assert.ok(!text.includes(secret), `${secret} in ${text}`);
    }
  });

  test('a burst of /healthz all answer 503 quickly', async () => {
    const t0 = Date.now();
    const got = await Promise.all(Array.from({ length: 20 }, () => health(srv.base)));
    assert.deepEqual(got.map((h) => h.status), Array(20).fill(503));
    assert.ok(Date.now() - t0 < 15_000 * SLOW);
  });

  test('HEAD /healthz → 503', async () => {
    const res = await fetch(`${srv.base}/healthz`, { method: 'HEAD' });
    assert.equal(res.status, 503);
  });

  test('static files are still served', async () => {
    for (const p of ['/', '/css/guichet.css', '/js/accueil.js']) {
      const res = await fetch(`${srv.base}${p}`);
      assert.equal(res.status, 200, p);
      await res.arrayBuffer();
    }
    const res = await fetch(`${srv.base}/nope`);
    assert.equal(res.status, 404);
    await res.arrayBuffer();
  });

  test('/csp-report still answers 204', async () => {
    const res = await fetch(`${srv.base}/csp-report`, {
      method: 'POST', headers: { 'Content-Type': 'application/csp-report' }, body: '{"csp-report":{}}',
    });
    assert.equal(res.status, 204);
  });

  test('the server stays up and stops with exit 0', async () => {
    await sleep(100);
    assert.ok(srv.alive());
    const { code } = await srv.stop();
    assert.equal(code, 0);
  });
});
