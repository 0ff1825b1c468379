// Backups (conf/guichet-backup): a database filled through the API — accounts,
// submissions and reviewers' decisions, a comment, an import, an export, an
// API token — is dumped, dropped and restored; every table comes back with the
// same rows, the event chain checks out, and a new server on the restored
// database serves the same records to the same sessions. A dump that does not
// match its SHA-256, one whose event log was altered, or a restore that would
// overwrite a database in use are refused without changing anything.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  startServer, psql, createDatabase, dropDatabase, runGuichet, spawnCollect, guichetEnv, pointsIn,
  makeTemp, rmTemp, waitFor, assertNoSanitizerReport, BIN, ROOT, REFDATA,
} from './harness.mjs';
import { Client, FAST_ARGON2, addOrg, addUser } from './accounts.mjs';
import { exported } from './exports-lib.mjs';

const SCRIPT = path.join(ROOT, 'conf', 'guichet-backup');

let srv;	// the server of the moment (one on the original base, then on restored ones)
let db;		// the database under test, dumped, dropped and restored under the same name
let work;	// dumps
let importDir;
let exportDir;
const serverEnv = () => ({ ...FAST_ARGON2, GUICHET_IMPORT_DIR: importDir, GUICHET_EXPORT_DIR: exportDir });
const C = {};	// signed-in clients
const made = [];	// databases the tests create beside db
const S = {};	// what the tests look at again after restoring

/** A database name nobody uses, of the harness's pattern (so dropDatabase accepts it). */
function newName() {
  const name = `guichet_test_${randomBytes(6).toString('hex')}`;
  made.push(name);
  return name;
}

const exists = (name) => psql('postgres', `SELECT count(*) FROM pg_database WHERE datname = '${name}'`) === '1';

/** Runs conf/guichet-backup with args on database dbName (PGDATABASE); {status, stdout, stderr}. */
async function backup(args, dbName = db) {
  const r = await spawnCollect(SCRIPT, args, { env: guichetEnv({ PGDATABASE: dbName }), timeoutMs: 300_000 });
  assertNoSanitizerReport(r.stderr, `guichet-backup ${args.join(' ')}`);
  return r;
}

/** Dumps dbName into work; returns the dump's path. */
async function dump(dbName = db) {
  const r = await backup(['dump', '--dir', work], dbName);
  assert.equal(r.status, 0, `dump of ${dbName}:\n${r.stderr}`);
  const file = r.stdout.trim();
  assert.ok(fs.existsSync(file), `${file} missing:\n${r.stdout}`);
  return file;
}

