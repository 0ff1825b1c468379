// Idempotency-Key on the routes that create (submissions and amendments,
// transitions, comments, imports, export batches): a retry with the same
// key and the same request gets the first answer again, byte for byte and
// marked Idempotent-Replayed, and creates nothing; the same key with
// another request is 422, while the first still runs 409; keys belong to
// a user; only successes are stored, in the transaction of what they
// created; keys expire after a day and are purged.
//
// The first group must stay first: the server purges expired keys when it
// stores its first key, and at most every ten minutes after that.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import {
  startServer, psql, runGuichet, rawRequest, makeTemp, rmTemp, waitFor, assertErrorBody, assertSecurityHeaders,
  SLOW, REFDATA, JSON_TYPE,
} from './harness.mjs';
import { Client, TokenClient, FAST_ARGON2, addUser, fixture } from './accounts.mjs';

let srv;
let fx;
let importDir;
let exportDir;
const U = {};	// accounts
const C = {};	// signed-in clients

const SUBS = '/api/v1/guichets/erp/submissions';
const SUB_ROUTE = 'POST /api/v1/guichets/{guichet}/submissions';

before(async () => {
  assert.ok(REFDATA.length > 0, 'TEST_REFDATA must name the reference data (make sets it)');
  importDir = makeTemp('guichet-idem-imports-');
  exportDir = makeTemp('guichet-idem-exports-');
  // No export writer: a batch asked for stays queued, so that a second
  // request of the same series would be refused as busy.
  srv = await startServer({
    env: { ...FAST_ARGON2, GUICHET_IMPORT_DIR: importDir, GUICHET_EXPORT_DIR: exportDir, GUICHET_EXPORT_WORKERS: 0 },
    refdata: true,
  });
  fx = fixture(srv.db);
  U.agent = fx.users.contributor;
  U.agent2 = addUser(srv.db, { email: 'agent2@toulouse.test', org: fx.home, role: 'contributor' });
  U.admin = fx.users.admin;
  for (const k of ['agent', 'agent2', 'admin']) {
    C[k] = new Client(srv.base);
    await C[k].login(U[k].email, U[k].password);
  }
});

after(async () => {
  await srv?.stop();
  rmTemp(importDir);
  rmTemp(exportDir);
});

// --- helpers -------------------------------------------------------------------------------

let drafts = 0;
/** The body of a new ERP draft, its own name each time (a retry reuses the object). */
function draft() {
  drafts++;
  return {
    attributes: { libelle: `Salle des fêtes ${drafts}`, categorie: '4', type_principal: 'L', capacite_d_accueil_du_public: 200 },
    geometry: { type: 'Point', coordinates: [1.44 + drafts / 10000, 43.6] },
    submit: false,
  };
}

/** A request with an Idempotency-Key. */
function keyed(c, method, path, body, key) {
  return c.req(method, path, body, { headers: { 'Idempotency-Key': key } });
}

const named = (body) => Number(psql(srv.db, `SELECT count(*) FROM submissions WHERE attributes->>'libelle' = '${body.attributes.libelle}'`));
const stored = (key) => Number(psql(srv.db, `SELECT count(*) FROM idempotency_keys WHERE key = '${key}'`));
const replayed = (r) => r.headers.get('idempotent-replayed');

/** The second answer is the first one again, marked. */
function assertReplay(first, again) {
  assert.equal(again.status, first.status, again.text);
  assert.equal(again.text, first.text, 'the body, byte for byte');
  assert.equal(replayed(again), 'true');
  assert.equal(replayed(first), null);
  for (const h of ['content-type', 'etag', 'location']) assert.equal(again.headers.get(h), first.headers.get(h), h);
}

/** A raw POST of a signed-in client with extra headers ([[name, value]]): what fetch would refuse to send. */
function rawPost(c, path, body, extra) {
  const payload = Buffer.from(JSON.stringify(body));
  return rawRequest(srv.port, path, {
    method: 'POST',
    headers: [['Cookie', c.cookie], ['X-CSRF-Token', c.csrf], ['Content-Type', 'application/json'],
      ['Content-Length', String(payload.length)], ...extra],
    body: payload,
  });
}

/** The advisory lock a request takes for its key: the first 8 bytes of SHA-256(user NUL route NUL key). */
function lockOf(userId, route, key) {
  return createHash('sha256').update(`${userId}\0${route}\0${key}`).digest().readBigInt64LE(0).toString();
}

