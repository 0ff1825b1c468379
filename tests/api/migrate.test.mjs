// `guichet migrate` and the schema check of `guichet serve`, each test on a
// database of its own.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, describe, test } from 'node:test';

import {
  MIGRATIONS_DIR, SLOW, createDatabase, dropDatabase, freePort, makeTemp, migrationFiles, psql, rmTemp,
  runGuichet, runGuichetAsync,
} from './harness.mjs';

const FILES = migrationFiles();
const dbs = [];
const temps = [];

function freshDb() {
  const db = createDatabase();
  dbs.push(db);
  return db;
}

/** A copy of migrations/ in a temporary folder, with extra files {name: sql}. */
function migrationsCopy(extra = {}) {
  const dir = makeTemp('guichet-migrations-');
  temps.push(dir);
  fs.cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  for (const [name, sql] of Object.entries(extra)) fs.writeFileSync(path.join(dir, name), sql);
  return dir;
}

const run = (db, env = {}) => runGuichet(['migrate'], { PGDATABASE: db, ...env });
const rows = (db) => psql(db, 'SELECT version, name, checksum FROM schema_migrations ORDER BY version')
  .split('\n').filter(Boolean).map((l) => l.split('|'));
const tableExists = (db, name) => psql(db, `SELECT to_regclass('public.${name}') IS NOT NULL`) === 't';

/** Asserts exit 1 and a single "guichet: ..." stderr line matching each of res. */
function assertFails(r, ...res) {
  assert.equal(r.status, 1, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('guichet: '));
  assert.equal(lines.length, 1, r.stderr);
  for (const re of res) assert.match(lines[0], re);
  return lines[0];
}

afterEach(() => {
  while (dbs.length) dropDatabase(dbs.pop());
  while (temps.length) rmTemp(temps.pop());
});

test('the migrations folder holds at least one file', () => {
  assert.ok(FILES.length >= 1);
  assert.equal(FILES[0].version, '0001');
});

describe('a fresh database', () => {
  test('migrate applies every file in order and records version, name and sha256', () => {
    const db = freshDb();
    const r = run(db);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `migrations: ${FILES.length} applied, 0 already in place\n`);
    assert.deepEqual(rows(db), FILES.map((f) => [f.version, f.name, f.checksum]));
    for (const f of FILES) assert.match(r.stderr, new RegExp(`migration ${f.name} applied`));
    assert.equal(psql(db, "SELECT count(*) FROM pg_extension WHERE extname IN ('postgis', 'pg_trgm')"), '2');
  });

  test('a second run applies nothing', () => {
    const db = freshDb();
    assert.equal(run(db).status, 0);
    const before = psql(db, 'SELECT string_agg(version || applied_at::text, \',\') FROM schema_migrations');
    const r = run(db);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `migrations: 0 applied, ${FILES.length} already in place\n`);
    assert.equal(psql(db, 'SELECT string_agg(version || applied_at::text, \',\') FROM schema_migrations'), before);
  });

  test('a new file is applied on the next run, alone', () => {
    const db = freshDb();
    assert.equal(run(db).status, 0);
    const dir = migrationsCopy({ '9990_later.sql': 'CREATE TABLE later_marker (id int PRIMARY KEY);\n' });
    const r = run(db, { GUICHET_MIGRATIONS_DIR: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `migrations: 1 applied, ${FILES.length} already in place\n`);
    assert.ok(tableExists(db, 'later_marker'));
    assert.equal(rows(db).at(-1)[0], '9990');
  });

  test('4 concurrent migrate processes all exit 0 and each file is applied once', async () => {
    const db = freshDb();
    const dir = migrationsCopy({ '9991_concurrent.sql': 'CREATE TABLE concurrent_marker (id int);\n' });
    const results = await Promise.all(Array.from({ length: 4 },
      () => runGuichetAsync(['migrate'], { PGDATABASE: db, GUICHET_MIGRATIONS_DIR: dir })));
    for (const r of results) assert.equal(r.status, 0, r.stderr);
    const applied = results.map((r) => Number(/migrations: (\d+) applied/.exec(r.stdout)?.[1]));
    assert.equal(applied.reduce((a, b) => a + b, 0), FILES.length + 1, `applied per process: ${applied}`);
    const got = rows(db);
    assert.equal(got.length, FILES.length + 1);
    assert.deepEqual(got.map((x) => x[0]), [...FILES.map((f) => f.version), '9991']);
  });
});