/** Restores file (args: ['--into', name] or ['--replace']), asserting success; the run. */
async function restored(file, args, dbName = db) {
  const r = await backup(['restore', file, ...args, '--guichet', BIN], dbName);
  assert.equal(r.status, 0, `restore ${file} ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/**
 * Every table of the public schema: its row count and, except for the
 * reference outlines (large, loaded from files), a digest of its rows.
 */
function snapshot(dbName) {
  const out = {};
  for (const t of psql(dbName, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").split('\n')) {
    const digest = ['ref_zones', 'ref_communes', 'spatial_ref_sys'].includes(t) ? "''"
      : `md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), ''))`;
    out[t] = psql(dbName, `SELECT count(*) || ' ' || ${digest} FROM ${t} x`);
  }
  return out;
}

const count = (snap, t) => Number(snap[t].split(' ')[0]);

/** `guichet audit verify` on dbName: {status, last hash}. */
function verify(dbName) {
  const r = runGuichet(['audit', 'verify'], { PGDATABASE: dbName });
  return { status: r.status, out: r.stdout, last: /last hash ([0-9a-f]{64})/.exec(r.stdout)?.[1] ?? null };
}

/** Flips n bytes of a copy of file (and copies its .sha256): the copy's path. */
function corrupted(file, n = 4) {
  const copy = path.join(work, `damaged-${path.basename(file)}`);
  const buf = fs.readFileSync(file);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(buf.length / 2) + i * 97;
    buf[at] ^= 0xff;
  }
  fs.writeFileSync(copy, buf);
  fs.copyFileSync(`${file}.sha256`, `${copy}.sha256`);
  return copy;
}

const sub = (g, id = '') => `/api/v1/guichets/${g}/submissions${id === '' ? '' : `/${id}`}`;

async function created(c, g, attributes, geometry, submit = true) {
  const r = await c.req('POST', sub(g), { attributes, geometry, submit, confirm_warnings: true });
  assert.equal(r.status, 201, `create ${g}: ${r.text}`);
  return r.json;
}

async function decided(c, g, id, action, extra = {}) {
  const r = await c.req('POST', `${sub(g, id)}/transitions`, { action, ...extra });
  assert.equal(r.status, 200, `${action} ${g} ${id}: ${r.text}`);
  return r.json;
}

before(async () => {
  assert.ok(REFDATA.length > 0, 'TEST_REFDATA must name the reference data (make sets it)');
  work = makeTemp('guichet-backup-');
  importDir = makeTemp('guichet-backup-imports-');
  exportDir = makeTemp('guichet-backup-exports-');
  db = createDatabase();
  srv = await startServer({ db, env: serverEnv(), refdata: true });
  const tls = addOrg(db, { name: 'Commune de Toulouse', kind: 'commune', communes: '31555' });
  const sdis = addOrg(db, { name: 'SDIS 31', kind: 'sdis', departements: '31' });
  const ddt = addOrg(db, { name: 'DDT 31', kind: 'ddt', departements: '31' });
  const openig = addOrg(db, { name: 'OPenIG', kind: 'openig', departements: '31' });
  S.users = {};
  for (const [k, org, role] of [['author', tls, 'contributor'], ['sdis', sdis, 'reviewer'], ['ddt', ddt, 'reviewer'],
    ['openig', openig, 'reviewer'], ['admin', openig, 'admin']]) {
    S.users[k] = addUser(db, { email: `${k}@backup.test`, name: `Nom ${k}`, org, role });
    C[k] = new Client(srv.base);
    await C[k].login(S.users[k].email, S.users[k].password);
  }
  const pts = pointsIn(db, '31555', 8);
  // An ERP validated by both of its authorities, an EquipCo by OPenIG, an
  // ERP under discussion, an address left as a draft.
  const erp = await created(C.author, 'erp', { libelle: 'Salle des fêtes', categorie: '3', type_principal: 'L',
    capacite_d_accueil_du_public: 400 }, pts[0]);
  await decided(C.sdis, 'erp', erp.id, 'validate');
  await decided(C.ddt, 'erp', erp.id, 'validate');
  const eq = await created(C.author, 'equipco', { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade municipal' },
    { type: 'Polygon', coordinates: [[[...pts[1].coordinates], [pts[1].coordinates[0] + 0.001, pts[1].coordinates[1]],
      [pts[1].coordinates[0] + 0.001, pts[1].coordinates[1] + 0.001], [...pts[1].coordinates]]] });
  assert.equal((await decided(C.openig, 'equipco', eq.id, 'validate')).state, 'validated');
  const open = await created(C.author, 'erp', { libelle: 'Médiathèque', categorie: '4', type_principal: 'S' }, pts[2]);
  const com = await C.sdis.req('POST', `${sub('erp', open.id)}/comments`, { body: 'Quelle est la capacité ?' });
  assert.equal(com.status, 201, com.text);
  await created(C.author, 'adresse', { voie_nom: 'Rue du Taur', numero: 12, position: 'entrée' }, pts[3], false);
  // An import of three ERP, checked and committed.
  const csv = ['libelle;categorie;type_principal;lon;lat',
    ...pts.slice(4, 7).map((p, i) => `Importé ${i};5;L;${p.coordinates[0]};${p.coordinates[1]}`)].join('\n');
  const up = await C.author.req('POST', '/api/v1/imports?guichet=erp&filename=base.csv', Buffer.from(csv));
  assert.equal(up.status, 201, up.text);
  assert.equal((await C.author.req('POST', `/api/v1/imports/${up.json.id}/check`)).status, 202);
  const until = (state) => waitFor(async () => {
    const g = await C.author.req('GET', `/api/v1/imports/${up.json.id}`);
    return g.json.state === state || g.json.state === 'failed' ? g.json : null;
  }, { what: `import ${state}` });
  assert.equal((await until('checked')).state, 'checked');
  assert.equal((await C.author.req('POST', `/api/v1/imports/${up.json.id}/commit`)).status, 202);
  assert.equal((await until('committed')).state, 'committed');
  // An export of what was validated, and an API token.
  S.batch = await exported(C.admin, { guichet: 'equipco', format: 'geojson', mode: 'full' });
  const tok = await C.author.req('POST', '/api/v1/account/tokens', { name: 'sig', scopes: ['read'] });
  assert.equal(tok.status, 201, tok.text);
  S.token = tok.json.token;

  const got = await C.author.req('GET', sub('erp', erp.id));
  assert.equal(got.status, 200, got.text);
  S.erp = { id: erp.id, json: got.json, etag: got.headers.get('etag') };
  S.before = snapshot(db);
  S.audit = verify(db);
  assert.equal(S.audit.status, 0, S.audit.out);
});

after(async () => {
  await srv?.stop();
  for (const name of [db, ...made]) {
    if (name) dropDatabase(name);
  }
  rmTemp(work);
  rmTemp(importDir);
  rmTemp(exportDir);
});

describe('the data set', () => {
  test('every main table has rows to compare', () => {
    for (const t of ['organisations', 'users', 'sessions', 'api_tokens', 'submissions', 'submission_versions', 'reviews',
      'comments', 'notifications', 'events', 'imports', 'import_rows', 'export_batches', 'export_files', 'ref_zones']) {
      assert.ok(count(S.before, t) > 0, `${t} is empty`);
    }
    assert.ok(count(S.before, 'events') >= 10, `only ${count(S.before, 'events')} events`);
    assert.equal(count(S.before, 'reviews'), 3);
  });
});

describe('dump', () => {
  test('a custom-format dump named with the date, its SHA-256 beside it', async () => {
    const t0 = Date.now();
    S.dump = await dump();
    const name = path.basename(S.dump);
    const m = /^guichet-(guichet_test_[0-9a-f]+)-(\d{8})T(\d{6})Z\.dump$/.exec(name);
    assert.ok(m, name);
    assert.equal(m[1], db);
    const stamp = new Date(`${m[2].slice(0, 4)}-${m[2].slice(4, 6)}-${m[2].slice(6)}T${m[3].slice(0, 2)}:${m[3].slice(2, 4)}:${m[3].slice(4)}Z`);
    assert.ok(Math.abs(stamp - t0) < 120_000, `${name}: not stamped now`);
    const bytes = fs.readFileSync(S.dump);
    assert.equal(bytes.subarray(0, 5).toString('latin1'), 'PGDMP', 'pg_dump custom format');
    const line = fs.readFileSync(`${S.dump}.sha256`, 'utf8');
    assert.equal(line, `${createHash('sha256').update(bytes).digest('hex')}  ${name}\n`);
    // sha256sum reads it as its own.
    const c = await spawnCollect('sha256sum', ['-c', `${name}.sha256`], { cwd: work });
    assert.equal(c.status, 0, c.stdout + c.stderr);
    // Nothing else is left in the folder (no partial file).
    assert.deepEqual(fs.readdirSync(work).sort(), [name, `${name}.sha256`]);
  });

  test('check accepts the dump as written', async () => {
    const r = await backup(['check', S.dump]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /SHA-256 matches/);
  });

  test('a database that does not exist is an error, and no file is left', async () => {
    const r = await backup(['dump', '--dir', work], newName());
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /pg_dump .* failed/);
    assert.equal(fs.readdirSync(work).length, 2);
  });

  test('usage errors exit 2', async () => {
    for (const args of [[], ['nonsense'], ['dump', '--dir'], ['dump', '--dir', path.join(work, 'nowhere')],
      ['restore', S.dump], ['restore', S.dump, '--into', 'x', '--replace'], ['restore', S.dump, '--into', 'bad-name'],
      ['check']]) {
      const r = await backup(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});

describe('damaged dumps', () => {
  test('a dump with flipped bytes is refused by its SHA-256 before anything is restored', async () => {
    const bad = corrupted(S.dump);
    const into = newName();
    const r = await backup(['restore', bad, '--into', into, '--guichet', BIN]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /SHA-256 [0-9a-f]{64} differs from the recorded [0-9a-f]{64}: the dump is damaged, nothing restored/);
    assert.doesNotMatch(r.stderr, /restoring/);
    assert.ok(!exists(into), `${into} was created`);
    const chk = await backup(['check', bad]);
    assert.equal(chk.status, 1, chk.stderr);
  });

  test('a single flipped byte is enough', async () => {
    const bad = corrupted(S.dump, 1);
    const r = await backup(['restore', bad, '--replace', '--guichet', BIN]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /the dump is damaged/);
    assert.deepEqual(snapshot(db), S.before, 'the current database is unchanged');
  });

  test('a dump without its .sha256 is refused', async () => {
    const lone = path.join(work, 'lone.dump');
    fs.copyFileSync(S.dump, lone);
    const into = newName();
    const r = await backup(['restore', lone, '--into', into, '--guichet', BIN]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /lone\.dump\.sha256 is missing/);
    assert.ok(!exists(into));
  });
});

describe('drop and restore', () => {
  test('the dropped database comes back with the same rows in every table', async () => {
    await srv.stop();
    srv = null;
    dropDatabase(db);
    assert.ok(!exists(db));
    const r = await restored(S.dump, ['--into', db]);
    assert.match(r.stdout, /^intact: \d+ event\(s\), last hash [0-9a-f]{64}$/m);
    const after = snapshot(db);
    assert.deepEqual(Object.keys(after), Object.keys(S.before));
    for (const t of Object.keys(S.before)) assert.equal(after[t], S.before[t], t);
  });

  test('guichet audit verify passes on the restored database, ending on the same hash', () => {
    const v = verify(db);
    assert.equal(v.status, 0, v.out);
    assert.equal(v.last, S.audit.last);
    assert.equal(v.out, S.audit.out);
  });

  test('a new server on the restored database serves the same submission to the same session', async () => {
    srv = await startServer({ db, env: serverEnv() });
    // The clients keep their cookies and CSRF tokens; only the port changed.
    for (const c of Object.values(C)) c.base = srv.base;
    const got = await C.author.req('GET', sub('erp', S.erp.id));
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.json, S.erp.json);
    assert.equal(got.headers.get('etag'), S.erp.etag);
    assert.equal(got.json.state, 'validated');
  });

  test('passwords, API tokens and export files work as before', async () => {
    const c = new Client(srv.base);
    await c.login(S.users.sdis.email, S.users.sdis.password);
    const q = await fetch(`${srv.base}${sub('erp', S.erp.id)}`, { headers: { Authorization: `Bearer ${S.token}` } });
    assert.equal(q.status, 200, await q.text());
    const b = await C.admin.req('GET', `/api/v1/exports/${S.batch.id}`);
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(b.json.files.map((f) => f.sha256), S.batch.files.map((f) => f.sha256));
  });

  test('the restored base takes new events on the same chain', async () => {
    const more = await created(C.author, 'erp', { libelle: 'Gymnase', categorie: '3', type_principal: 'X' },
      pointsIn(db, '31555', 1)[0]);
    S.after = more.id;
    const v = verify(db);
    assert.equal(v.status, 0, v.out);
    assert.notEqual(v.last, S.audit.last);
  });
});

describe('restore in place', () => {
  test('--replace refuses while a server is connected, and leaves both databases as they were', async () => {
    const now = snapshot(db);
    const r = await backup(['restore', S.dump, '--replace', '--guichet', BIN]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cannot drop .*stop the servers first/);
    assert.deepEqual(snapshot(db), now);
    assert.equal(psql('postgres', `SELECT count(*) FROM pg_database WHERE datname LIKE '%\\_restore\\_%'`), '0');
  });

  test('--replace puts the dump in place of the current database', async () => {
    await srv.stop();
    srv = null;
    const r = await restored(S.dump, ['--replace']);
    assert.match(r.stderr, new RegExp(`restored into ${db}`));
    assert.deepEqual(snapshot(db), S.before, 'the submission made after the dump is gone');
    assert.equal(psql(db, `SELECT count(*) FROM submissions WHERE id = ${S.after}`), '0');
    assert.equal(verify(db).last, S.audit.last);
    assert.equal(psql('postgres', `SELECT count(*) FROM pg_database WHERE datname LIKE '%\\_restore\\_%'`), '0');
  });

  test('--into an existing database changes nothing', async () => {
    const r = await backup(['restore', S.dump, '--into', db, '--guichet', BIN]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /already exists: nothing restored/);
    assert.deepEqual(snapshot(db), S.before);
  });
});

describe('altered event log', () => {
  let tampered;
  before(async () => {
    // A copy of the base whose event 2 was rewritten behind the triggers, then dumped.
    const copy = newName();
    await restored(S.dump, ['--into', copy]);
    psql(copy, `ALTER TABLE events DISABLE TRIGGER events_append_only;
      UPDATE events SET payload = payload || '{"forged": true}' WHERE seq = 2;
      ALTER TABLE events ENABLE TRIGGER events_append_only`);
    assert.equal(verify(copy).status, 1);
    tampered = await dump(copy);
  });

  test('a dump whose event chain is broken is restored nowhere', async () => {
    const into = newName();
    const r = await backup(['restore', tampered, '--into', into, '--guichet', BIN]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^broken: event 2: its content does not match its hash/m);
    assert.match(r.stderr, /audit verify failed on the restored database: nothing kept/);
    assert.ok(!exists(into), `${into} was kept`);
  });

  test('nor in place of the current database', async () => {
    const r = await backup(['restore', tampered, '--replace', '--guichet', BIN]);
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual(snapshot(db), S.before);
    assert.equal(psql('postgres', `SELECT count(*) FROM pg_database WHERE datname LIKE '%\\_restore\\_%'`), '0');
  });
});
