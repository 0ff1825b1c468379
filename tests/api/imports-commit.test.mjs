// Bulk imports, after the dry run: the commit turns the rows without
// errors into records as one batch (submitted, or validated for a
// competent authority that asks for it), with one event per record that
// the export change feed reads; the cancellation undoes the batch as long
// as nobody acted on its records; the event chain stays intact.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, makeTemp, rmTemp, waitFor, assertErrorBody, pointsIn, psql, runGuichet } from './harness.mjs';
import { Client, FAST_ARGON2, addOrg, addUser } from './accounts.mjs';

let srv;
let dir;
const C = {};

before(async () => {
  dir = makeTemp('guichet-imports-commit-');
  srv = await startServer({ env: { ...FAST_ARGON2, GUICHET_IMPORT_DIR: dir }, refdata: true });
  const sdis = addOrg(srv.db, { name: 'SDIS 31', kind: 'sdis', departements: '31' });
  const commune = addOrg(srv.db, { name: 'Commune de Toulouse', kind: 'commune', communes: '31555' });
  const openig = addOrg(srv.db, { name: 'OPenIG', kind: 'openig', departements: '31' });
  for (const [k, org, role] of [['sdis', sdis, 'contributor'], ['reviewer', sdis, 'reviewer'],
    ['commune', commune, 'contributor'], ['admin', openig, 'admin']]) {
    const u = addUser(srv.db, { email: `${k}@imports.test`, org, role });
    C[k] = new Client(srv.base);
    await C[k].login(u.email, u.password);
  }
});

after(async () => {
  await srv?.stop();
  rmTemp(dir);
});

const upload = (c, guichet, filename, content) => c.req('POST',
  `/api/v1/imports?guichet=${guichet}&filename=${encodeURIComponent(filename)}`, Buffer.from(content));

async function until(c, id, states) {
  return waitFor(async () => {
    const g = await c.req('GET', `/api/v1/imports/${id}`);
    return states.includes(g.json.state) ? g.json : null;
  }, { what: `import ${id} ${states.join('|')}` });
}

/** A checked import of n ERP in Toulouse (one bad row at the end); returns it. */
async function checkedImport(c, n, name) {
  const pts = pointsIn(srv.db, '31555', n);
  const lines = ['libelle;categorie;type_principal;lon;lat',
    ...pts.map((p, i) => `${name} ${i};5;L;${p.coordinates[0]};${p.coordinates[1]}`), 'Sans catégorie;;L;;'];
  const r = await upload(c, 'erp', `${name}.csv`, lines.join('\n'));
  assert.equal(r.status, 201, r.text);
  assert.equal((await c.req('POST', `/api/v1/imports/${r.json.id}/check`)).status, 202);
  const done = await until(c, r.json.id, ['checked', 'failed']);
  assert.equal(done.state, 'checked', done.error);
  assert.deepEqual(done.counts, { valid: n, warning: 0, error: 1 });
  return done;
}

/** A checked import of n addresses in Toulouse (numbers 1..n of street); returns it. */
async function checkedAddresses(c, n, street) {
  const pts = pointsIn(srv.db, '31555', n);
  const lines = ['commune_insee;voie_nom;numero;position;lon;lat',
    ...pts.map((p, i) => `31555;${street};${i + 1};entrée;${p.coordinates[0]};${p.coordinates[1]}`)];
  const r = await upload(c, 'adresse', `${street}.csv`, lines.join('\n'));
  assert.equal(r.status, 201, r.text);
  assert.equal((await c.req('POST', `/api/v1/imports/${r.json.id}/check`)).status, 202);
  const done = await until(c, r.json.id, ['checked', 'failed']);
  assert.equal(done.state, 'checked', done.error);
  const rows = (await c.req('GET', `/api/v1/imports/${r.json.id}/rows`)).json.rows;
  assert.equal(done.counts.error, 0, JSON.stringify(rows));
  return done;
}

async function committed(c, id) {
  const r = await c.req('POST', `/api/v1/imports/${id}/commit`);
  assert.equal(r.status, 202, r.text);
  return until(c, id, ['committed', 'failed']);
}

