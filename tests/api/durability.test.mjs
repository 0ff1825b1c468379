// Acknowledged means committed: submissions sent by several agents at once
// while the server is killed (SIGKILL, at a random moment, several times)
// or while PostgreSQL restarts. Every submission answered 201 is in the
// base exactly once with its event; one whose answer was lost is there at
// most once; one refused is not there; the event chain stays intact; the
// server recovers on its own from the database restart, answering 503
// meanwhile, never 500, never crashing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import {
  ROOT, SLOW, createDatabase, dropDatabase, pointsIn, psql, runGuichet, sleep, startServer, waitFor,
} from './harness.mjs';
import { Client, FAST_ARGON2, addOrg, addUser } from './accounts.mjs';

const AGENTS = 6;
const ROUNDS = 3;
let db;
let users;
let points;

before(async () => {
  db = createDatabase();
  const first = await startServer({ db, refdata: true, env: FAST_ARGON2 });
  await first.stop();
  const org = addOrg(db, { name: 'Commune de Toulouse', kind: 'commune', communes: '31555' });
  users = Array.from({ length: AGENTS }, (_, i) => addUser(db, { email: `agent${i}@durability.test`, org, role: 'contributor' }));
  points = pointsIn(db, '31555', 400);
});

after(() => {
  if (db) dropDatabase(db);
});

async function loggedIn(base) {
  return Promise.all(users.map(async (u) => {
    const c = new Client(base);
    await c.login(u.email, u.password);
    return c;
  }));
}

let serial = 0;
/**
 * One agent submitting new ERP one after the other until stop() says so;
 * each attempt is recorded as {label, outcome: 'ack' | 'refused' |
 * 'unknown', status, id}.
 */
function agent(c, log, stop, who = 0) {
  return (async () => {
    while (!stop()) {
      const label = `Salle durabilité ${++serial}`;
      const p = points[serial % points.length].coordinates;
      const entry = { label, who };
      log.push(entry);
      try {
        const r = await c.req('POST', '/api/v1/guichets/erp/submissions', {
          attributes: { libelle: label, categorie: '5', type_principal: 'L' },
          geometry: { type: 'Point', coordinates: p }, submit: true, confirm_warnings: true,
        });
        entry.status = r.status;
        entry.id = r.json?.id;
        entry.code = r.json?.error?.code;
        // guichet never answers 502: that is nginx (make api-nodes) saying
        // the node's answer was lost, as good as a cut connection.
        entry.outcome = r.status === 201 ? 'ack' : r.status === 502 && !entry.code ? 'unknown' : 'refused';
        if (entry.outcome === 'unknown') await sleep(20);
      } catch {
        entry.outcome = 'unknown';	// the connection broke: no answer
        await sleep(20);
      }
    }
  })();
}

const count = (label) => Number(psql(db, `SELECT count(*) FROM submissions WHERE label = '${label.replace(/'/g, "''")}'`));

/** Checks every attempt of log against the base. */
function checkAttempts(log, { refusedMayExist = false } = {}) {
  const byLabel = new Map(psql(db, "SELECT label || '|' || count(*) || '|' || min(id) FROM submissions WHERE label LIKE 'Salle durabilité %' GROUP BY label")
    .split('\n').filter(Boolean).map((l) => { const [label, n, id] = l.split('|'); return [label, { n: Number(n), id: Number(id) }]; }));
  for (const e of log) {
    const got = byLabel.get(e.label) ?? { n: 0 };
    if (e.outcome === 'ack') {
      assert.equal(got.n, 1, `${e.label}, answered 201, is there ${got.n} times`);
      assert.equal(got.id, e.id, `${e.label}: the id answered is the one stored`);
    } else if (e.outcome === 'unknown' || refusedMayExist) {
      assert.ok(got.n <= 1, `${e.label} (${e.outcome}) is there ${got.n} times`);
    } else {
      assert.equal(got.n, 0, `${e.label}, refused (${e.status} ${e.code}), is there`);
    }
  }
}

function nothingHalfWritten() {
  // Every record has the event of its submission, every event its record.
  assert.equal(psql(db, `SELECT count(*) FROM submissions s WHERE s.label LIKE 'Salle durabilité %' AND NOT EXISTS
    (SELECT 1 FROM events e WHERE e.submission_id = s.id AND e.payload->>'action' = 'submit')`), '0');
  assert.equal(psql(db, `SELECT count(*) FROM events e WHERE e.submission_id IS NOT NULL AND NOT EXISTS
    (SELECT 1 FROM submissions s WHERE s.id = e.submission_id)`), '0');
  const v = runGuichet(['audit', 'verify'], { PGDATABASE: db });
  assert.equal(v.status, 0, v.stdout + v.stderr);
}