// --- tests ---------------------------------------------------------------------------------

describe('expiry', () => {
  test('storing a key purges those older than a day, and only those', async () => {
    for (const [key, age] of [['vieille', '2 days'], ['recente', '23 hours']]) {
      psql(srv.db, `INSERT INTO idempotency_keys (user_id, route, key, fingerprint, status, body, created_at)
        VALUES (${U.agent2.id}, '${SUB_ROUTE}', '${key}', repeat('0', 64), 201, '{}', now() - interval '${age}')`);
    }
    const r = await keyed(C.agent, 'POST', SUBS, draft(), randomUUID());
    assert.equal(r.status, 201, r.text);
    assert.equal(stored('vieille'), 0, 'expired: purged');
    assert.equal(stored('recente'), 1, 'alive: kept');
  });

  test('a key older than a day is new again: the request runs, and its answer replaces the old one', async () => {
    const body = draft();
    const key = randomUUID();
    const first = await keyed(C.agent, 'POST', SUBS, body, key);
    assert.equal(first.status, 201, first.text);
    psql(srv.db, `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = '${key}'`);
    const late = await keyed(C.agent, 'POST', SUBS, body, key);
    assert.equal(late.status, 201, late.text);
    assert.equal(replayed(late), null);
    assert.notEqual(late.json.id, first.json.id);
    assert.equal(named(body), 2);
    assert.equal(psql(srv.db, `SELECT count(*) || ' ' || bool_and(created_at > now() - interval '1 minute')
      || ' ' || bool_and(body::json->>'id' = '${late.json.id}') FROM idempotency_keys WHERE key = '${key}'`), '1 true true');
    assertReplay(late, await keyed(C.agent, 'POST', SUBS, body, key));
  });
});

describe('replay', () => {
  test('a retry gets the first answer again, byte for byte, and creates nothing', async () => {
    const body = draft();
    const key = randomUUID();
    const first = await keyed(C.agent, 'POST', SUBS, body, key);
    assert.equal(first.status, 201, first.text);
    assert.ok(first.headers.get('etag'));
    const again = await keyed(C.agent, 'POST', SUBS, body, key);
    assertReplay(first, again);
    assert.equal(again.headers.get('content-type'), JSON_TYPE);
    assertSecurityHeaders(again.headers);
    assert.equal(again.headers.get('cache-control'), 'no-store');
    assert.equal(named(body), 1);
    assert.equal(psql(srv.db, `SELECT count(*) FROM events WHERE submission_id = ${first.json.id}`), '1');
  });

  test('what is stored: the user, the route as declared, the status, the headers that matter, the body as sent', async () => {
    const key = randomUUID();
    const r = await keyed(C.agent, 'POST', SUBS, draft(), key);
    assert.equal(r.status, 201, r.text);
    const [user, route, status, headers] = psql(srv.db, `SELECT user_id, route, status, headers
      FROM idempotency_keys WHERE key = '${key}'`).split('|');
    assert.deepEqual([Number(user), route, Number(status)], [U.agent.id, SUB_ROUTE, 201]);
    assert.deepEqual(JSON.parse(headers), { 'Content-Type': JSON_TYPE, ETag: r.headers.get('etag') });
    assert.equal(psql(srv.db, `SELECT body FROM idempotency_keys WHERE key = '${key}'`), r.text);
  });

  test('without a key nothing changes: the same request twice creates twice', async () => {
    const body = draft();
    const a = await C.agent.req('POST', SUBS, body);
    const b = await C.agent.req('POST', SUBS, body);
    assert.deepEqual([a.status, b.status], [201, 201]);
    assert.notEqual(a.json.id, b.json.id);
    assert.equal(replayed(b), null);
    assert.equal(named(body), 2);
  });

  test('an amendment of a validated object is replayed too', async () => {
    const created = await C.agent.req('POST', SUBS, draft());
    psql(srv.db, `UPDATE submissions SET state = 'validated' WHERE id = ${created.json.id}`);
    const body = { amends: created.json.id, operation: 'delete', attributes: {}, geometry: null };
    const key = randomUUID();
    const first = await keyed(C.agent, 'POST', SUBS, body, key);
    assert.equal(first.status, 201, first.text);
    assert.equal(first.json.operation, 'delete');
    assertReplay(first, await keyed(C.agent, 'POST', SUBS, body, key));
    assert.equal(psql(srv.db, `SELECT count(*) FROM submissions WHERE target_id = ${created.json.id}`), '1');
  });

  test('a session and an API token of the same user share their keys', async () => {
    const t = await C.agent.req('POST', '/api/v1/account/tokens', { name: 'tablette', scopes: ['read', 'submit'] });
    assert.equal(t.status, 201, t.text);
    const tablet = new TokenClient(srv.base, t.json.token);
    const body = draft();
    const key = randomUUID();
    const first = await keyed(tablet, 'POST', SUBS, body, key);
    assert.equal(first.status, 201, first.text);
    assertReplay(first, await keyed(C.agent, 'POST', SUBS, body, key));
    assert.equal(named(body), 1);
  });
});