describe('commit', () => {
  test('the rows without errors become submitted records of the importer, one event each', async () => {
    const imp = await checkedImport(C.commune, 3, 'Salle');
    const done = await committed(C.commune, imp.id);
    assert.equal(done.state, 'committed', done.error);
    assert.equal(done.counts.committed, 3);
    const rows = (await C.commune.req('GET', `/api/v1/imports/${imp.id}/rows`)).json.rows;
    assert.deepEqual(rows.map((x) => x.submission_id === null), [false, false, false, true]);
    const s = psql(srv.db, `SELECT string_agg(state || ':' || label || ':' || round::text, ',' ORDER BY id) FROM submissions
      WHERE import_id = ${imp.id}`);
    assert.equal(s, 'submitted:Salle 0:1,submitted:Salle 1:1,submitted:Salle 2:1');
    const ev = psql(srv.db, `SELECT count(*) FROM events e JOIN submissions s ON s.id = e.submission_id
      WHERE s.import_id = ${imp.id} AND e.kind = 'transition' AND e.payload->>'action' = 'submit'`);
    assert.equal(ev, '3');
    assert.equal(psql(srv.db, `SELECT count(*) FROM events WHERE kind = 'import.committed' AND (payload->>'import')::bigint = ${imp.id}`), '1');
    // The reviewers' queue has them.
    const q = await C.reviewer.req('GET', '/api/v1/queue?guichet=erp');
    assert.equal(q.status, 200, q.text);
    assert.ok(JSON.stringify(q.json).includes('Salle 1'));
  });

  test('the competent reviewers get one notification for the batch, linking to their queue filtered on it', async () => {
    const before = psql(srv.db, "SELECT count(*) FROM notifications WHERE kind = 'import'");
    const imp = await checkedImport(C.commune, 4, 'Gymnase');
    const done = await committed(C.commune, imp.id);
    assert.equal(done.state, 'committed', done.error);
    const n = (await C.reviewer.req('GET', '/api/v1/notifications?limit=200')).json;
    const mine = n.notifications.filter((x) => x.link.endsWith(`import=${imp.id}`));
    assert.equal(mine.length, 1, JSON.stringify(n));
    assert.equal(mine[0].link, `/moderation.html?guichet=erp&import=${imp.id}`);
    assert.match(mine[0].message, /4 saisies importées par Commune de Toulouse à instruire \(import n° \d+\)/);
    // Only the reviewer: not the importer, not the admin (no authority of the guichet).
    assert.equal(Number(psql(srv.db, "SELECT count(*) FROM notifications WHERE kind = 'import'")) - Number(before), 1);
    // The queue filtered on the batch lists its 4 records and nothing else.
    const q = await C.reviewer.req('GET', `/api/v1/queue?guichet=erp&import=${imp.id}`);
    assert.equal(q.status, 200, q.text);
    assert.equal(q.json.total, 4);
    assert.deepEqual(q.json.submissions.map((x) => x.label).sort(), ['Gymnase 0', 'Gymnase 1', 'Gymnase 2', 'Gymnase 3']);
    const bad = await C.reviewer.req('GET', '/api/v1/queue?import=0');
    assert.equal(bad.status, 400);
    assertErrorBody(bad.text, 'param_invalid', 'import');
  });

  test('a second commit, or a commit before the check, is 409', async () => {
    const imp = await checkedImport(C.commune, 1, 'Piscine');
    await committed(C.commune, imp.id);
    let r = await C.commune.req('POST', `/api/v1/imports/${imp.id}/commit`);
    assert.equal(r.status, 409);
    assertErrorBody(r.text, 'import_not_committable');
    const fresh = await upload(C.commune, 'erp', 'x.csv', 'libelle\nA\n');
    r = await C.commune.req('POST', `/api/v1/imports/${fresh.json.id}/commit`);
    assert.equal(r.status, 409);
  });

  test('a commune importing its addresses with validate gets validated objects, published and in the export change feed', async () => {
    const imp = await checkedAddresses(C.commune, 2, 'Rue du Taur');
    const p = await C.commune.req('PATCH', `/api/v1/imports/${imp.id}`, { validate: true });
    assert.equal(p.status, 200, p.text);
    assert.equal((await C.commune.req('POST', `/api/v1/imports/${imp.id}/check`)).status, 202);
    await until(C.commune, imp.id, ['checked']);
    const done = await committed(C.commune, imp.id);
    assert.equal(done.state, 'committed', done.error);
    assert.equal(psql(srv.db, `SELECT string_agg(state, ',') FROM submissions WHERE import_id = ${imp.id}`), 'validated,validated');
    const ogc = await fetch(`${srv.base}/ogc/collections/adresses/items?limit=100`).then((x) => x.json());
    assert.equal(ogc.features.filter((f) => f.properties.voie_nom === 'Rue du Taur').length, 2);
    const feed = psql(srv.db, `SELECT count(*) FROM guichet_changes('adresse', 0, (SELECT seq FROM event_head)) c
      JOIN submissions s ON s.id = c.id WHERE s.import_id = ${imp.id} AND c.operation = 'create'`);
    assert.equal(feed, '2');
  });

  test('validating alone is refused where it does not suffice or is not one\'s: SDIS on ERP, commune on ERP (403)', async () => {
    for (const [c, why] of [[C.sdis, /chacune de ses autorités/], [C.commune, /autorité compétente/]]) {
      const imp = await checkedImport(c, 1, 'Musée');
      const p = await c.req('PATCH', `/api/v1/imports/${imp.id}`, { validate: true });
      assert.equal(p.status, 403);
      assert.match(assertErrorBody(p.text, 'not_competent', 'validate').message, why);
    }
  });
});