describe('refusals', () => {
  test('a failing file: exit 1 naming it, nothing of it left, the earlier files kept', () => {
    const db = freshDb();
    const dir = migrationsCopy({
      '9999_broken.sql': 'CREATE TABLE broken_leftover (id int);\nINSERT INTO broken_leftover VALUES (1);\nSELECT 1/0;\n',
    });
    const r = run(db, { GUICHET_MIGRATIONS_DIR: dir });
    assertFails(r, /9999_broken\.sql/, /division by zero/);
    assert.equal(tableExists(db, 'broken_leftover'), false, 'the failing file left its table');
    assert.deepEqual(rows(db).map((x) => x[0]), FILES.map((f) => f.version));
    // Fixed, it is applied.
    fs.writeFileSync(path.join(dir, '9999_broken.sql'), 'CREATE TABLE broken_leftover (id int);\n');
    const again = run(db, { GUICHET_MIGRATIONS_DIR: dir });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, `migrations: 1 applied, ${FILES.length} already in place\n`);
    assert.ok(tableExists(db, 'broken_leftover'));
  });

  test('a file with a syntax error is refused and not recorded', () => {
    const db = freshDb();
    const dir = migrationsCopy({ '9998_syntax.sql': 'CREATE TABLE syntax_leftover (id int);\nCREAT TABLE nope ();\n' });
    assertFails(run(db, { GUICHET_MIGRATIONS_DIR: dir }), /9998_syntax\.sql/);
    assert.equal(tableExists(db, 'syntax_leftover'), false);
    assert.ok(!rows(db).some((x) => x[0] === '9998'));
  });

  test('an applied file whose content changed is refused', () => {
    const db = freshDb();
    const dir = migrationsCopy();
    assert.equal(run(db, { GUICHET_MIGRATIONS_DIR: dir }).status, 0);
    fs.appendFileSync(path.join(dir, FILES[0].name), '-- edited afterwards\n');
    assertFails(run(db, { GUICHET_MIGRATIONS_DIR: dir }), /was changed after it was applied/,
      new RegExp(FILES[0].name.replace('.', '\\.')));
    assert.deepEqual(rows(db).map((x) => x[2]), FILES.map((f) => f.checksum), 'the recorded checksum is kept');
  });

  test('serve refuses a changed applied file too', () => {
    const db = freshDb();
    const dir = migrationsCopy();
    assert.equal(run(db, { GUICHET_MIGRATIONS_DIR: dir }).status, 0);
    fs.appendFileSync(path.join(dir, FILES[0].name), '-- edited\n');
    return freePort().then((port) => {
      const r = runGuichet(['serve'], { PGDATABASE: db, GUICHET_MIGRATIONS_DIR: dir, GUICHET_LISTEN_PORT: port },
        { timeoutMs: 30_000 * SLOW });
      assertFails(r, /was changed after it was applied/);
    });
  });

  test('an applied file missing from the folder is refused', () => {
    const db = freshDb();
    const dir = migrationsCopy({ '9997_extra.sql': 'CREATE TABLE extra_marker (id int);\n' });
    assert.equal(run(db, { GUICHET_MIGRATIONS_DIR: dir }).status, 0);
    fs.rmSync(path.join(dir, '9997_extra.sql'));
    assertFails(run(db, { GUICHET_MIGRATIONS_DIR: dir }), /9997/, /missing/);
  });

  test('two files sharing a version are refused before anything runs', () => {
    const db = freshDb();
    const dir = migrationsCopy({ '9996_one.sql': 'CREATE TABLE one_marker (id int);\n', '9996_two.sql': 'SELECT 1;\n' });
    assertFails(run(db, { GUICHET_MIGRATIONS_DIR: dir }), /9996/);
    assert.equal(tableExists(db, 'one_marker'), false);
  });

  test('a badly named file is refused', () => {
    const db = freshDb();
    const dir = migrationsCopy({ '12_Bad.sql': 'SELECT 1;\n' });
    assertFails(run(db, { GUICHET_MIGRATIONS_DIR: dir }), /12_Bad\.sql/);
  });

  test('a comment-only file is applied as a no-op, or refused with a reason', () => {
    const db = freshDb();
    const dir = migrationsCopy({ '9994_noop.sql': '-- Placeholder: nothing to change.\n' });
    const r = run(db, { GUICHET_MIGRATIONS_DIR: dir });
    if (r.status === 0) {
      assert.equal(r.stdout, `migrations: ${FILES.length + 1} applied, 0 already in place\n`);
      assert.equal(rows(db).at(-1)[0], '9994');
    } else {
      const line = assertFails(r, /9994_noop\.sql/);
      const reason = line.slice(line.indexOf('9994_noop.sql') + '9994_noop.sql'.length).replace(/^[:\s]+/, '');
      assert.ok(reason.length > 0, `refused without a reason: ${JSON.stringify(line)}`);
    }
  });

  test('an unreachable database: exit 1, "cannot connect"', () => {
    const r = runGuichet(['migrate'], { GUICHET_DATABASE: 'host=127.0.0.1 port=1 dbname=x connect_timeout=1' });
    assertFails(r, /cannot connect to PostgreSQL/);
  });
});

describe('serve and pending migrations', () => {
  test('serve refuses to start on a fresh database ("schema is behind")', async () => {
    const db = freshDb();
    const port = await freePort();
    const r = runGuichet(['serve'], { PGDATABASE: db, GUICHET_LISTEN_PORT: port }, { timeoutMs: 30_000 * SLOW });
    assertFails(r, /schema is behind/, new RegExp(`${FILES.length} migration\\(s\\) pending`));
    assert.doesNotMatch(r.stderr, /listening/);
  });

  test('serve refuses to start when a new file is pending', async () => {
    const db = freshDb();
    const dir = migrationsCopy();
    assert.equal(run(db, { GUICHET_MIGRATIONS_DIR: dir }).status, 0);
    fs.writeFileSync(path.join(dir, '9995_pending.sql'), 'SELECT 1;\n');
    const port = await freePort();
    const r = runGuichet(['serve'], { PGDATABASE: db, GUICHET_MIGRATIONS_DIR: dir, GUICHET_LISTEN_PORT: port },
      { timeoutMs: 30_000 * SLOW });
    assertFails(r, /schema is behind/, /1 migration\(s\) pending/);
  });
});

after(() => {
  while (dbs.length) dropDatabase(dbs.pop());
  while (temps.length) rmTemp(temps.pop());
});