describe('misuse', () => {
  test('the same key with another body is 422 idempotency_key_reused, and creates nothing', async () => {
    const key = randomUUID();
    const first = await keyed(C.agent, 'POST', SUBS, draft(), key);
    assert.equal(first.status, 201, first.text);
    const other = draft();
    const r = await keyed(C.agent, 'POST', SUBS, other, key);
    assert.equal(r.status, 422);
    assertErrorBody(r.text, 'idempotency_key_reused', 'Idempotency-Key');
    assert.ok(!r.text.includes(key), 'the key is not repeated');
    assert.equal(named(other), 0);
  });

  test('the same key on another guichet of the route is another request: 422', async () => {
    const key = randomUUID();
    const body = draft();
    assert.equal((await keyed(C.agent, 'POST', SUBS, body, key)).status, 201);
    const r = await keyed(C.agent, 'POST', '/api/v1/guichets/equipco/submissions', body, key);
    assert.equal(r.status, 422);
    assertErrorBody(r.text, 'idempotency_key_reused', 'Idempotency-Key');
  });

  test('a malformed body under a used key is refused as a reused key, before being parsed', async () => {
    const key = randomUUID();
    assert.equal((await keyed(C.agent, 'POST', SUBS, draft(), key)).status, 201);
    const r = await keyed(C.agent, 'POST', SUBS, { attributes: {}, submit: 'oui' }, key);
    assertErrorBody(r.text, 'idempotency_key_reused', 'Idempotency-Key');
  });

  test('another user’s key never matches: the same key and body create for each', async () => {
    const body = draft();
    const key = randomUUID();
    const mine = await keyed(C.agent, 'POST', SUBS, body, key);
    const theirs = await keyed(C.agent2, 'POST', SUBS, body, key);
    assert.deepEqual([mine.status, theirs.status], [201, 201], theirs.text);
    assert.equal(replayed(theirs), null);
    assert.notEqual(mine.json.id, theirs.json.id);
    assert.equal(theirs.json.author_id, U.agent2.id);
    assert.equal(named(body), 2);
    assertReplay(theirs, await keyed(C.agent2, 'POST', SUBS, body, key));
    assertReplay(mine, await keyed(C.agent, 'POST', SUBS, body, key));
  });

  test('the same key on another route is independent', async () => {
    const key = randomUUID();
    const sub = await keyed(C.agent, 'POST', SUBS, draft(), key);
    assert.equal(sub.status, 201, sub.text);
    const comment = await keyed(C.agent, 'POST', `${SUBS}/${sub.json.id}/comments`, { body: 'Même clé, autre route.' }, key);
    assert.equal(comment.status, 201, comment.text);
    assert.equal(replayed(comment), null);
  });
});