describe('cancel', () => {
  test('an import not committed yet is just cancelled', async () => {
    const fresh = await upload(C.commune, 'erp', 'y.csv', 'libelle\nA\n');
    const r = await C.commune.req('POST', `/api/v1/imports/${fresh.json.id}/cancel`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.state, 'cancelled');
    assert.equal((await C.commune.req('POST', `/api/v1/imports/${fresh.json.id}/check`)).status, 409);
  });

  test('a committed batch nobody touched is withdrawn, with its events', async () => {
    const imp = await checkedImport(C.commune, 2, 'Bibliothèque');
    await committed(C.commune, imp.id);
    const r = await C.commune.req('POST', `/api/v1/imports/${imp.id}/cancel`);
    assert.equal(r.status, 200, r.text);
    assert.equal(psql(srv.db, `SELECT string_agg(state, ',') FROM submissions WHERE import_id = ${imp.id}`), 'withdrawn,withdrawn');
    assert.equal(psql(srv.db, `SELECT count(*) FROM events e JOIN submissions s ON s.id = e.submission_id
      WHERE s.import_id = ${imp.id} AND e.payload->>'action' = 'withdraw'`), '2');
    const again = await C.commune.req('POST', `/api/v1/imports/${imp.id}/cancel`);
    assert.equal(again.status, 409);
    assertErrorBody(again.text, 'import_cancelled');
  });

  test('an import being checked or committed is not cancelled meanwhile (409 import_busy)', async () => {
    const imp = await checkedImport(C.commune, 1, 'Halle');
    for (const state of ['checking', 'committing']) {
      psql(srv.db, `UPDATE imports SET state = '${state}', heartbeat_at = now() WHERE id = ${imp.id}`);	// a live job's, not taken over
      const r = await C.commune.req('POST', `/api/v1/imports/${imp.id}/cancel`);
      assert.equal(r.status, 409, r.text);
      assertErrorBody(r.text, 'import_busy');
      assert.equal(psql(srv.db, `SELECT state FROM imports WHERE id = ${imp.id}`), state);
    }
    psql(srv.db, `UPDATE imports SET state = 'checked' WHERE id = ${imp.id}`);
  });

  test('once a reviewer acted on one of its records, the batch stays (409 import_not_cancellable)', async () => {
    const imp = await checkedImport(C.commune, 2, 'Gymnase');
    await committed(C.commune, imp.id);
    const id = psql(srv.db, `SELECT min(id) FROM submissions WHERE import_id = ${imp.id}`);
    const c = await C.reviewer.req('POST', `/api/v1/guichets/erp/submissions/${id}/comments`, { body: 'Vu.' });
    assert.equal(c.status, 201, c.text);
    const r = await C.commune.req('POST', `/api/v1/imports/${imp.id}/cancel`);
    assert.equal(r.status, 409);
    assertErrorBody(r.text, 'import_not_cancellable');
    assert.equal(psql(srv.db, `SELECT count(*) FROM submissions WHERE import_id = ${imp.id} AND state = 'withdrawn'`), '0');
  });

  test('a validated batch cancelled is deleted, and the deletion reaches the export change feed', async () => {
    const imp = await checkedAddresses(C.commune, 1, 'Rue des Lois');
    await C.commune.req('PATCH', `/api/v1/imports/${imp.id}`, { validate: true });
    await C.commune.req('POST', `/api/v1/imports/${imp.id}/check`);
    await until(C.commune, imp.id, ['checked']);
    await committed(C.commune, imp.id);
    const head = psql(srv.db, 'SELECT seq FROM event_head');
    const r = await C.commune.req('POST', `/api/v1/imports/${imp.id}/cancel`);
    assert.equal(r.status, 200, r.text);
    assert.equal(psql(srv.db, `SELECT state FROM submissions WHERE import_id = ${imp.id}`), 'deleted');
    assert.equal(psql(srv.db, `SELECT string_agg(c.operation, ',') FROM guichet_changes('adresse', ${head},
      (SELECT seq FROM event_head)) c JOIN submissions s ON s.id = c.id WHERE s.import_id = ${imp.id}`), 'delete');
  });

  test('the event chain is intact after batches and cancellations', () => {
    const out = runGuichet(['audit', 'verify'], { PGDATABASE: srv.db });
    assert.equal(out.status, 0, out.stdout + out.stderr);
  });
});