describe('guichet killed (SIGKILL) under load, restarted', () => {
  const log = [];
  const kills = [];

  test(`${ROUNDS} rounds: ${AGENTS} agents submitting, the server killed at a random moment`, async (t) => {
    for (let round = 0; round < ROUNDS; round++) {
      const srv = await startServer({ db, migrate: false, env: FAST_ARGON2 });
      const clients = await loggedIn(srv.base);
      let stopping = false;
      const loops = clients.map((c, i) => agent(c, log, () => stopping, i));
      const wait = 300 + Math.floor(Math.random() * 900);
      let exit;
      try {
        await sleep(wait * SLOW);
        srv.kill('SIGKILL');
        exit = await srv.exited;
      } finally {
        stopping = true;
        await Promise.all(loops);
      }
      kills.push({ round, afterMs: wait, signal: exit.signal });
      assert.equal(exit.signal, 'SIGKILL');
    }
    const acked = log.filter((e) => e.outcome === 'ack').length;
    t.diagnostic(`${log.length} submissions sent, ${kills.length} kills (after ${kills.map((k) => k.afterMs).join(', ')} ms), `
      + `${acked} acknowledged, ${log.filter((e) => e.outcome === 'unknown').length} cut without an answer`);
    assert.ok(acked >= ROUNDS, `only ${acked} submissions were acknowledged: the load did not run`);
    assert.ok(log.some((e) => e.outcome === 'unknown'), 'no request was cut by the kills');
  });

  test('every submission answered 201 is there exactly once; one never answered at most once', () => {
    checkAttempts(log);
  });

  test('nothing is half-written and the event chain verifies', () => {
    nothingHalfWritten();
  });

  test('the restarted server serves the acknowledged records, and takes new ones', async () => {
    const srv = await startServer({ db, migrate: false, env: FAST_ARGON2 });
    try {
      const last = log.filter((e) => e.outcome === 'ack').at(-1);
      const c = (await loggedIn(srv.base))[last.who];	// its author
      const g = await c.req('GET', `/api/v1/guichets/erp/submissions/${last.id}`);
      assert.equal(g.status, 200, g.text);
      assert.equal(g.json.label, last.label);
      const more = [];
      let n = 0;
      await agent(c, more, () => n++ >= 3);
      assert.deepEqual(more.map((e) => e.status), [201, 201, 201]);
    } finally {
      await srv.stop();
    }
  });
});

describe('PostgreSQL restarted under load', () => {
  let srv;
  const log = [];
  const health = [];

  before(async () => { srv = await startServer({ db, migrate: false, env: FAST_ARGON2 }); });
  after(async () => { await srv?.stop(); });

  test('the agents keep submitting while `make db-restart` runs: answers are 201 or 503, the server lives', async (t) => {
    const clients = await loggedIn(srv.base);
    let stopping = false;
    const loops = clients.map((c) => agent(c, log, () => stopping));
    const probe = (async () => {
      while (!stopping) {
        try {
          const r = await fetch(`${srv.base}/healthz`);
          health.push(r.status);
          await r.arrayBuffer();
        } catch {
          health.push('error');
        }
        await sleep(25);
      }
    })();
    try {
      await sleep(400 * SLOW);
      const restart = spawn('make', ['-s', 'db-restart', `DB_PORT=${process.env.PGPORT}`], { cwd: ROOT, stdio: 'ignore' });
      const code = await new Promise((resolve) => restart.on('close', resolve));
      assert.equal(code, 0, 'make db-restart failed');
      // Load goes on until writes succeed again.
      // (the last answered ones: the last entries are the requests in flight)
      const answered = () => log.filter((e) => e.outcome).slice(-2 * AGENTS);
      await waitFor(() => answered().length === 2 * AGENTS && answered().every((e) => e.status === 201),
        { timeoutMs: 30_000 * SLOW, what: 'submissions accepted again' });
    } finally {
      stopping = true;
      await Promise.all([...loops, probe]);
    }
    t.diagnostic(`${log.length} submissions sent: ${log.filter((e) => e.status === 201).length} answered 201, `
      + `${log.filter((e) => e.status === 503).length} answered 503; /healthz probed ${health.length} times, ${health.filter((x) => x === 503).length} × 503`);
    assert.ok(srv.alive(), `the server died:\n${srv.stderr()}`);
    const statuses = [...new Set(log.map((e) => e.status ?? e.outcome))].sort();
    for (const s of statuses) assert.ok(s === 201 || s === 503, `unexpected answer ${s} during the restart`);
    for (const e of log.filter((x) => x.status === 503)) assert.ok(['database_unavailable', 'database_busy'].includes(e.code), JSON.stringify(e));
    for (const s of health) assert.ok(s === 200 || s === 503, `/healthz answered ${s}`);
    assert.ok(health.includes(503) || log.some((e) => e.status === 503), 'the restart was not seen: no 503 at all');
  });

  test('every 201 is there exactly once; a 503 left at most one record (the commit may have landed)', () => {
    checkAttempts(log, { refusedMayExist: true });
  });

  test('nothing is half-written and the event chain verifies', () => {
    nothingHalfWritten();
  });
});