describe('invalid keys', () => {
  const BAD = [
    ['empty', [['Idempotency-Key', '']]],
    ['256 characters', [['Idempotency-Key', 'k'.repeat(256)]]],
    ['not ASCII', [['Idempotency-Key', 'clé-secrète']]],
    ['a control character', [['Idempotency-Key', 'a\tb-secret']]],
    ['sent twice', [['Idempotency-Key', 'twice-secret'], ['Idempotency-Key', 'twice-secret']]],
  ];
  for (const [what, headers] of BAD) {
    test(`a key ${what} is 400 idempotency_key_invalid naming the header, and nothing is created`, async () => {
      const body = draft();
      const r = await rawPost(C.agent, SUBS, body, headers);
      assert.equal(r.response?.status, 400, r.text);
      assertErrorBody(r.response.text, 'idempotency_key_invalid', 'Idempotency-Key');
      assert.ok(!r.response.text.includes('secret'), 'the key is not repeated');
      assert.equal(named(body), 0);
    });
  }

  test('255 printable characters, spaces and quotes included, make a key', async () => {
    const key = `"${'k '.repeat(126)}"`;
    assert.equal(key.length, 254);
    for (const k of [key, `${key}~`]) {
      const body = draft();
      const first = await keyed(C.agent, 'POST', SUBS, body, k);
      assert.equal(first.status, 201, first.text);
      assertReplay(first, await keyed(C.agent, 'POST', SUBS, body, k));
    }
  });

  test('a key on a file upload is refused before the file is read', async () => {
    const r = await rawRequest(srv.port, '/api/v1/imports?guichet=erp&filename=a.csv', {
      method: 'POST',
      headers: [['Cookie', C.agent.cookie], ['X-CSRF-Token', C.agent.csrf], ['Content-Type', 'application/octet-stream'],
        ['Content-Length', '1000000'], ['Idempotency-Key', '']],
      body: 'libelle;x;y\r\n',
    });
    assert.equal(r.response?.status, 400, r.text);
    assertErrorBody(r.response.text, 'idempotency_key_invalid', 'Idempotency-Key');
  });

  test('routes that do not create ignore the header', async () => {
    const created = await C.agent.req('POST', SUBS, draft());
    const r = await rawRequest(srv.port, `${SUBS}/${created.json.id}`, {
      method: 'GET', headers: [['Cookie', C.agent.cookie], ['Idempotency-Key', '']],
    });
    assert.equal(r.response?.status, 200, r.text);
    assert.equal(r.response.headers['idempotent-replayed'], undefined);
  });
});

