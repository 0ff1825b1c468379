// A read-only node on a streaming replica (README, Two nodes; conf key
// read_only): a PostgreSQL primary and a hot standby made from it with
// pg_basebackup, both private to this file; a writing node on the primary
// and a read-only node on the standby. What is validated on the primary is
// served by the standby's node once replayed; everything but the open-data
// reads answers 503 there; a writing node refuses a standby.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  startServer, makeTemp, rmTemp, freePort, waitFor, psql, assertErrorBody, pointsIn, SLOW,
} from './harness.mjs';
import { Client, FAST_ARGON2, addOrg, addUser } from './accounts.mjs';

const PG_BIN = process.env.TEST_PG_BIN || '/usr/lib/postgresql/15/bin';
// PostgreSQL refuses to run as root: its programs then run as `postgres`.
const ROOT_USER = process.getuid?.() === 0;

let dir;
const clusters = [];
let primary;	// the writing node, on the primary
let reader;	// the read-only node, on the standby
let admin;	// a platform admin's client, on the primary
let author;	// an agent's client, on the primary

/** Runs a PostgreSQL program (as postgres when root); fails unless it exits 0. */
function pg(prog, args) {
  const cmd = ROOT_USER ? 'runuser' : path.join(PG_BIN, prog);
  const argv = ROOT_USER ? ['-u', 'postgres', '--', path.join(PG_BIN, prog), ...args] : args;
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${prog} ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A folder PostgreSQL may own. */
function pgDir(name) {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { mode: 0o700 });
  if (ROOT_USER) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
    fs.chownSync(d, uid, gid);
  }
  return d;
}

/** Starts the cluster in data on a free port, its socket in a folder of its own. */
async function startCluster(data) {
  const port = await freePort();
  const sock = pgDir(`${path.basename(data)}-sock`);
  pg('pg_ctl', ['-D', data, '-l', path.join(data, 'log'), '-w', '-o',
    `-k ${sock} -c listen_addresses='' -p ${port} -c fsync=off`, 'start']);
  const c = { data, sock, port };
  clusters.push(c);
  return c;
}

before(async () => {
  dir = makeTemp('guichet-replica-');
  fs.chmodSync(dir, 0o755);
  const data = pgDir('primary');
  pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '-N']);
  const p = await startCluster(data);
  // From here on, the harness's databases, psql and CLI runs are this
  // file's primary.
  process.env.PGHOST = p.sock;
  process.env.PGPORT = String(p.port);
  primary = await startServer({ env: FAST_ARGON2, refdata: true, nodes: 1 });
  const openig = addOrg(primary.db, { name: 'OPenIG', kind: 'openig', departements: '31,34' });
  const u = addUser(primary.db, { email: 'admin@replica.test', org: openig, role: 'admin' });
  admin = new Client(primary.base);
  await admin.login(u.email, u.password);
  const a = addUser(primary.db, { email: 'agent@replica.test', org: openig, role: 'contributor' });
  author = new Client(primary.base);
  await author.login(a.email, a.password);

  const standby = path.join(dir, 'standby');
  pgDir('standby');
  pg('pg_basebackup', ['-D', standby, '-R', '-X', 'stream', '-c', 'fast', '-h', p.sock, '-p', String(p.port),
    '-U', 'postgres']);
  const s = await startCluster(standby);
  reader = await startServer({ db: primary.db, migrate: false, nodes: 1,
    env: { PGHOST: s.sock, PGPORT: s.port, GUICHET_READ_ONLY: 'yes' } });
});

after(async () => {
  await reader?.stop();
  await primary?.stop();
  for (const c of clusters.reverse()) {
    try { pg('pg_ctl', ['-D', c.data, '-m', 'immediate', '-w', 'stop']); } catch { /* best effort */ }
  }
  rmTemp(dir);
});

/** An agent's EquipCo on the primary, validated by the admin; returns its uid. */
async function publish(name) {
  const [p] = pointsIn(primary.db, '31555', 1);
  const r = await author.req('POST', '/api/v1/guichets/equipco/submissions',
    { attributes: { categorie: 'Sport', nature: 'Stade', toponyme: name }, geometry: p, submit: true,
      confirm_warnings: true });
  assert.equal(r.status, 201, r.text);
  const v = await admin.req('POST', `/api/v1/guichets/equipco/submissions/${r.json.id}/transitions`,
    { action: 'validate' });
  assert.equal(v.status, 200, v.text);
  return psql(primary.db, `SELECT uid FROM submissions WHERE id = ${r.json.id}`);
}