describe('concurrency', () => {
  test('requests sent at once with one key create once: the others replay it or get 409', async () => {
    const body = draft();
    const key = randomUUID();
    const rs = await Promise.all([1, 2, 3, 4, 5].map(() => keyed(C.agent, 'POST', SUBS, body, key)));
    assert.deepEqual(rs.filter((r) => ![201, 409].includes(r.status)).map((r) => r.text), []);
    const created = rs.filter((r) => r.status === 201);
    assert.ok(created.length >= 1);
    assert.equal(created.filter((r) => replayed(r) === null).length, 1, 'one original answer');
    assert.deepEqual([...new Set(created.map((r) => r.text))].length, 1, 'the same answer');
    for (const r of rs.filter((x) => x.status === 409)) assertErrorBody(r.text, 'idempotency_key_in_flight', 'Idempotency-Key');
    assert.equal(named(body), 1);
  });

  test('while the first request with a key runs, the same key is 409 idempotency_key_in_flight', async () => {
    const body = draft();
    const key = randomUUID();
    // Another session holds the key's lock, as a request in flight would.
    const holder = spawn('psql', ['-X', '-q', '-d', srv.db, '-c',
      `SELECT pg_advisory_lock(${lockOf(U.agent.id, SUB_ROUTE, key)}); SELECT pg_sleep(${2 * SLOW})`], { stdio: 'ignore' });
    const done = new Promise((resolve) => holder.on('close', resolve));
    await waitFor(() => psql(srv.db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") !== '0',
      { what: 'the lock held' });
    const r = await keyed(C.agent, 'POST', SUBS, body, key);
    assert.equal(r.status, 409, r.text);
    assertErrorBody(r.text, 'idempotency_key_in_flight', 'Idempotency-Key');
    assert.equal(named(body), 0);
    await done;
    // psql has exited; its backend may not have yet, nor released the lock.
    await waitFor(() => psql(srv.db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") === '0',
      { what: 'the lock released' });
    const later = await keyed(C.agent, 'POST', SUBS, body, key);
    assert.equal(later.status, 201, later.text);
    assert.equal(named(body), 1);
  });
});

describe('what is stored', () => {
  test('a 422 is not stored: the same request runs again, and a corrected one under the same key creates', async () => {
    const key = randomUUID();
    const bad = { ...draft(), submit: true };
    bad.attributes.type_principal = 'ZZ';	// not a type of ERP
    const first = await keyed(C.agent, 'POST', SUBS, bad, key);
    assert.equal(first.status, 422, first.text);
    assert.equal(first.json.error.code, 'validation_failed');
    const again = await keyed(C.agent, 'POST', SUBS, bad, key);
    assert.equal(again.status, 422);
    assert.equal(replayed(again), null);
    assert.equal(stored(key), 0);
    const fixed = { ...bad, attributes: { ...bad.attributes, type_principal: 'L' }, confirm_warnings: true };
    const ok = await keyed(C.agent, 'POST', SUBS, fixed, key);
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.json.state, 'submitted');
    assertReplay(ok, await keyed(C.agent, 'POST', SUBS, fixed, key));
    assert.equal(named(fixed), 1);
  });

  test('a refusal before the handler runs (a bad parameter) is not stored', async () => {
    const key = randomUUID();
    const r = await keyed(C.agent, 'POST', SUBS, { attributes: {}, submit: 'oui' }, key);
    assertErrorBody(r.text, 'param_invalid', 'submit');
    assert.equal(stored(key), 0);
  });

  test('the answer is stored in the transaction of the creation: when it cannot be, nothing is created', async () => {
    const key = `fail-${randomUUID()}`;
    psql(srv.db, `CREATE FUNCTION idem_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.key LIKE 'fail-%' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER idem_refuse BEFORE INSERT ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION idem_refuse()`);
    const body = draft();
    const n = Number(psql(srv.db, 'SELECT count(*) FROM events'));
    try {
      const r = await keyed(C.agent, 'POST', SUBS, body, key);
      assert.equal(r.status, 500, r.text);
      assertErrorBody(r.text, 'internal_error');
      assert.equal(r.headers.get('etag'), null, 'not the record’s ETag');
      assert.equal(named(body), 0, 'the submission is rolled back with its answer');
      assert.equal(Number(psql(srv.db, 'SELECT count(*) FROM events')), n, 'and its event');
    } finally {
      psql(srv.db, 'DROP TRIGGER idem_refuse ON idempotency_keys; DROP FUNCTION idem_refuse()');
    }
    const retry = await keyed(C.agent, 'POST', SUBS, body, key);
    assert.equal(retry.status, 201, retry.text);
    assert.equal(replayed(retry), null, 'a 5xx is not stored: the retry runs');
    assert.equal(named(body), 1);
  });
});

describe('every creating route', () => {
  test('the route table flags exactly the routes that create', () => {
    const routes = JSON.parse(runGuichet(['routes']).stdout).filter((r) => r.idempotent).map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(routes.sort(), [
      'POST /api/v1/exports',
      'POST /api/v1/guichets/{guichet}/submissions',
      'POST /api/v1/guichets/{guichet}/submissions/{id}/comments',
      'POST /api/v1/guichets/{guichet}/submissions/{id}/transitions',
      'POST /api/v1/imports',
    ]);
  });

  test('a comment is posted once', async () => {
    const id = (await C.agent.req('POST', SUBS, draft())).json.id;
    const key = randomUUID();
    const body = { body: 'Entrée côté rue.', field: 'libelle' };
    const first = await keyed(C.agent, 'POST', `${SUBS}/${id}/comments`, body, key);
    assert.equal(first.status, 201, first.text);
    assertReplay(first, await keyed(C.agent, 'POST', `${SUBS}/${id}/comments`, body, key));
    assert.equal(psql(srv.db, `SELECT count(*) FROM comments WHERE submission_id = ${id}`), '1');
    const other = await keyed(C.agent, 'POST', `${SUBS}/${id}/comments`, { body: 'Autre.' }, key);
    assertErrorBody(other.text, 'idempotency_key_reused', 'Idempotency-Key');
  });

  test('a transition is taken once: its retry is replayed instead of being refused', async () => {
    const id = (await C.agent.req('POST', SUBS, draft())).json.id;
    const key = randomUUID();
    const body = { action: 'submit', confirm_warnings: true };
    const first = await keyed(C.agent, 'POST', `${SUBS}/${id}/transitions`, body, key);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.state, 'submitted');
    assertReplay(first, await keyed(C.agent, 'POST', `${SUBS}/${id}/transitions`, body, key));
    const unkeyed = await C.agent.req('POST', `${SUBS}/${id}/transitions`, body);
    assert.equal(unkeyed.status, 409, 'without the key, the retry is refused');
    assert.equal(psql(srv.db, `SELECT count(*) FROM events WHERE submission_id = ${id} AND kind = 'transition'`), '1');
  });

  test('an import is uploaded once, its file kept once', async () => {
    const csv = Buffer.from('libelle;x;y\r\nSalle Idem;574000;6279000\r\n');
    const path = '/api/v1/imports?guichet=erp&filename=idem.csv';
    const key = randomUUID();
    const first = await keyed(C.agent, 'POST', path, csv, key);
    assert.equal(first.status, 201, first.text);
    assertReplay(first, await keyed(C.agent, 'POST', path, csv, key));
    assert.equal(psql(srv.db, "SELECT count(*) FROM imports WHERE filename = 'idem.csv'"), '1');
    assert.deepEqual(fs.readdirSync(importDir).filter((f) => f.endsWith('.csv')), [`${first.json.id}.csv`]);
    const other = await keyed(C.agent, 'POST', path, Buffer.from('libelle;x;y\r\nAutre;574000;6279000\r\n'), key);
    assertErrorBody(other.text, 'idempotency_key_reused', 'Idempotency-Key');
    const renamed = await keyed(C.agent, 'POST', '/api/v1/imports?guichet=erp&filename=autre.csv', csv, key);
    assertErrorBody(renamed.text, 'idempotency_key_reused', 'Idempotency-Key');
  });

  test('an export batch is asked for once: its retry is replayed where a new request is busy', async () => {
    const body = { guichet: 'erp', format: 'geojson', communes: ['31555'] };
    const key = randomUUID();
    const first = await keyed(C.admin, 'POST', '/api/v1/exports', body, key);
    assert.equal(first.status, 202, first.text);
    assertReplay(first, await keyed(C.admin, 'POST', '/api/v1/exports', body, key));
    const unkeyed = await C.admin.req('POST', '/api/v1/exports', body);
    assertErrorBody(unkeyed.text, 'batch_in_progress');
    assert.equal(psql(srv.db, 'SELECT count(*) FROM export_batches'), '1');
  });

  test('the API description documents the header on those routes', async () => {
    const doc = await (await fetch(`${srv.base}/api/v1/openapi.json`)).json();
    const h = doc.paths['/api/v1/imports'].post.parameters.find((p) => p.in === 'header');
    assert.equal(h.name, 'Idempotency-Key');
    assert.equal(h.required, false);
    assert.deepEqual([h.schema.minLength, h.schema.maxLength], [1, 255]);
    assert.equal(doc.paths['/api/v1/imports'].get.parameters.find((p) => p.in === 'header'), undefined);
  });
});

describe('a transaction PostgreSQL cannot serialize', () => {
  // A real serialization failure at a chosen moment, from SQL alone. A rival
  // transaction stores an expired answer under the request's key and stays
  // open; the request (which cannot see that row yet) does its work, then
  // its INSERT of the answer waits for the rival. The rival commits: the
  // INSERT now meets a row that the request's SERIALIZABLE snapshot does
  // not see, and PostgreSQL refuses it (40001, concurrent update), after
  // the creation was made in the same transaction. Only running the whole
  // request again, on a new snapshot, can succeed.
  test('storing the answer fails to serialize: the request runs again, creates once, and is replayed', async () => {
    const body = draft();
    const key = randomUUID();
    const rival = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', srv.db],
      { stdio: ['pipe', 'ignore', 'ignore'], env: { ...process.env, PGAPPNAME: 'idem-rival' } });
    const closed = new Promise((resolve) => rival.on('close', resolve));
    rival.stdin.write(`BEGIN; INSERT INTO idempotency_keys (user_id, route, key, fingerprint, status, body, created_at)
      VALUES (${U.agent.id}, '${SUB_ROUTE}', '${key}', repeat('0', 64), 201, '{}', now() - interval '2 days');\n`);
    await waitFor(() => psql(srv.db, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'idem-rival'
      AND state = 'idle in transaction' AND backend_xid IS NOT NULL`) === '1', { what: 'the rival row' });
    const pending = keyed(C.agent, 'POST', SUBS, body, key);
    await waitFor(() => psql(srv.db, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
      AND query LIKE 'INSERT INTO idempotency_keys %'`) === '1', { what: 'the answer waiting for the rival' });
    rival.stdin.end('COMMIT;\n');
    assert.equal(await closed, 0);
    const r = await pending;
    assert.equal(r.status, 201, r.text);
    assert.equal(replayed(r), null);
    assert.equal(named(body), 1, 'created once: the first run was rolled back');
    assert.equal(psql(srv.db, `SELECT body FROM idempotency_keys WHERE key = '${key}'`), r.text);
    assertReplay(r, await keyed(C.agent, 'POST', SUBS, body, key));
    assert.equal(named(body), 1);
  });
});