test('the standby is a hot standby, and the read-only node says so in /healthz', async () => {
  assert.equal(psql(primary.db, 'SELECT pg_is_in_recovery()'), 'f');
  const r = await fetch(`${reader.base}/healthz`);
  const h = await r.json();
  assert.equal(r.status, 200);
  assert.equal(h.status, 'ok');
  assert.equal(h.read_only, true);
  assert.equal(h.standby, true);
  assert.equal(typeof h.replay_lag_s, 'number');
  const w = await (await fetch(`${primary.base}/healthz`)).json();
  assert.equal(w.read_only, false);
  assert.equal(w.standby, false);
  assert.ok(!('replay_lag_s' in w));
  assert.match(reader.stderr(), /read-only node: open-data reads only, no background job/);
});

test('what the primary validates, the read-only node serves once replayed', async () => {
  const uid = await publish('Stade du Replica');
  const found = await waitFor(async () => {
    const r = await fetch(`${reader.base}/ogc/collections/equipco/items/${uid}`);
    await r.arrayBuffer();
    return r.status === 200;
  }, { timeoutMs: 15_000 * SLOW, what: 'the object replayed on the standby' });
  assert.ok(found);
  const r = await fetch(`${reader.base}/ogc/collections/equipco/items?limit=100`);
  assert.equal(r.status, 200);
  const fc = await r.json();
  assert.ok(fc.features.some((f) => f.id === uid && f.properties.toponyme === 'Stade du Replica'));
  for (const p of ['/ogc', '/ogc/conformance', '/ogc/collections', '/ogc/collections/equipco', '/api/v1/forms/erp',
    '/api/v1/ui-config', '/widget?theme=equipco&territory=31']) {
    const x = await fetch(`${reader.base}${p}`);
    await x.arrayBuffer();
    assert.ok(x.status === 200 || x.status === 400, `${p}: ${x.status}`);
    assert.notEqual(x.status, 503, p);
  }
});

test('anything else answers 503 read_only_node, credentials or not', async () => {
  const c = new Client(reader.base);
  const cases = [
    ['POST', '/api/v1/session', { email: 'admin@replica.test', password: 'x'.repeat(12) }],
    ['GET', '/api/v1/session'],
    ['GET', '/api/v1/guichets/equipco/submissions'],
    ['POST', '/api/v1/guichets/equipco/submissions', { attributes: {}, submit: false }],
    ['GET', '/api/v1/queue'],
  ];
  for (const [method, url, body] of cases) {
    const r = await c.req(method, url, body);
    assert.equal(r.status, 503, `${method} ${url}: ${r.status} ${r.text}`);
    assertErrorBody(r.text, 'read_only_node');
    assert.ok(r.headers.get('retry-after') === null, 'not a matter of waiting');
  }
  // A session opened on the primary is not looked at either.
  const s = new Client(reader.base);
  s.cookie = admin.cookie;
  const r = await s.req('GET', '/api/v1/session');
  assert.equal(r.status, 503);
});

test('the read-only node writes nothing: no job, mail or digest thread touches the standby', async () => {
  // The writing node's jobs poll every few seconds; wait for a round.
  await new Promise((resolve) => { setTimeout(resolve, 3000); });
  assert.doesNotMatch(reader.stderr(), /read-only transaction|25006|cannot execute/);
  // (Start-up may warn about how the node runs: as root, or without
  // seccomp under valgrind; nothing else.)
  const bad = reader.stderr().split('\n').filter((l) => / (warn|error) /.test(l)
    && !/running as root|seccomp = no/.test(l));
  assert.deepEqual(bad, []);
});

test('a writing node refuses to start on a standby, naming read_only', async () => {
  const s = clusters[1];
  await assert.rejects(
    startServer({ db: primary.db, migrate: false, nodes: 1, env: { PGHOST: s.sock, PGPORT: s.port } }),
    /hot standby.*read_only = yes/s,
  );
});