// Last: the export batches asked for here would make the single batch the
// test above counts several. Every keyed request holds its transaction
// open until its answer is stored (idem.c); two of them that ask for
// batches at the same moment read and write export_batches in SERIALIZABLE
// transactions that overlap, and PostgreSQL may refuse one's COMMIT with a
// serialization failure (40001), whatever their scopes. That must cost a
// retry inside the server, never a 503 to the client.
describe('concurrent keyed export batches', () => {
  const ROUNDS = 4;
  const SERIES = 8;	// incremental series per round, each asked for by ASKS requests
  const ASKS = 3;
  const FULL = 16;	// full snapshots per round, half on one scope, half on scopes of their own
  const FORMATS = ['geojson', 'csv', 'csv_shp', 'gpkg', 'ign'];

  test('asked for at once under distinct keys: none is 503, each answer is replayed (or runs again) as it was', async () => {
    const communes = psql(srv.db, `SELECT string_agg(code, ' ' ORDER BY code) FROM (SELECT DISTINCT code FROM
      ref_communes WHERE type = 'commune-actuelle' AND departement IN ('31', '34') ORDER BY code
      LIMIT ${ROUNDS * (SERIES + FULL)}) c`).split(' ');
    assert.equal(communes.length, ROUNDS * (SERIES + FULL));
    const asked = [];	// { body, key, series, r }
    for (let round = 0; round < ROUNDS; round++) {
      const next = () => communes.shift();
      const batch = [];
      for (let s = 0; s < SERIES; s++) {
        const body = { guichet: 'erp', format: FORMATS[s % FORMATS.length], communes: [next()] };
        for (let k = 0; k < ASKS; k++) batch.push({ body, series: `${round}/${s}` });
      }
      const shared = { guichet: 'erp', format: 'geojson', mode: 'full', communes: [next()] };
      for (let f = 0; f < FULL; f++) {
        batch.push({ body: f < FULL / 2 ? shared : { guichet: 'equipco', format: FORMATS[f % FORMATS.length],
          mode: 'full', communes: [next()] }, series: null });
      }
      for (const a of batch) a.key = randomUUID();
      const rs = await Promise.all(batch.map((a) => keyed(C.admin, 'POST', '/api/v1/exports', a.body, a.key)));
      rs.forEach((r, i) => asked.push({ ...batch[i], r }));
    }
    const busy = asked.filter((a) => a.r.status === 503);
    assert.deepEqual(asked.filter((a) => ![202, 409].includes(a.r.status)).map((a) => `${a.r.status} ${a.r.text}`), [],
      `${busy.length} of ${asked.length} answered 503`);
    for (const a of asked.filter((x) => x.r.status === 409)) {
      assert.ok(a.series !== null, 'a full snapshot is never busy');
      assertErrorBody(a.r.text, 'batch_in_progress');
    }
    // One batch per incremental series: the others were refused as busy.
    const per = new Map();
    for (const a of asked.filter((x) => x.series !== null && x.r.status === 202)) per.set(a.series, (per.get(a.series) ?? 0) + 1);
    assert.equal(per.size, ROUNDS * SERIES);
    assert.deepEqual([...new Set(per.values())], [1]);
    // Each success stored with its batch, and replayed byte for byte; a
    // refusal was not stored, and runs again (still busy: no writer here).
    const created = asked.filter((a) => a.r.status === 202);
    assert.equal(Number(psql(srv.db, `SELECT count(*) FROM idempotency_keys k JOIN export_batches b ON
      b.id = (k.body::json->>'id')::bigint WHERE k.route = 'POST /api/v1/exports' AND k.key IN
      (${created.map((a) => `'${a.key}'`).join(', ')})`)), created.length);
    for (const a of asked) {
      const again = await keyed(C.admin, 'POST', '/api/v1/exports', a.body, a.key);
      if (a.r.status === 202) assertReplay(a.r, again);
      else {
        assert.equal(again.status, 409, again.text);
        assert.equal(replayed(again), null);
      }
    }
  });
});
