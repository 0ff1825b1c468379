// Moderation over HTTP: routing of each guichet's submissions to the
// competent authorities, every transition of forms/workflow.json for each
// kind of actor, versions and ETags, decisions taken at the same moment,
// per-field remarks and diffs, amendments of validated objects, comments,
// notifications and digests, bulk decisions, the reviewers' queue and
// assignments, the dashboard, and the hash-chained event log with its
// verifier.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, psql, runGuichet, REFDATA, ROOT } from './harness.mjs';
import { Client, TokenClient, FAST_ARGON2, addOrg, addUser } from './accounts.mjs';

const WF = JSON.parse(fs.readFileSync(path.join(ROOT, 'forms', 'workflow.json'), 'utf8'));
const ACTIONS = WF.transitions.map((t) => t.action);
const STATES = WF.states.map((s) => s.code);
const FORM = Object.fromEntries(['erp', 'equipco', 'adresse'].map((g) => [g,
  JSON.parse(fs.readFileSync(path.join(ROOT, 'forms', `${g}.json`), 'utf8'))]));

let srv;
const O = {};	// organisation ids
const U = {};	// accounts {id, email, password}
const C = {};	// a signed-in client per account
const P = {};	// points inside communes (from the outlines)

// Organisations: [name, kind, départements, communes].
const ORGS = {
  tls: ['Commune de Toulouse', 'commune', null, '31555'],
  blagnac: ['Commune de Blagnac', 'commune', null, '31069'],
  montpellier: ['Commune de Montpellier', 'commune', null, '34172'],
  epci: ['Toulouse Métropole', 'epci', null, '31555,31069'],
  cd31: ['Conseil départemental 31', 'departement', '31', null],
  s31: ['SDIS 31', 'sdis', '31', null],
  s34: ['SDIS 34', 'sdis', '34', null],
  d31: ['DDT 31', 'ddt', '31', null],
  d34: ['DDT 34', 'ddt', '34', null],
  openig: ['OPenIG', 'openig', '31,34', null],
};
// Accounts: name → [organisation, role].
const ACCOUNTS = {
  author: ['tls', 'contributor'],	// writes most records
  author2: ['tls', 'contributor'],	// notifications
  author3: ['tls', 'contributor'],	// the digest
  tlsrev: ['tls', 'reviewer'],
  tlsadmin: ['tls', 'org_admin'],
  blagrev: ['blagnac', 'reviewer'],
  montauthor: ['montpellier', 'contributor'],
  epcirev: ['epci', 'reviewer'],
  cdauthor: ['cd31', 'contributor'],
  sdis31: ['s31', 'reviewer'],
  sdis31b: ['s31', 'reviewer'],
  sdis31quiet: ['s31', 'reviewer'],	// notify: none
  s31contrib: ['s31', 'contributor'],
  sdis34: ['s34', 'reviewer'],
  ddt31: ['d31', 'reviewer'],
  ddt34: ['d34', 'reviewer'],
  openigrev: ['openig', 'reviewer'],
  admin: ['openig', 'admin'],
  openigauthor: ['openig', 'contributor'],	// covers 31 and 34
  sdis31balma: ['s31', 'reviewer', '31044'],	// restricted to Balma
};

const CAPITOLE = { type: 'Point', coordinates: [1.4436, 43.6045] };

function pointIn(code) {
  const [x, y] = psql(srv.db, `SELECT round(ST_X(p)::numeric, 6), round(ST_Y(p)::numeric, 6) FROM
    (SELECT ST_PointOnSurface(geom) p FROM ref_zones WHERE kind = 'commune' AND code = '${code}') q`).split('|').map(Number);
  assert.ok(Number.isFinite(x) && Number.isFinite(y), `no outline for ${code}`);
  return { type: 'Point', coordinates: [x, y] };
}

// Distinct points of Toulouse at least 60 m apart, so that records are not
// each other's look-alikes (radius 50 m for ERP).
const GRID = 40;
let spots = 0;
function spotAt(i) {
  return { type: 'Point', coordinates: [Number((1.42 + (i % GRID) * 0.0009).toFixed(5)), Number((43.58 + Math.floor(i / GRID) * 0.0009).toFixed(5))] };
}
const spot = () => spotAt(spots++ % (GRID * GRID));

before(async () => {
  assert.ok(REFDATA.length > 0, 'TEST_REFDATA must name the reference data (make sets it)');
  // The server's own daily digest runs at digest_hour: not during this file.
  srv = await startServer({ env: { ...FAST_ARGON2, GUICHET_DIGEST_HOUR: (new Date().getHours() + 12) % 24 }, refdata: true });
  for (const [k, [name, kind, departements, communes]] of Object.entries(ORGS)) {
    O[k] = addOrg(srv.db, { name, kind, departements, communes });
  }
  for (const [k, [org, role, communes]] of Object.entries(ACCOUNTS)) {
    U[k] = addUser(srv.db, { email: `${k}@moderation.test`, name: `Nom ${k}`, org: O[org], role, communes });
    C[k] = new Client(srv.base);
    await C[k].login(U[k].email, U[k].password);
  }
  for (const [k, code] of Object.entries({ balma: '31044', union: '31561', colomiers: '31149', montpellier: '34172' })) {
    P[k] = pointIn(code);
  }
  // The grid lies inside Toulouse.
  const values = Array.from({ length: GRID * GRID }, (_, i) => `(${spotAt(i).coordinates.join(',')})`).join(',');
  const outside = psql(srv.db, `SELECT count(*) FROM (VALUES ${values}) v(x, y), ref_zones z WHERE z.kind = 'commune'
    AND z.code = '31555' AND NOT ST_Contains(z.geom, ST_SetSRID(ST_MakePoint(x, y), 4326))`);
  assert.equal(outside, '0', 'grid points outside Toulouse');
});

after(async () => { await srv?.stop(); });

// --- helpers -----------------------------------------------------------------

const sub = (g, id = '') => `/api/v1/guichets/${g}/submissions${id === '' ? '' : `/${id}`}`;
let n = 0;
const uniq = () => ++n;
const ATTRS = {
  erp: (x = {}) => ({ libelle: `Établissement ${uniq()}`, categorie: '2', type_principal: 'L', capacite_d_accueil_du_public: 1156, ...x }),
  equipco: (x = {}) => ({ categorie: 'Sport', nature: 'Stade', toponyme: `Stade numéro ${uniq()}`, ...x }),
  adresse: (x = {}) => ({ voie_nom: 'Rue du Taur', numero: uniq(), position: 'entrée', ...x }),
};

/** Creates a record (submitted unless submit is false); returns its JSON. */
async function create(c, g, { attrs, geometry, submit = true, extra = {}, status = 201 } = {}) {
  const body = { attributes: attrs ?? ATTRS[g](), submit, confirm_warnings: true, ...extra };
  if (geometry !== null) body.geometry = geometry ?? spot();
  const r = await c.req('POST', sub(g), body);
  assert.equal(r.status, status, `create ${g}: ${r.text}`);
  return r.json;
}

// What each action needs to be justified.
const JUST = {
  submit: { confirm_warnings: true },
  resubmit: { confirm_warnings: true },
  request_changes: { comment: 'Précisez la capacité.' },
  reject: { reason: 'doublon', comment: 'Déjà saisi sous un autre nom.' },
};

function act(c, g, id, action, extra = {}, headers = undefined) {
  return c.req('POST', `${sub(g, id)}/transitions`, { action, ...(JUST[action] ?? {}), ...extra }, headers ? { headers } : {});
}

/** Takes an action that must succeed and reach state; returns the record. */
async function must(c, g, id, action, state, extra = {}) {
  const r = await act(c, g, id, action, extra);
  assert.equal(r.status, 200, `${action} on ${g} ${id}: ${r.text}`);
  assert.equal(r.json.state, state, `${action} on ${g} ${id}`);
  return r.json;
}

async function get(c, g, id) {
  const r = await c.req('GET', sub(g, id));
  assert.equal(r.status, 200, `GET ${g} ${id}: ${r.text}`);
  return r.json;
}

const dbState = (id) => psql(srv.db, `SELECT state FROM submissions WHERE id = ${id}`);
const reviewCount = (id) => Number(psql(srv.db, `SELECT count(*) FROM reviews WHERE submission_id = ${id}`));
const eventCount = (id) => Number(psql(srv.db, `SELECT count(*) FROM events WHERE submission_id = ${id}`));

/** Every id of the caller's queue (all pages) for a query string. */
async function queue(c, query = '') {
  const rows = [];
  let total = null;
  for (let offset = 0; total === null || offset < total; offset += 200) {
    const r = await c.req('GET', `/api/v1/queue?limit=200&offset=${offset}${query ? `&${query}` : ''}`);
    assert.equal(r.status, 200, r.text);
    total = r.json.total;
    rows.push(...r.json.submissions);
  }
  return rows;
}
const queueIds = async (c, query) => (await queue(c, query)).map((s) => s.id);

/** The caller's notifications about one record (newest first). */
async function notes(c, id, kind = null) {
  const r = await c.req('GET', '/api/v1/notifications?limit=200');
  assert.equal(r.status, 200, r.text);
  return r.json.notifications.filter((x) => x.submission_id === id && (kind === null || x.kind === kind));
}

/** A record of the guichet in a given state, written by author. */
async function inState(state, g = 'erp', author = C.author) {
  if (state === 'draft') return (await create(author, g, { submit: false })).id;
  if (state === 'deleted') {
    const id = await inState('validated', g, author);
    const a = await create(author, g, { attrs: {}, geometry: null, extra: { amends: id, operation: 'delete' } });
    await must(C.admin, g, a.id, 'validate', 'validated');
    assert.equal(dbState(id), 'deleted');
    return id;
  }
  const { id } = await create(author, g);
  const reviewer = { erp: C.sdis31, equipco: C.ddt31, adresse: C.tlsrev }[g];
  switch (state) {
  case 'submitted': break;
  case 'in_review': await must(reviewer, g, id, 'claim', 'in_review'); break;
  case 'changes_requested': await must(C.admin, g, id, 'request_changes', 'changes_requested'); break;
  case 'validated': await must(C.admin, g, id, 'validate', 'validated'); break;
  case 'rejected': await must(C.admin, g, id, 'reject', 'rejected'); break;
  case 'withdrawn': await must(author, g, id, 'withdraw', 'withdrawn'); break;
  default: assert.fail(`no way to reach ${state}`);
  }
  assert.equal(dbState(id), state);
  return id;
}

function assertError(r, status, code, field = undefined) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error?.code, code, r.text);
  if (field !== undefined) assert.equal(r.json.error.field, field, r.text);
}

// --- routing -------------------------------------------------------------------

describe('routing to the competent authorities', () => {
  let erp;

  before(async () => {
    erp = await create(C.author, 'erp', { geometry: CAPITOLE });
  });

  test('an ERP in Toulouse is in the queue of an SDIS 31 reviewer and of a DDT 31 reviewer', async () => {
    assert.equal(erp.insee_commune, '31555');
    for (const who of ['sdis31', 'sdis31b', 'ddt31']) {
      assert.ok((await queueIds(C[who])).includes(erp.id), `${who} does not see it`);
    }
    const row = (await queue(C.sdis31)).find((s) => s.id === erp.id);
    assert.equal(row.authority, 'sdis');
    assert.equal(row.commune_nom, 'Toulouse');
    assert.equal(row.state, 'submitted');
    assert.equal((await queue(C.ddt31)).find((s) => s.id === erp.id).authority, 'ddt');
  });

  test('… and not in the queue of an SDIS 34 (nor DDT 34, nor the commune’s, nor OPenIG’s) reviewer', async () => {
    for (const who of ['sdis34', 'ddt34', 'tlsrev', 'epcirev', 'openigrev']) {
      assert.ok(!(await queueIds(C[who])).includes(erp.id), `${who} sees it`);
    }
  });

  test('the SDIS 34 reviewer gets 404 on every route of it', async () => {
    const base = sub('erp', erp.id);
    const tries = [
      ['GET', base], ['GET', `${base}/versions`], ['GET', `${base}/diff?from=1`], ['GET', `${base}/events`],
      ['GET', `${base}/comments`], ['POST', `${base}/comments`, { body: 'Bonjour' }],
      ['POST', `${base}/transitions`, { action: 'validate' }], ['POST', `${base}/transitions`, { action: 'claim' }],
      ['POST', `${base}/assignment`, { user_id: U.sdis34.id }],
    ];
    for (const [m, p, body] of tries) {
      const r = await C.sdis34.req(m, p, body);
      assertError(r, 404, 'not_found');
    }
    const bulk = await C.sdis34.req('POST', '/api/v1/guichets/erp/decisions', { ids: [erp.id], action: 'validate' });
    assert.equal(bulk.status, 200, bulk.text);
    assert.equal(bulk.json.results[0].status, 404);
    assert.equal(dbState(erp.id), 'submitted');
  });

  test('a contributor gets 403 on the queue; anonymous 401', async () => {
    assertError(await C.author.req('GET', '/api/v1/queue'), 403, 'forbidden');
    assert.equal((await new Client(srv.base).req('GET', '/api/v1/queue')).status, 401);
  });

  test('the author never sees its own submission in a queue, a colleague does', async () => {
    const own = await create(C.sdis31, 'erp');
    assert.ok(!(await queueIds(C.sdis31)).includes(own.id), 'in its author’s queue');
    assert.ok((await queueIds(C.sdis31b)).includes(own.id), 'not in the colleague’s queue');
    assert.ok((await queueIds(C.ddt31)).includes(own.id));
  });

  test('an EquipCo goes to DDT(M) or OPenIG; one validation makes it validated (mode any)', async () => {
    const e1 = await create(C.author, 'equipco');
    for (const who of ['ddt31', 'openigrev', 'admin']) assert.ok((await queueIds(C[who])).includes(e1.id), who);
    for (const who of ['sdis31', 'ddt34', 'tlsrev']) assert.ok(!(await queueIds(C[who])).includes(e1.id), who);
    assert.equal((await get(C.ddt31, 'equipco', e1.id)).review_mode, 'any');
    let v = await must(C.ddt31, 'equipco', e1.id, 'validate', 'validated');
    assert.deepEqual(v.signoffs.map((s) => [s.authority, s.decision]), [['ddt_openig', 'validate']]);
    const e2 = await create(C.author, 'equipco');
    v = await must(C.openigrev, 'equipco', e2.id, 'validate', 'validated');
    assert.equal(v.signoffs[0].reviewer_name, 'Nom openigrev');
    assert.ok(!(await queueIds(C.ddt31)).includes(e2.id), 'a validated record stays in the queue');
  });

  test('an address goes to the commune’s reviewers or an EPCI covering it; not another commune’s', async () => {
    const a1 = await create(C.author, 'adresse');
    assert.equal(a1.insee_commune, '31555');
    for (const who of ['tlsrev', 'tlsadmin', 'epcirev']) assert.ok((await queueIds(C[who])).includes(a1.id), who);
    for (const who of ['blagrev', 'sdis31', 'ddt31']) assert.ok(!(await queueIds(C[who])).includes(a1.id), who);
    assertError(await C.blagrev.req('GET', sub('adresse', a1.id)), 404, 'not_found');
    await must(C.tlsrev, 'adresse', a1.id, 'validate', 'validated');
    const a2 = await create(C.author, 'adresse');
    await must(C.epcirev, 'adresse', a2.id, 'validate', 'validated');
    assertError(await act(C.blagrev, 'adresse', (await create(C.author, 'adresse')).id, 'validate'), 404, 'not_found');
  });

  test('a validated record is readable by every signed-in account, who may take no action on it', async () => {
    const id = await inState('validated');
    const r = await get(C.sdis34, 'erp', id);
    assert.equal(r.state, 'validated');
    assert.deepEqual(r.allowed_actions, []);
    // The object, not its review: who decided, what they said, its history.
    for (const k of ['last_review', 'assignments', 'signoffs']) assert.ok(!(k in r), k);
    for (const what of ['versions', 'diff?from=1', 'events', 'comments']) {
      assertError(await C.sdis34.req('GET', `${sub('erp', id)}/${what}`), 404, 'not_found');
    }
    assert.ok('last_review' in await get(C.sdis31, 'erp', id));
    assert.equal((await C.montauthor.req('GET', sub('erp', id))).status, 200);
    assert.equal((await new Client(srv.base).req('GET', sub('erp', id))).status, 401);
    // A refusal is not public.
    assertError(await C.sdis34.req('GET', sub('erp', await inState('rejected'))), 404, 'not_found');
  });

  test('GET shows the moderation members', async () => {
    const r = await C.sdis31.req('GET', sub('erp', erp.id));
    for (const k of ['state', 'version', 'label', 'author_name', 'organisation_name', 'operation', 'target_id', 'round',
      'due_at', 'overdue', 'assignments', 'signoffs', 'review_mode', 'allowed_actions', 'last_review']) {
      assert.ok(k in r.json, `${k} is missing`);
    }
    assert.equal(r.json.label, erp.attributes.libelle);
    assert.equal(r.json.author_name, 'Nom author');
    assert.equal(r.json.organisation_name, 'Commune de Toulouse');
    assert.equal(r.json.operation, 'create');
    assert.equal(r.json.round, 1);
    assert.equal(r.json.overdue, false);
    assert.equal(r.json.last_review, null);
    assert.deepEqual(r.json.allowed_actions, ['claim', 'validate', 'request_changes', 'reject']);
    const due = (Date.parse(r.json.due_at) - Date.parse(r.json.submitted_at)) / 86400e3;
    assert.ok(Math.abs(due - FORM.erp.review.due_days) < 0.01, `due in ${due} days`);
    const a = await get(C.author, 'adresse', (await create(C.author, 'adresse')).id);
    assert.ok(Math.abs((Date.parse(a.due_at) - Date.parse(a.submitted_at)) / 86400e3 - FORM.adresse.review.due_days) < 0.01);
  });
});

// --- decisions ----------------------------------------------------------------

describe('decisions: sign-offs, four eyes, justifications', () => {
  test('ERP (mode all): SDIS validates → in_review with its sign-off; SDIS again → 409; DDT validates → validated', async () => {
    const { id } = await create(C.author, 'erp');
    let r = await must(C.sdis31, 'erp', id, 'validate', 'in_review');
    assert.equal(r.review_mode, 'all');
    assert.deepEqual(r.signoffs.map((s) => [s.authority, s.label, s.decision, s.reviewer_name]),
      [['sdis', 'SDIS', 'validate', 'Nom sdis31'], ['ddt', 'DDT(M)', null, null]]);
    assert.equal(r.decided_at, null);
    for (const who of ['sdis31', 'sdis31b']) {
      const again = await act(C[who], 'erp', id, 'validate');
      assertError(again, 409, 'transition_forbidden', 'action');
      assert.deepEqual(again.json.allowed, ['request_changes', 'reject']);
      assert.deepEqual((await get(C[who], 'erp', id)).allowed_actions, again.json.allowed);
    }
    assert.ok(!(await queueIds(C.sdis31)).includes(id), 'still in the queue of the SDIS that signed off');
    assert.ok((await queueIds(C.ddt31)).includes(id), 'not in the queue of the DDT');
    r = await must(C.ddt31, 'erp', id, 'validate', 'validated');
    assert.deepEqual(r.signoffs.map((s) => s.decision), ['validate', 'validate']);
    assert.ok(r.decided_at);
    assert.equal(reviewCount(id), 2);
  });

  test('ERP: a platform admin’s validation validates at once and stands for every authority', async () => {
    const { id } = await create(C.author, 'erp');
    const r = await must(C.admin, 'erp', id, 'validate', 'validated');
    assert.deepEqual(r.signoffs.map((s) => [s.authority, s.decision, s.reviewer_name]),
      [['sdis', 'validate', 'Nom admin'], ['ddt', 'validate', 'Nom admin']]);
    assert.equal(psql(srv.db, `SELECT authority FROM reviews WHERE submission_id = ${id}`), 'admin');
  });

  test('a new round after changes requested: earlier sign-offs no longer count', async () => {
    const { id } = await create(C.author, 'erp');
    await must(C.sdis31, 'erp', id, 'validate', 'in_review');
    await must(C.ddt31, 'erp', id, 'request_changes', 'changes_requested');
    const r = await must(C.author, 'erp', id, 'resubmit', 'submitted');
    assert.equal(r.round, 2);
    const g = await get(C.sdis31, 'erp', id);
    assert.deepEqual(g.signoffs.map((s) => s.decision), [null, null]);
    assert.deepEqual(g.allowed_actions, ['claim', 'validate', 'request_changes', 'reject']);
    await must(C.ddt31, 'erp', id, 'validate', 'in_review');
    await must(C.sdis31, 'erp', id, 'validate', 'validated');
  });

  test('four eyes: a reviewer cannot decide on its own submission', async () => {
    const { id } = await create(C.sdis31, 'erp');
    const g = await get(C.sdis31, 'erp', id);
    assert.deepEqual(g.allowed_actions, ['withdraw']);
    for (const action of ['claim', 'validate', 'request_changes', 'reject']) {
      const r = await act(C.sdis31, 'erp', id, action);
      assertError(r, 409, 'transition_forbidden', 'action');
      assert.deepEqual(r.json.allowed, ['withdraw']);
    }
    const bulk = await C.sdis31.req('POST', '/api/v1/guichets/erp/decisions', { ids: [id], action: 'validate' });
    assert.equal(bulk.json.results[0].status, 409);
    assert.equal(reviewCount(id), 0);
    await must(C.sdis31b, 'erp', id, 'validate', 'in_review');
  });

  test('four eyes: a platform admin does not decide on its own submission either', async () => {
    const { id } = await create(C.admin, 'erp');
    assert.deepEqual((await get(C.admin, 'erp', id)).allowed_actions, ['withdraw']);
    assert.ok(!(await queueIds(C.admin)).includes(id));
    const r = await act(C.admin, 'erp', id, 'validate');
    assertError(r, 409, 'transition_forbidden', 'action');
    assertError(await C.admin.req('POST', `${sub('erp', id)}/assignment`, { user_id: U.admin.id }), 409, 'not_assignable');
    await must(C.sdis31, 'erp', id, 'validate', 'in_review');
  });

  test('reject without reason → 422 reason_required; with an unknown reason too; without comment → 422 comment_required', async () => {
    const { id } = await create(C.author, 'erp');
    assertError(await act(C.sdis31, 'erp', id, 'reject', { reason: undefined, comment: 'Doublon' }), 422, 'reason_required', 'reason');
    assertError(await act(C.sdis31, 'erp', id, 'reject', { reason: 'pas_un_motif', comment: 'Doublon' }), 422, 'reason_required', 'reason');
    assertError(await act(C.sdis31, 'erp', id, 'reject', { reason: 'doublon', comment: undefined }), 422, 'comment_required', 'comment');
    assertError(await act(C.sdis31, 'erp', id, 'reject', { reason: 'doublon', comment: '' }), 422, 'comment_required', 'comment');
    assert.equal(dbState(id), 'submitted');
    assert.equal(reviewCount(id), 0);
    for (const { code } of WF.reject_reasons) {
      const r = await create(C.author, 'erp');
      const done = await must(C.sdis31, 'erp', r.id, 'reject', 'rejected', { reason: code });
      assert.equal(done.last_review.reason, code);
      assert.equal(done.last_review.comment, JUST.reject.comment);
      assert.ok(done.decided_at);
    }
  });

  test('request_changes needs a comment or remarks; remarks name form fields or the geometry', async () => {
    const { id } = await create(C.author, 'erp');
    assertError(await act(C.sdis31, 'erp', id, 'request_changes', { comment: undefined }), 422, 'comment_required', 'comment');
    assertError(await act(C.sdis31, 'erp', id, 'request_changes', { comment: '', remarks: {} }), 422, 'comment_required', 'comment');
    assertError(await act(C.sdis31, 'erp', id, 'request_changes', { remarks: { pas_un_champ: 'x' } }), 422, 'remark_unknown_field', 'remarks');
    assertError(await act(C.sdis31, 'erp', id, 'request_changes', { remarks: { libelle: '' } }), 422, 'remark_invalid', 'remarks');
    assertError(await act(C.sdis31, 'erp', id, 'request_changes', { remarks: { libelle: 42 } }), 422, 'remark_invalid', 'remarks');
    assertError(await act(C.sdis31, 'erp', id, 'request_changes', { remarks: ['libelle'] }), 422, 'remark_invalid', 'remarks');
    assertError(await act(C.sdis31, 'erp', id, 'request_changes', { remarks: { libelle: 'x'.repeat(2001) } }), 422, 'remark_invalid', 'remarks');
    assert.equal(reviewCount(id), 0);
    const r = await must(C.sdis31, 'erp', id, 'request_changes', 'changes_requested',
      { comment: undefined, remarks: { geometry: 'Le point est sur la voirie.', libelle: 'Nom officiel ?' } });
    assert.deepEqual(r.last_review.remarks, { geometry: 'Le point est sur la voirie.', libelle: 'Nom officiel ?' });
    assert.equal(r.last_review.comment, null);
  });

  test('an unknown action is refused', async () => {
    const { id } = await create(C.author, 'erp');
    const r = await act(C.sdis31, 'erp', id, 'approve');
    assert.ok([400, 422].includes(r.status), r.text);
    assert.equal(r.json.error.field, 'action');
    assertError(await C.sdis31.req('POST', `${sub('erp', id)}/transitions`, {}), 400, 'param_missing', 'action');
  });

  test('claim → in_review with an assignment to the claimant', async () => {
    const { id } = await create(C.author, 'erp');
    const r = await must(C.sdis31, 'erp', id, 'claim', 'in_review');
    assert.deepEqual(r.assignments.map((a) => [a.authority, a.user_id, a.user_name]), [['sdis', U.sdis31.id, 'Nom sdis31']]);
    assert.equal(reviewCount(id), 0, 'a claim is no decision');
    // The DDT can still decide; the SDIS can no longer claim.
    assert.deepEqual((await get(C.ddt31, 'erp', id)).allowed_actions, ['validate', 'request_changes', 'reject']);
    assertError(await act(C.sdis31b, 'erp', id, 'claim'), 409, 'transition_forbidden');
  });

  test('withdraw by the author from draft, submitted, in_review and changes_requested', async () => {
    for (const state of ['draft', 'submitted', 'in_review', 'changes_requested']) {
      const id = await inState(state);
      const r = await must(C.author, 'erp', id, 'withdraw', 'withdrawn');
      assert.deepEqual(r.allowed_actions, []);
      assert.ok(!(await queueIds(C.sdis31)).includes(id));
    }
  });

  test('submit via transitions re-checks the stored content, like PATCH submit:true', async () => {
    // An incomplete draft cannot be sent.
    const d = await create(C.author, 'erp', { submit: false, attrs: { libelle: `Incomplet ${uniq()}` } });
    let r = await act(C.author, 'erp', d.id, 'submit');
    assertError(r, 422, 'validation_failed');
    assert.deepEqual(r.json.errors.map((e) => `${e.field}:${e.code}`), ['categorie:field_required', 'type_principal:field_required']);
    assert.equal(dbState(d.id), 'draft');
    // Completed, it can.
    r = await C.author.req('PATCH', sub('erp', d.id), { attributes: ATTRS.erp({ libelle: d.attributes.libelle }), geometry: spot() });
    assert.deepEqual([r.status, r.json.state], [200, 'draft'], r.text);
    r = await must(C.author, 'erp', d.id, 'submit', 'submitted');
    assert.equal(r.round, 1);
    assert.ok(r.submitted_at && r.due_at);
    // Warnings must be confirmed, as with PATCH.
    const w = await create(C.author, 'erp', { submit: false, attrs: ATTRS.erp({ categorie: '1' }) });
    r = await act(C.author, 'erp', w.id, 'submit', { confirm_warnings: false });
    assertError(r, 422, 'warnings_unconfirmed');
    assert.deepEqual(r.json.warnings.map((x) => x.code), ['categorie_capacite_basse']);
    await must(C.author, 'erp', w.id, 'submit', 'submitted');
    // Resubmit, after changes requested, opens a new round.
    await must(C.sdis31, 'erp', w.id, 'request_changes', 'changes_requested');
    r = await must(C.author, 'erp', w.id, 'resubmit', 'submitted');
    assert.equal(r.round, 2);
    const events = (await C.author.req('GET', `${sub('erp', w.id)}/events`)).json.events.filter((e) => e.kind === 'transition');
    assert.deepEqual(events.map((e) => [e.payload.action, e.payload.from, e.payload.to]),
      [['submit', 'draft', 'submitted'], ['request_changes', 'submitted', 'changes_requested'], ['resubmit', 'changes_requested', 'submitted']]);
  });
});

// --- the whole table -------------------------------------------------------------

describe('every transition of workflow.json × state × actor (ERP)', () => {
  // The competent reviewer is SDIS 31's; SDIS 34's is not; the org admin is
  // the author's organisation's (it reads, it does not act).
  const ACTORS = { author: 'author', reviewer: 'sdis31', stranger: 'sdis34', admin: 'admin', org_admin: 'tlsadmin' };
  const allowedFor = (state, actor) => WF.transitions.filter((t) => t.from.includes(state)
    && (t.by === 'author' ? actor === 'author' : actor === 'reviewer' || actor === 'admin')).map((t) => t.action);
  // Drafts are their author's (inState withdraws what it had sent).
  const visible = (state, actor) => state === 'validated' || state === 'deleted'
    || (actor !== 'stranger' && !(actor === 'reviewer' && state === 'draft'));

  test('the table covers every state and action of the file', () => {
    assert.deepEqual(STATES, ['draft', 'submitted', 'in_review', 'changes_requested', 'validated', 'rejected', 'withdrawn', 'deleted']);
    assert.deepEqual(ACTIONS, ['submit', 'resubmit', 'withdraw', 'claim', 'validate', 'request_changes', 'reject']);
    assert.deepEqual(allowedFor('submitted', 'reviewer'), ['claim', 'validate', 'request_changes', 'reject']);
    assert.deepEqual(allowedFor('draft', 'author'), ['submit', 'withdraw']);
  });

  for (const state of STATES) {
    for (const [actor, account] of Object.entries(ACTORS)) {
      for (const action of ACTIONS) {
        const allowed = allowedFor(state, actor);
        const want = !visible(state, actor) ? 404 : allowed.includes(action) ? 200 : 409;
        test(`${action} on ${state} by ${actor} → ${want}`, async () => {
          const id = await inState(state);
          const c = C[account];
          const before = Number(psql(srv.db, `SELECT version FROM submissions WHERE id = ${id}`));
          const r = await act(c, 'erp', id, action);
          assert.equal(r.status, want, r.text);
          if (want === 404) {
            assertError(r, 404, 'not_found');
            assert.equal(dbState(id), state);
            return;
          }
          if (want === 409) {
            assertError(r, 409, 'transition_forbidden', 'action');
            assert.deepEqual(r.json.allowed, allowed);
            const g = await get(c, 'erp', id);
            assert.deepEqual(g.allowed_actions, r.json.allowed, 'allowed differs from the record’s allowed_actions');
            assert.equal(g.state, state);
            assert.equal(g.version, before, 'a refused action changed the version');
            return;
          }
          const t = WF.transitions.find((x) => x.action === action);
          const to = action === 'validate' && actor === 'reviewer' ? 'in_review' : t.to;
          assert.equal(r.json.state, to);
          assert.equal(r.json.version, before + 1);
          assert.equal(r.headers.get('etag'), `"${before + 1}"`);
          assert.equal(dbState(id), to);
          const last = (await C.admin.req('GET', `${sub('erp', id)}/events`)).json.events.at(-1);
          assert.deepEqual([last.kind, last.payload.action, last.payload.from, last.payload.to, last.actor_id],
            ['transition', action, state, to, U[account].id]);
        });
      }
    }
  }
});

// --- versions and ETags ----------------------------------------------------------

describe('versions and ETags', () => {
  test('GET, POST and transitions answer ETag "<version>"', async () => {
    const r = await C.author.req('POST', sub('erp'), { attributes: ATTRS.erp(), geometry: spot(), submit: true, confirm_warnings: true });
    assert.equal(r.headers.get('etag'), '"1"');
    const g = await C.sdis31.req('GET', sub('erp', r.json.id));
    assert.equal(g.headers.get('etag'), '"1"');
    assert.equal(g.json.version, 1);
    const t = await act(C.sdis31, 'erp', r.json.id, 'claim', {}, { 'If-Match': g.headers.get('etag') });
    assert.equal(t.status, 200, t.text);
    assert.equal(t.headers.get('etag'), '"2"');
    // If-Match compares strongly: a weak ETag is refused; * means "any version".
    assertError(await act(C.sdis31, 'erp', r.json.id, 'validate', {}, { 'If-Match': 'W/"2"' }), 400, 'if_match_invalid', 'If-Match');
    assertError(await act(C.sdis31, 'erp', r.json.id, 'validate', {}, { 'If-Match': '"+2"' }), 400, 'if_match_invalid', 'If-Match');
    assert.equal((await act(C.sdis31, 'erp', r.json.id, 'validate', {}, { 'If-Match': '"2"' })).status, 200);
    assert.equal((await act(C.ddt31, 'erp', r.json.id, 'validate', {}, { 'If-Match': '*' })).status, 200);
  });

  test('a transition with a stale If-Match or version → 409 stale_version with the current record', async () => {
    const { id } = await create(C.author, 'erp');
    await must(C.sdis31, 'erp', id, 'claim', 'in_review');
    for (const [extra, headers] of [[{}, { 'If-Match': '"1"' }], [{ version: 1 }, undefined], [{ version: 7 }, undefined]]) {
      const r = await act(C.ddt31, 'erp', id, 'validate', extra, headers);
      assertError(r, 409, 'stale_version', 'version');
      assert.equal(r.json.current_version, 2);
      assert.equal(r.json.current.id, id);
      assert.equal(r.json.current.state, 'in_review');
      assert.equal(r.json.current.version, 2);
      assert.deepEqual(r.json.current.allowed_actions, ['validate', 'request_changes', 'reject']);
      assert.equal(r.headers.get('etag'), '"2"');
    }
    assert.equal(reviewCount(id), 0);
    // A body version that contradicts the header is refused.
    assertError(await act(C.ddt31, 'erp', id, 'validate', { version: 2 }, { 'If-Match': '"1"' }), 400, 'version_conflict', 'version');
    assert.equal((await act(C.ddt31, 'erp', id, 'validate', { version: 2 }, { 'If-Match': '"2"' })).status, 200);
  });

  test('a PATCH with a stale If-Match or version → 409 stale_version with the current record', async () => {
    const d = await create(C.author, 'erp', { submit: false });
    const ok = await C.author.req('PATCH', sub('erp', d.id), { attributes: d.attributes }, { headers: { 'If-Match': '"1"' } });
    assert.deepEqual([ok.status, ok.json.version, ok.headers.get('etag')], [200, 2, '"2"'], ok.text);
    for (const [body, headers] of [[{ attributes: d.attributes }, { 'If-Match': '"1"' }], [{ attributes: d.attributes, version: 1 }, {}]]) {
      const r = await C.author.req('PATCH', sub('erp', d.id), body, { headers });
      assertError(r, 409, 'stale_version', 'version');
      assert.equal(r.json.current_version, 2);
      assert.equal(r.json.current.id, d.id);
      assert.equal(r.json.current.state, 'draft');
    }
  });

  test('a malformed If-Match → 400 if_match_invalid', async () => {
    const d = await create(C.author, 'erp', { submit: false });
    for (const h of ['1', 'abc', '"abc"', '"0"', '"-1"', '"1', '"1" "2"', 'W/1', '"99999999999"']) {
      assertError(await C.author.req('PATCH', sub('erp', d.id), { attributes: d.attributes }, { headers: { 'If-Match': h } }),
        400, 'if_match_invalid', 'If-Match');
      assertError(await act(C.author, 'erp', d.id, 'withdraw', {}, { 'If-Match': h }), 400, 'if_match_invalid', 'If-Match');
    }
    assert.equal(dbState(d.id), 'draft');
  });

  test('two reviewers deciding at the same moment: one wins, the other gets 409, one review row (×10)', async () => {
    const pairs = [['validate', 'validate'], ['validate', 'reject'], ['reject', 'validate'], ['reject', 'request_changes'], ['request_changes', 'validate']];
    for (let i = 0; i < 10; i++) {
      const { id } = await create(C.author, 'equipco');
      const [a1, a2] = pairs[i % pairs.length];
      const h = { 'If-Match': '"1"' };
      const res = await Promise.all([act(C.ddt31, 'equipco', id, a1, {}, h), act(C.openigrev, 'equipco', id, a2, {}, h)]);
      const statuses = res.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 409], res.map((r) => r.text).join('\n'));
      const lost = res.find((r) => r.status === 409);
      assert.equal(lost.json.error.code, 'stale_version');
      assert.equal(lost.json.current_version, 2);
      assert.equal(reviewCount(id), 1, `round ${i}: review rows`);
      assert.equal(eventCount(id), 2, `round ${i}: events`);
    }
  });

  test('the same without If-Match: the second finds a state it cannot leave (409), one review row', async () => {
    for (let i = 0; i < 5; i++) {
      const { id } = await create(C.author, 'equipco');
      const res = await Promise.all([act(C.ddt31, 'equipco', id, 'validate'), act(C.openigrev, 'equipco', id, 'reject')]);
      assert.deepEqual(res.map((r) => r.status).sort(), [200, 409], res.map((r) => r.text).join('\n'));
      assert.equal(res.find((r) => r.status === 409).json.error.code, 'transition_forbidden');
      assert.equal(reviewCount(id), 1);
    }
  });

  test('the author sending twice at once (double click): one 200, one 409, one event', async () => {
    for (let i = 0; i < 5; i++) {
      const d = await create(C.author, 'erp', { submit: false });
      const res = await Promise.all([act(C.author, 'erp', d.id, 'submit'), act(C.author, 'erp', d.id, 'submit')]);
      assert.deepEqual(res.map((r) => r.status).sort(), [200, 409], res.map((r) => r.text).join('\n'));
      assert.equal(dbState(d.id), 'submitted');
      assert.equal(Number(psql(srv.db, `SELECT count(*) FROM events WHERE submission_id = ${d.id} AND kind = 'transition'`)), 1);
      assert.equal(Number(psql(srv.db, `SELECT round FROM submissions WHERE id = ${d.id}`)), 1);
    }
  });

  test('the author withdrawing while a reviewer decides: one wins', async () => {
    for (let i = 0; i < 5; i++) {
      const { id } = await create(C.author, 'equipco');
      const res = await Promise.all([act(C.author, 'equipco', id, 'withdraw'), act(C.ddt31, 'equipco', id, 'validate')]);
      assert.deepEqual(res.map((r) => r.status).sort(), [200, 409], res.map((r) => r.text).join('\n'));
      const won = res.findIndex((r) => r.status === 200);
      assert.equal(dbState(id), won === 0 ? 'withdrawn' : 'validated');
      assert.equal(reviewCount(id), won === 0 ? 0 : 1);
    }
  });

  test('ERP: SDIS and DDT validating at the same moment with the same If-Match: one wins', async () => {
    for (let i = 0; i < 5; i++) {
      const { id } = await create(C.author, 'erp');
      const h = { 'If-Match': '"1"' };
      const res = await Promise.all([act(C.sdis31, 'erp', id, 'validate', {}, h), act(C.ddt31, 'erp', id, 'validate', {}, h)]);
      assert.deepEqual(res.map((r) => r.status).sort(), [200, 409], res.map((r) => r.text).join('\n'));
      assert.equal(res.find((r) => r.status === 200).json.state, 'in_review');
      assert.equal(reviewCount(id), 1);
    }
  });
});

// --- remarks, edits, diffs ------------------------------------------------------------

describe('per-field remarks, edits and diffs', () => {
  let id;
  let reviewed;	// the version the reviewer saw
  const first = { type: 'Point', coordinates: [1.4313, 43.5987] };
  const moved = { type: 'Point', coordinates: [1.4323, 43.5987] };	// 0.001° east: ~80.5 m

  before(async () => {
    const r = await create(C.author, 'erp', { geometry: first, attrs: ATTRS.erp({ libelle: 'Salle des fêtes de Bagatelle' }) });
    id = r.id;
  });

  test('PATCH is refused in submitted → 409 not_editable', async () => {
    const r = await C.author.req('PATCH', sub('erp', id), { attributes: ATTRS.erp() });
    assertError(r, 409, 'not_editable');
  });

  test('request_changes with remarks; the author reads them in last_review', async () => {
    const g = await get(C.sdis31, 'erp', id);
    reviewed = g.version;
    await must(C.sdis31, 'erp', id, 'request_changes', 'changes_requested', {
      comment: 'Deux points à revoir.',
      remarks: { capacite_d_accueil_du_public: 'La capacité semble sous-estimée.', geometry: 'Placez le point sur l’entrée.' },
    });
    const a = await get(C.author, 'erp', id);
    assert.equal(a.state, 'changes_requested');
    assert.deepEqual(a.allowed_actions, ['resubmit', 'withdraw']);
    assert.deepEqual(a.last_review.remarks, { capacite_d_accueil_du_public: 'La capacité semble sous-estimée.', geometry: 'Placez le point sur l’entrée.' });
    assert.equal(a.last_review.decision, 'request_changes');
    assert.equal(a.last_review.version, reviewed);
    assert.equal(a.last_review.authority, 'sdis');
    assert.equal(a.last_review.organisation_name, 'SDIS 31');
    assert.equal(a.last_review.reviewer_name, 'Nom sdis31');
    assert.equal(a.last_review.comment, 'Deux points à revoir.');
  });

  test('the author edits in changes_requested (it stays there), then resubmits', async () => {
    const a = await get(C.author, 'erp', id);
    let r = await C.author.req('PATCH', sub('erp', id), { attributes: { ...a.attributes, capacite_d_accueil_du_public: 1400 },
      geometry: moved, version: a.version });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.state, 'changes_requested');
    assert.equal(r.json.version, a.version + 1);
    assert.ok(!(await queueIds(C.sdis31)).includes(id), 'an edit sends it back');
    r = await must(C.author, 'erp', id, 'resubmit', 'submitted', { version: a.version + 1 });
    assert.equal(r.version, a.version + 2);
    assert.ok((await queueIds(C.sdis31)).includes(id));
  });

  test('diff from the reviewed version lists exactly the changed field, and how far the point moved', async () => {
    const r = await C.sdis31.req('GET', `${sub('erp', id)}/diff?from=${reviewed}`);
    assert.equal(r.status, 200, r.text);
    const cur = await get(C.sdis31, 'erp', id);
    assert.equal(r.json.from, reviewed);
    assert.equal(r.json.to, cur.version);
    assert.deepEqual(r.json.fields, [{ field: 'capacite_d_accueil_du_public', label: "Capacité d'accueil du public", before: 1156, after: 1400 }]);
    assert.equal(r.json.geometry.changed, true);
    assert.ok(Math.abs(r.json.geometry.moved_m - 80.5) < 1.5, `moved ${r.json.geometry.moved_m} m`);
    assert.deepEqual(r.json.geometry.before, first);
    assert.deepEqual(r.json.geometry.after, moved);
    assert.equal(r.json.state_before, 'submitted');
    assert.equal(r.json.state_after, 'submitted');
  });

  test('diff between two given versions; nothing changed → no field, geometry unchanged', async () => {
    const cur = await get(C.author, 'erp', id);
    let r = await C.author.req('GET', `${sub('erp', id)}/diff?from=${reviewed}&to=${reviewed + 1}`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.fields, []);
    assert.deepEqual([r.json.geometry.changed, r.json.geometry.moved_m], [false, 0]);
    assert.deepEqual([r.json.state_before, r.json.state_after], ['submitted', 'changes_requested']);
    r = await C.author.req('GET', `${sub('erp', id)}/diff?from=${cur.version - 1}&to=${cur.version}`);
    assert.deepEqual(r.json.fields, [], 'a resubmission without edit changes nothing');
  });

  test('diff: unknown version → 404; bad from → 400', async () => {
    assertError(await C.author.req('GET', `${sub('erp', id)}/diff?from=999`), 404, 'version_not_found');
    assertError(await C.author.req('GET', `${sub('erp', id)}/diff?from=1&to=999`), 404, 'version_not_found');
    assert.equal((await C.author.req('GET', `${sub('erp', id)}/diff`)).status, 400);
    assert.equal((await C.author.req('GET', `${sub('erp', id)}/diff?from=0`)).status, 400);
    assert.equal((await C.author.req('GET', `${sub('erp', id)}/diff?from=x`)).status, 400);
  });

  test('versions lists every version with its state and changed fields', async () => {
    const r = await C.author.req('GET', `${sub('erp', id)}/versions`);
    assert.equal(r.status, 200, r.text);
    const v = r.json.versions;
    assert.deepEqual(v.map((x) => [x.version, x.state, x.changed, x.geometry_changed]), [
      [1, 'submitted', [], false],
      [2, 'changes_requested', [], false],
      [3, 'changes_requested', ['capacite_d_accueil_du_public'], true],
      [4, 'submitted', [], false],
    ]);
    assert.deepEqual(v.map((x) => x.saved_by), [U.author.id, U.sdis31.id, U.author.id, U.author.id]);
    assert.equal(v[1].saved_by_name, 'Nom sdis31');
    assert.equal(Number(psql(srv.db, `SELECT count(*) FROM submission_versions WHERE submission_id = ${id}`)), 4);
  });

  test('PATCH is refused once validated → 409 not_editable', async () => {
    await must(C.admin, 'erp', id, 'validate', 'validated');
    assertError(await C.author.req('PATCH', sub('erp', id), { attributes: ATTRS.erp() }), 409, 'not_editable');
    assertError(await C.author.req('PATCH', sub('erp', await inState('rejected')), { attributes: ATTRS.erp() }), 409, 'not_editable');
    assertError(await C.author.req('PATCH', sub('erp', await inState('in_review')), { attributes: ATTRS.erp() }), 409, 'not_editable');
  });

  test('versions of an unknown record → 404', async () => {
    assertError(await C.author.req('GET', `${sub('erp', 987654)}/versions`), 404, 'not_found');
  });
});

// --- amendments --------------------------------------------------------------------

describe('amendments of validated objects', () => {
  test('modify: reviewed like any submission; once validated the object changes and its version increments', async () => {
    const obj = await create(C.author, 'erp');
    const v = (await must(C.admin, 'erp', obj.id, 'validate', 'validated')).version;
    const geometry = { type: 'Point', coordinates: [Number((obj.geometry.coordinates[0] + 0.0001).toFixed(5)), obj.geometry.coordinates[1]] };
    const am = await create(C.author, 'erp', { attrs: { ...obj.attributes, capacite_d_accueil_du_public: 1300 }, geometry,
      extra: { amends: obj.id, operation: 'modify' } });
    assert.deepEqual([am.state, am.operation, am.target_id], ['submitted', 'modify', obj.id]);
    assert.notEqual(am.id, obj.id);
    const g = await get(C.sdis31, 'erp', am.id);
    assert.equal(g.target_version, v);
    const row = (await queue(C.sdis31)).find((s) => s.id === am.id);
    assert.equal(row?.operation, 'modify');
    // Until validated, the object does not change.
    await must(C.sdis31, 'erp', am.id, 'validate', 'in_review');
    assert.equal((await get(C.author, 'erp', obj.id)).version, v);
    await must(C.ddt31, 'erp', am.id, 'validate', 'validated');
    const after = await get(C.sdis34, 'erp', obj.id);
    assert.equal(after.state, 'validated');
    assert.equal(after.version, v + 1);
    assert.equal(after.attributes.capacite_d_accueil_du_public, 1300);
    assert.deepEqual(after.geometry, geometry);
    const versions = (await C.author.req('GET', `${sub('erp', obj.id)}/versions`)).json.versions;
    assert.deepEqual(versions.at(-1).changed, ['capacite_d_accueil_du_public']);
    assert.equal(versions.at(-1).saved_by, U.ddt31.id);
    const ev = (await C.author.req('GET', `${sub('erp', obj.id)}/events`)).json.events.at(-1);
    assert.deepEqual([ev.kind, ev.payload.amendment, ev.actor_id], ['object.modified', am.id, U.ddt31.id]);
  });

  test('amends without operation is a modification; another organisation may amend', async () => {
    const obj = await create(C.author, 'erp');
    await must(C.admin, 'erp', obj.id, 'validate', 'validated');
    const am = await create(C.cdauthor, 'erp', { attrs: { ...obj.attributes, capacite_d_accueil_du_public: 1499 }, geometry: obj.geometry,
      extra: { amends: obj.id } });
    assert.equal(am.operation, 'modify');
    await must(C.admin, 'erp', am.id, 'validate', 'validated');
    assert.equal((await get(C.author, 'erp', obj.id)).attributes.capacite_d_accueil_du_public, 1499);
  });

  test('delete: once validated the object becomes "deleted"', async () => {
    const obj = await create(C.author, 'equipco');
    await must(C.ddt31, 'equipco', obj.id, 'validate', 'validated');
    const am = await create(C.author, 'equipco', { attrs: {}, geometry: null, extra: { amends: obj.id, operation: 'delete' } });
    assert.equal(am.operation, 'delete');
    assert.deepEqual(am.attributes, obj.attributes, 'a deletion request carries the object as it is');
    assert.deepEqual(am.geometry, obj.geometry);
    await must(C.openigrev, 'equipco', am.id, 'validate', 'validated');
    const gone = await get(C.author, 'equipco', obj.id);
    assert.equal(gone.state, 'deleted');
    assert.equal(gone.version, 3);
    assert.equal((await get(C.sdis34, 'equipco', obj.id)).state, 'deleted', 'a deleted object stays readable');
    const ev = (await C.author.req('GET', `${sub('equipco', obj.id)}/events`)).json.events.at(-1);
    assert.deepEqual([ev.kind, ev.payload.amendment], ['object.deleted', am.id]);
    // It can no longer be amended.
    const again = await C.author.req('POST', sub('equipco'), { attributes: {}, amends: obj.id, operation: 'delete', submit: true });
    assertError(again, 409, 'not_amendable', 'amends');
  });

  test('the author lists its deleted objects (state=deleted)', async () => {
    const id = await inState('deleted', 'equipco');
    const r = await C.author.req('GET', `${sub('equipco')}?state=deleted`);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.submissions.some((x) => x.id === id));
    assert.ok(r.json.submissions.every((x) => x.state === 'deleted'));
  });

  test('an amendment outside the author’s territory is refused (403)', async () => {
    const obj = await inState('validated');
    const o = await get(C.author, 'erp', obj);
    const r = await C.montauthor.req('POST', sub('erp'), { attributes: { ...o.attributes, capacite_d_accueil_du_public: 1001 },
      geometry: o.geometry, amends: obj, submit: true, confirm_warnings: true });
    assertError(r, 403, 'outside_territory');
    const del = await C.montauthor.req('POST', sub('erp'), { attributes: {}, amends: obj, operation: 'delete', submit: true, confirm_warnings: true });
    assertError(del, 403, 'outside_territory');
  });

  test('amending a record that is not a validated object → 409 not_amendable', async () => {
    const cases = [await inState('submitted'), await inState('draft'), await inState('rejected'), await inState('in_review'), 99999999];
    const v = await inState('validated');
    const amendment = await create(C.author, 'erp', { attrs: ATTRS.erp(), extra: { amends: v } });
    await must(C.admin, 'erp', amendment.id, 'validate', 'validated');
    cases.push(amendment.id);	// a validated amendment
    cases.push(await inState('validated', 'equipco'));	// another guichet
    for (const target of cases) {
      const r = await C.author.req('POST', sub('erp'), { attributes: ATTRS.erp(), geometry: spot(), amends: target, operation: 'modify', submit: true, confirm_warnings: true });
      assertError(r, 409, 'not_amendable', 'amends');
    }
  });

  test('one amends only what lies in one’s territory, and against the version one saw', async () => {
    const obj = await create(C.author, 'erp');
    await must(C.admin, 'erp', obj.id, 'validate', 'validated');
    const body = { attributes: { ...obj.attributes, libelle: `Déplacé ${uniq()}` }, geometry: pointIn('34172'), amends: obj.id, submit: true, confirm_warnings: true };
    // Montpellier's agent cannot pull a Toulouse object into Montpellier.
    assertError(await C.montauthor.req('POST', sub('erp'), body), 403, 'outside_territory', 'amends');
    const v = (await get(C.author, 'erp', obj.id)).version;
    const stale = await C.author.req('POST', sub('erp'), { ...body, geometry: obj.geometry, attributes: { ...obj.attributes }, amends_version: v - 1 });
    assertError(stale, 409, 'stale_version', 'amends_version');
    const ok = await C.author.req('POST', sub('erp'), { ...body, geometry: obj.geometry, attributes: { ...obj.attributes, capacite_d_accueil_du_public: 1200 }, amends_version: v });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.json.target_version, v);
  });

  test('a move across territories needs a reviewer competent in both places', async () => {
    // An address of Toulouse moved to Blagnac: each commune's reviewer sees
    // one place only; the EPCI, which covers both, decides.
    const obj = await create(C.author, 'adresse');
    await must(C.tlsrev, 'adresse', obj.id, 'validate', 'validated');
    const am = await create(C.cdauthor, 'adresse', { attrs: { ...obj.attributes, commune_insee: undefined }, geometry: pointIn('31069'), extra: { amends: obj.id } });
    for (const c of [C.tlsrev, C.blagrev]) {
      assert.deepEqual((await get(c, 'adresse', am.id)).allowed_actions, [], 'a reviewer of one place only reads it');
      assertError(await act(c, 'adresse', am.id, 'validate'), 409, 'transition_forbidden', 'action');
      assert.ok(!(await queueIds(c)).includes(am.id));
    }
    assert.ok((await queueIds(C.epcirev)).includes(am.id));
    await must(C.epcirev, 'adresse', am.id, 'validate', 'validated');
    assert.equal((await get(C.author, 'adresse', obj.id)).insee_commune, '31069');
  });

  test('a deletion request is sent or withdrawn, never edited', async () => {
    const obj = await create(C.author, 'equipco');
    await must(C.ddt31, 'equipco', obj.id, 'validate', 'validated');
    const del = await create(C.author, 'equipco', { attrs: {}, submit: false, extra: { amends: obj.id, operation: 'delete' } });
    const r = await C.author.req('PATCH', sub('equipco', del.id), { attributes: { ...obj.attributes, toponyme: 'Autre' } });
    assertError(r, 409, 'not_editable');
    await must(C.author, 'equipco', del.id, 'submit', 'submitted');
    assert.deepEqual((await get(C.author, 'equipco', del.id)).attributes, obj.attributes);
  });

  test('an operation without the object it concerns → 422 amends_required', async () => {
    for (const operation of ['modify', 'delete']) {
      const r = await C.author.req('POST', sub('erp'), { attributes: ATTRS.erp(), geometry: spot(), operation, submit: true, confirm_warnings: true });
      assertError(r, 422, 'amends_required', 'amends');
    }
  });

  test('if the object changed between the amendment’s creation and its validation → 409 target_changed', async () => {
    const obj = await create(C.author, 'erp');
    const v = (await must(C.admin, 'erp', obj.id, 'validate', 'validated')).version;
    const a1 = await create(C.author, 'erp', { attrs: { ...obj.attributes, capacite_d_accueil_du_public: 1200 }, geometry: obj.geometry, extra: { amends: obj.id } });
    const a2 = await create(C.author, 'erp', { attrs: { ...obj.attributes, capacite_d_accueil_du_public: 1250 }, geometry: obj.geometry, extra: { amends: obj.id } });
    await must(C.admin, 'erp', a1.id, 'validate', 'validated');
    assert.equal((await get(C.author, 'erp', obj.id)).version, v + 1);
    // The first authority's sign-off does not apply anything.
    await must(C.sdis31, 'erp', a2.id, 'validate', 'in_review');
    const r = await act(C.ddt31, 'erp', a2.id, 'validate');
    assertError(r, 409, 'target_changed');
    assert.equal(dbState(a2.id), 'in_review');
    assert.equal(reviewCount(a2.id), 1, 'the refused validation left a review');
    const o = await get(C.author, 'erp', obj.id);
    assert.deepEqual([o.version, o.attributes.capacite_d_accueil_du_public], [v + 1, 1200]);
    // The admin, too.
    assertError(await act(C.admin, 'erp', a2.id, 'validate'), 409, 'target_changed');
    // It can still be refused.
    await must(C.ddt31, 'erp', a2.id, 'reject', 'rejected', { reason: 'autre', comment: 'L’objet a changé entre-temps.' });
  });

  test('the look-alike warning does not point at the object being amended', async () => {
    const place = P.union;
    const obj = await create(C.cdauthor, 'erp', { geometry: place, attrs: ATTRS.erp({ libelle: 'Médiathèque de L’Union' }) });
    assert.equal(obj.insee_commune, '31561');
    await must(C.admin, 'erp', obj.id, 'validate', 'validated');
    // A new record there is a look-alike of the object…
    const twin = await C.cdauthor.req('POST', sub('erp'), { attributes: ATTRS.erp({ libelle: 'Médiathèque de L’Union' }), geometry: place, submit: true });
    assertError(twin, 422, 'warnings_unconfirmed');
    assert.ok(twin.json.warnings.some((w) => w.code === 'duplicate_nearby' && w.candidates.some((x) => x.id === obj.id)), twin.text);
    // … an amendment of it is not.
    const am = await C.cdauthor.req('POST', sub('erp'), { attributes: { ...obj.attributes, capacite_d_accueil_du_public: 1000 },
      geometry: place, amends: obj.id, operation: 'modify', submit: true });
    assert.equal(am.status, 201, am.text);
    assert.deepEqual(am.json.warnings, []);
    // Nor is the pending amendment a look-alike of a later record.
    const other = await C.cdauthor.req('POST', sub('erp'), { attributes: ATTRS.erp({ libelle: 'Médiathèque de L’Union' }), geometry: place, submit: true });
    const ids = other.json.warnings.flatMap((w) => (w.candidates ?? []).map((x) => x.id));
    assert.ok(!ids.includes(am.json.id), other.text);
  });
});

// --- events ------------------------------------------------------------------------

describe('events', () => {
  test('each creation, save, transition and comment appends an event, in order', async () => {
    const d = await create(C.author, 'erp', { submit: false });
    let r = await C.author.req('PATCH', sub('erp', d.id), { attributes: { ...d.attributes, capacite_d_accueil_du_public: 1100 } });
    assert.equal(r.status, 200, r.text);
    await must(C.author, 'erp', d.id, 'submit', 'submitted');
    await must(C.sdis31, 'erp', d.id, 'claim', 'in_review');
    assert.equal((await C.sdis31.req('POST', `${sub('erp', d.id)}/comments`, { body: 'Je regarde.', field: 'libelle' })).status, 201);
    await must(C.sdis31, 'erp', d.id, 'request_changes', 'changes_requested');
    r = await C.author.req('PATCH', sub('erp', d.id), { attributes: d.attributes, submit: true, confirm_warnings: true });
    assert.deepEqual([r.status, r.json.state], [200, 'submitted'], r.text);
    await must(C.sdis31, 'erp', d.id, 'validate', 'in_review');
    await must(C.ddt31, 'erp', d.id, 'validate', 'validated');
    r = await C.author.req('GET', `${sub('erp', d.id)}/events`);
    assert.equal(r.status, 200, r.text);
    const ev = r.json.events;
    assert.deepEqual(ev.map((e) => [e.kind, e.payload.action ?? null, e.actor_id]), [
      ['submission.created', null, U.author.id],
      ['submission.saved', null, U.author.id],
      ['transition', 'submit', U.author.id],
      ['transition', 'claim', U.sdis31.id],
      ['comment', null, U.sdis31.id],
      ['transition', 'request_changes', U.sdis31.id],
      ['transition', 'resubmit', U.author.id],
      ['transition', 'validate', U.sdis31.id],
      ['transition', 'validate', U.ddt31.id],
    ]);
    for (let i = 1; i < ev.length; i++) assert.ok(ev[i].seq > ev[i - 1].seq);
    assert.deepEqual(ev[0].payload, { version: 1, state: 'draft' });
    assert.equal(ev[4].payload.field, 'libelle');
    assert.deepEqual([ev[7].payload.final, ev[7].payload.to, ev[7].payload.authority], [false, 'in_review', 'sdis']);
    assert.deepEqual([ev[8].payload.final, ev[8].payload.to, ev[8].payload.authority, ev[8].payload.version], [true, 'validated', 'ddt', 8]);
    assert.equal(ev[5].payload.comment, JUST.request_changes.comment);
    assert.equal(ev[3].actor_name, 'Nom sdis31');
    // Competent reviewers read them; others do not, even once validated.
    assert.equal((await C.ddt31.req('GET', `${sub('erp', d.id)}/events`)).status, 200);
    assertError(await C.sdis34.req('GET', `${sub('erp', d.id)}/events`), 404, 'not_found');
  });

  test('a refused transition appends nothing', async () => {
    const { id } = await create(C.author, 'erp');
    const n0 = eventCount(id);
    await act(C.sdis31, 'erp', id, 'reject', { reason: undefined });
    await act(C.author, 'erp', id, 'validate');
    await act(C.sdis31, 'erp', id, 'validate', {}, { 'If-Match': '"9"' });
    assert.equal(eventCount(id), n0);
  });

  test('the event table refuses UPDATE, DELETE and TRUNCATE; reviews and versions are append-only too', async () => {
    assert.throws(() => psql(srv.db, "UPDATE events SET payload = '{}' WHERE seq = 1"), /append-only/);
    assert.throws(() => psql(srv.db, 'DELETE FROM events WHERE seq = 1'), /append-only/);
    assert.throws(() => psql(srv.db, 'TRUNCATE events'), /append-only/);
    assert.throws(() => psql(srv.db, "UPDATE reviews SET comment = 'x'"), /append-only/);
    assert.throws(() => psql(srv.db, 'DELETE FROM submission_versions'), /append-only/);
    assert.ok(Number(psql(srv.db, 'SELECT count(*) FROM events')) > 0);
  });

  test('events are chained: seq without gaps, each prev_hash the hash before it', () => {
    const bad = psql(srv.db, `SELECT count(*) FROM events e LEFT JOIN events p ON p.seq = e.seq - 1
      WHERE e.seq > 1 AND (p.seq IS NULL OR e.prev_hash <> p.hash)`);
    assert.equal(bad, '0');
    assert.equal(psql(srv.db, 'SELECT (SELECT max(seq) FROM events) = seq AND (SELECT hash FROM events ORDER BY seq DESC LIMIT 1) = hash FROM event_head'), 't');
  });
});

// --- comments ----------------------------------------------------------------------

describe('comments', () => {
  let id;

  before(async () => {
    id = (await create(C.author, 'erp')).id;
    await must(C.sdis31, 'erp', id, 'claim', 'in_review');
  });

  test('the author and competent reviewers post and read them, in order', async () => {
    const posts = [
      [C.author, { body: 'Le nom est celui de l’enseigne.', field: 'libelle' }],
      [C.sdis31, { body: 'Le point est-il sur l’entrée ?', field: 'geometry' }],
      [C.ddt31, { body: 'Rien à ajouter.' }],
    ];
    for (const [c, body] of posts) {
      const r = await c.req('POST', `${sub('erp', id)}/comments`, body);
      assert.equal(r.status, 201, r.text);
      assert.deepEqual([r.json.body, r.json.field], [body.body, body.field ?? null]);
      assert.ok(r.json.id && r.json.created_at && r.json.author_name);
    }
    for (const c of [C.author, C.sdis31, C.ddt31, C.tlsadmin, C.admin]) {
      const r = await c.req('GET', `${sub('erp', id)}/comments`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.comments.map((x) => [x.author_id, x.field, x.body]), [
        [U.author.id, 'libelle', posts[0][1].body], [U.sdis31.id, 'geometry', posts[1][1].body], [U.ddt31.id, null, posts[2][1].body]]);
    }
  });

  test('others get 404, even on a validated record they can read', async () => {
    for (const c of [C.sdis34, C.author2, C.montauthor]) {
      assertError(await c.req('GET', `${sub('erp', id)}/comments`), 404, 'not_found');
      assertError(await c.req('POST', `${sub('erp', id)}/comments`, { body: 'Intrus' }), 404, 'not_found');
    }
    const v = await inState('validated');
    assertError(await C.sdis34.req('POST', `${sub('erp', v)}/comments`, { body: 'Intrus' }), 404, 'not_found');
    assertError(await C.sdis34.req('GET', `${sub('erp', v)}/comments`), 404, 'not_found');
    assert.equal((await C.author.req('POST', `${sub('erp', v)}/comments`, { body: 'Merci' })).status, 201);
  });

  test('the field must be a form field or "geometry"; the body 1 to 5000 characters', async () => {
    assertError(await C.author.req('POST', `${sub('erp', id)}/comments`, { body: 'x', field: 'toponyme' }), 422, 'field_unknown', 'field');
    assertError(await C.author.req('POST', `${sub('erp', id)}/comments`, { body: 'x', field: 'pas_un_champ' }), 422, 'field_unknown', 'field');
    assert.equal((await C.author.req('POST', `${sub('erp', id)}/comments`, { body: '' })).status, 400);
    assert.equal((await C.author.req('POST', `${sub('erp', id)}/comments`, { body: 'x'.repeat(5001) })).status, 400);
    assert.equal((await C.author.req('POST', `${sub('erp', id)}/comments`, {})).status, 400);
    assert.equal((await C.author.req('POST', `${sub('erp', id)}/comments`, { body: 'é'.repeat(5000) })).status, 201);
  });

  test('comments and decisions keep their line breaks; other control characters are refused', async () => {
    const body = 'Deux points :\n- le nom ;\r\n- l’adresse.\tMerci.';
    const r = await C.author.req('POST', `${sub('erp', id)}/comments`, { body });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.body, body);
    assertError(await C.author.req('POST', `${sub('erp', id)}/comments`, { body: 'bip\u0007' }), 400, 'param_invalid', 'body');
    const x = (await create(C.author, 'erp')).id;
    assertError(await C.sdis31.req('POST', `${sub('erp', x)}/transitions`, { action: 'request_changes', remarks: { libelle: 'a\u0001b' } }),
      422, 'remark_invalid', 'remarks');
    const ok = await C.sdis31.req('POST', `${sub('erp', x)}/transitions`, { action: 'request_changes', comment: 'Ligne 1\nLigne 2', remarks: { libelle: 'à revoir\nsvp' } });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual([ok.json.last_review.comment, ok.json.last_review.remarks.libelle], ['Ligne 1\nLigne 2', 'à revoir\nsvp']);
  });

  test('a draft, or what was withdrawn before being sent, is not the reviewers’ business', async () => {
    const d = (await create(C.author, 'erp', { submit: false })).id;
    for (const what of ['', '/comments', '/versions', '/events']) {
      assertError(await C.sdis31.req('GET', `${sub('erp', d)}${what}`), 404, 'not_found');
    }
    await must(C.author, 'erp', d, 'withdraw', 'withdrawn');
    assertError(await C.sdis31.req('GET', sub('erp', d)), 404, 'not_found');
  });

  test('a comment notifies the other participants, not its writer nor bystanders', async () => {
    const s = (await create(C.author, 'erp')).id;
    await must(C.sdis31, 'erp', s, 'claim', 'in_review');
    assert.equal((await C.author.req('POST', `${sub('erp', s)}/comments`, { body: 'Question ?' })).status, 201);
    assert.equal((await notes(C.sdis31, s, 'comment')).length, 1, 'the assignee is not told');
    assert.equal((await notes(C.author, s, 'comment')).length, 0, 'the writer is told');
    assert.equal((await notes(C.ddt31, s, 'comment')).length, 0, 'a bystander is told');
    assert.equal((await C.sdis31.req('POST', `${sub('erp', s)}/comments`, { body: 'Réponse.' })).status, 201);
    assert.equal((await notes(C.author, s, 'comment')).length, 1, 'the author is not told');
    assert.equal((await notes(C.sdis31, s, 'comment')).length, 1);
    // A reviewer who commented is a participant from then on.
    assert.equal((await C.ddt31.req('POST', `${sub('erp', s)}/comments`, { body: 'Vu.' })).status, 201);
    assert.equal((await C.author.req('POST', `${sub('erp', s)}/comments`, { body: 'Merci.' })).status, 201);
    assert.equal((await notes(C.ddt31, s, 'comment')).length, 1);
    assert.equal((await notes(C.sdis31, s, 'comment')).length, 3);
  });
});

// --- notifications -------------------------------------------------------------------

describe('notifications', () => {
  const outbox = (email, like = '%') => Number(psql(srv.db, `SELECT count(*) FROM outbox WHERE to_addr = '${email}' AND body LIKE '${like}'`));

  test('competent reviewers get one per new submission in their territory, SDIS 34 none', async () => {
    const { id } = await create(C.author2, 'erp');
    for (const who of ['sdis31', 'sdis31b', 'ddt31']) {
      const x = await notes(C[who], id, 'submitted');
      assert.equal(x.length, 1, who);
      assert.equal(x[0].guichet, 'erp');
      assert.match(x[0].message, new RegExp(`n° ${id}`));
      assert.equal(x[0].read_at, null);
    }
    for (const who of ['sdis34', 'ddt34', 'author2', 'admin', 'openigrev', 'tlsrev']) {
      assert.equal((await notes(C[who], id)).length, 0, who);
    }
    // A draft tells no one; sending it does.
    const d = await create(C.author2, 'equipco', { submit: false });
    assert.equal((await notes(C.ddt31, d.id)).length, 0);
    await must(C.author2, 'equipco', d.id, 'submit', 'submitted');
    assert.equal((await notes(C.ddt31, d.id, 'submitted')).length, 1);
    assert.equal((await notes(C.openigrev, d.id, 'submitted')).length, 1);
    assert.equal((await notes(C.sdis31, d.id)).length, 0);
  });

  test('the author gets one per decision (not per claim), with a mail each', async () => {
    const { id } = await create(C.author2, 'erp');
    const mails0 = outbox(U.author2.email, `%n° ${id})%`);
    assert.equal(mails0, 0);
    await must(C.sdis31, 'erp', id, 'claim', 'in_review');
    assert.equal((await notes(C.author2, id)).length, 0, 'a claim is no decision');
    await must(C.sdis31, 'erp', id, 'request_changes', 'changes_requested');
    assert.equal((await notes(C.author2, id, 'decision')).length, 1);
    await must(C.author2, 'erp', id, 'resubmit', 'submitted');
    assert.equal((await notes(C.sdis31, id, 'submitted')).length, 2, 'a resubmission tells the reviewers again');
    await must(C.sdis31, 'erp', id, 'validate', 'in_review');
    await must(C.ddt31, 'erp', id, 'validate', 'validated');
    const d = await notes(C.author2, id, 'decision');
    assert.equal(d.length, 3);
    assert.match(d[0].message, /validée par DDT\(M\)/);
    assert.match(d[1].message, /validée par SDIS/);
    assert.match(d[2].message, /modifications demandées par SDIS/);
    assert.equal(outbox(U.author2.email, `%n° ${id})%`), 3);
    assert.equal(Number(psql(srv.db, `SELECT count(*) FROM outbox WHERE to_addr = '${U.author2.email}' AND subject = 'Guichet : décision sur votre saisie' AND body LIKE '%n° ${id})%'`)), 3);
  });

  test('unread count; mark some read by id, then all; unread=true lists the unread', async () => {
    const { id } = await create(C.author2, 'erp');
    await must(C.admin, 'erp', id, 'reject', 'rejected');
    let r = await C.author2.req('GET', '/api/v1/notifications');
    assert.ok(r.json.unread >= 1);
    const unread0 = r.json.unread;
    const mine = r.json.notifications.filter((x) => x.read_at === null);
    assert.equal(Number(psql(srv.db, `SELECT count(*) FROM notifications WHERE user_id = ${U.author2.id} AND read_at IS NULL`)), unread0);
    r = await C.author2.req('POST', '/api/v1/notifications/read', { ids: [mine[0].id] });
    assert.equal(r.status, 204, r.text);
    r = await C.author2.req('GET', '/api/v1/notifications');
    assert.equal(r.json.unread, unread0 - 1);
    assert.ok(r.json.notifications.find((x) => x.id === mine[0].id).read_at);
    r = await C.author2.req('GET', '/api/v1/notifications?unread=true');
    assert.ok(r.json.notifications.every((x) => x.read_at === null));
    assert.ok(!r.json.notifications.some((x) => x.id === mine[0].id));
    // Someone else's ids are not marked.
    const other = (await C.sdis31.req('GET', '/api/v1/notifications?unread=true')).json;
    assert.equal((await C.author2.req('POST', '/api/v1/notifications/read', { ids: [other.notifications[0].id] })).status, 204);
    assert.equal((await C.sdis31.req('GET', '/api/v1/notifications')).json.unread, other.unread);
    r = await C.author2.req('POST', '/api/v1/notifications/read', { all: true });
    assert.equal(r.status, 204, r.text);
    r = await C.author2.req('GET', '/api/v1/notifications');
    assert.equal(r.json.unread, 0);
  });

  test('marking nothing → 422; bad ids → 400', async () => {
    assertError(await C.author2.req('POST', '/api/v1/notifications/read', {}), 422, 'nothing_to_mark', 'ids');
    assertError(await C.author2.req('POST', '/api/v1/notifications/read', { all: false }), 422, 'nothing_to_mark', 'ids');
    for (const ids of [[1, 1], ['1'], [0], [1.5], 'all']) {
      const r = await C.author2.req('POST', '/api/v1/notifications/read', { ids });
      assert.equal(r.status, 400, `${JSON.stringify(ids)}: ${r.text}`);
      assert.equal(r.json.error.field, 'ids');
    }
    assert.equal((await new Client(srv.base).req('GET', '/api/v1/notifications')).status, 401);
  });

  test('the mail preference: immediate by default, read and set by its owner', async () => {
    let r = await C.sdis31quiet.req('GET', '/api/v1/account/notifications');
    assert.deepEqual([r.status, r.json], [200, { notify: 'immediate' }], r.text);
    for (const bad of [{ notify: 'weekly' }, { notify: null }, {}]) {
      r = await C.sdis31quiet.req('PATCH', '/api/v1/account/notifications', bad);
      assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.text}`);
      assert.equal(r.json.error.field, 'notify');
    }
    assert.deepEqual((await C.sdis31quiet.req('GET', '/api/v1/account/notifications')).json, { notify: 'immediate' });
    assert.equal((await new Client(srv.base).req('GET', '/api/v1/account/notifications')).status, 401);
  });

  test('notify "none": in-app only, no mail', async () => {
    let r = await C.sdis31quiet.req('PATCH', '/api/v1/account/notifications', { notify: 'none' });
    assert.deepEqual([r.status, r.json], [200, { notify: 'none' }], r.text);
    assert.equal(psql(srv.db, `SELECT notify FROM users WHERE id = ${U.sdis31quiet.id}`), 'none');
    r = await C.sdis31quiet.req('GET', '/api/v1/account/notifications');
    assert.deepEqual([r.status, r.json], [200, { notify: 'none' }], r.text);
    const mails = outbox(U.sdis31quiet.email);
    assert.ok(mails > 0, 'while immediate, it got mails');
    const { id } = await create(C.author2, 'erp');
    assert.equal((await notes(C.sdis31quiet, id, 'submitted')).length, 1);
    assert.equal(outbox(U.sdis31quiet.email, `%n° ${id},%`), 0);
    assert.equal(outbox(U.sdis31b.email, `%n° ${id},%`), 1, 'an immediate colleague gets the mail');
    assert.equal(outbox(U.sdis31quiet.email), mails);
  });

  test('notify "digest": no mail at once; guichet notify digest queues one listing the unread, then nothing', async () => {
    let r = await C.author3.req('PATCH', '/api/v1/account/notifications', { notify: 'digest' });
    assert.deepEqual([r.status, r.json], [200, { notify: 'digest' }]);
    const a = await create(C.author3, 'erp');
    const b = await create(C.author3, 'erp');
    const c = await create(C.author3, 'erp');
    await must(C.sdis31, 'erp', a.id, 'request_changes', 'changes_requested');
    await must(C.admin, 'erp', b.id, 'validate', 'validated');
    await must(C.admin, 'erp', c.id, 'reject', 'rejected');
    assert.equal(outbox(U.author3.email), 0, 'a mail went at once');
    const all = (await C.author3.req('GET', '/api/v1/notifications')).json;
    assert.equal(all.unread, 3);
    const read = all.notifications.find((x) => x.submission_id === c.id);
    assert.equal((await C.author3.req('POST', '/api/v1/notifications/read', { ids: [read.id] })).status, 204);
    let out = runGuichet(['notify', 'digest'], { PGDATABASE: srv.db });
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /^1 digest\(s\) queued$/m);
    assert.equal(outbox(U.author3.email), 1);
    const [subject, body] = psql(srv.db, `SELECT subject, body FROM outbox WHERE to_addr = '${U.author3.email}'`).split('|');
    assert.match(subject, /2 notification/);
    assert.ok(body.includes(`n° ${a.id})`) && body.includes(`n° ${b.id})`), body);
    assert.ok(!body.includes(`n° ${c.id})`), 'a read notification is in the digest');
    assert.match(body, /notifications\.html/);
    out = runGuichet(['notify', 'digest'], { PGDATABASE: srv.db });
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /^0 digest\(s\) queued$/m);
    assert.equal(outbox(U.author3.email), 1);
    // The in-app list is unchanged by the digest.
    assert.equal((await C.author3.req('GET', '/api/v1/notifications')).json.unread, 2);
    await C.author3.req('PATCH', '/api/v1/account/notifications', { notify: 'immediate' });
  });
});

// --- bulk decisions --------------------------------------------------------------------

describe('bulk decisions', () => {
  const bulk = (c, body, g = 'erp') => c.req('POST', `/api/v1/guichets/${g}/decisions`, body);

  test('per-id results: 200 for competent ones, 404 or 409 for the others; one event each', async () => {
    const a = (await create(C.author, 'erp')).id;
    const b = (await create(C.author, 'erp')).id;
    const far = (await create(C.montauthor, 'erp', { geometry: P.montpellier })).id;
    const signed = (await create(C.author, 'erp')).id;
    await must(C.sdis31, 'erp', signed, 'validate', 'in_review');
    const equip = (await create(C.author, 'equipco')).id;
    const events = [a, b, far, signed].map(eventCount);
    const r = await bulk(C.sdis31, { ids: [a, b, far, signed, equip, 987654321], action: 'validate' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.results.map((x) => [x.id, x.status, x.code ?? null]), [
      [a, 200, null], [b, 200, null], [far, 404, 'not_found'], [signed, 409, 'transition_forbidden'],
      [equip, 404, 'not_found'], [987654321, 404, 'not_found']]);
    assert.deepEqual([dbState(a), dbState(b), dbState(far), dbState(signed)], ['in_review', 'in_review', 'submitted', 'in_review']);
    assert.deepEqual([a, b, far, signed].map(eventCount), [events[0] + 1, events[1] + 1, events[2], events[3]]);
    assert.deepEqual([a, b].map(reviewCount), [1, 1]);
    // The DDT finishes them.
    const d = await bulk(C.ddt31, { ids: [a, b, signed], action: 'validate' });
    assert.deepEqual(d.json.results.map((x) => x.status), [200, 200, 200]);
    assert.deepEqual([dbState(a), dbState(b), dbState(signed)], ['validated', 'validated', 'validated']);
  });

  test('bulk reject and request_changes need their justification, per id', async () => {
    const a = (await create(C.author, 'erp')).id;
    const b = (await create(C.author, 'erp')).id;
    let r = await bulk(C.sdis31, { ids: [a, b], action: 'reject', comment: 'Doublons' });
    assert.deepEqual(r.json.results.map((x) => [x.status, x.code]), [[422, 'reason_required'], [422, 'reason_required']]);
    r = await bulk(C.sdis31, { ids: [a], action: 'request_changes' });
    assert.deepEqual(r.json.results.map((x) => [x.status, x.code]), [[422, 'comment_required']]);
    assert.deepEqual([dbState(a), dbState(b)], ['submitted', 'submitted']);
    r = await bulk(C.sdis31, { ids: [a, b], action: 'reject', reason: 'doublon', comment: 'Doublons' });
    assert.deepEqual(r.json.results.map((x) => x.status), [200, 200]);
    assert.deepEqual([dbState(a), dbState(b)], ['rejected', 'rejected']);
    assert.equal(psql(srv.db, `SELECT string_agg(reason || ':' || comment, ',') FROM reviews WHERE submission_id IN (${a}, ${b})`), 'doublon:Doublons,doublon:Doublons');
  });

  test('ids: duplicates, non-integers, out of range, more than 200 → 400 with field ids', async () => {
    const cases = [[1, 1], ['1'], [1.5], [0], [-3], [null], [true], 'x', 5, Array.from({ length: 201 }, (_, i) => i + 1), [2 ** 53]];
    for (const ids of cases) {
      const r = await bulk(C.sdis31, { ids, action: 'validate' });
      assertError(r, 400, r.json?.error?.code, 'ids');
    }
    assertError(await bulk(C.sdis31, { action: 'validate' }), 400, 'param_missing', 'ids');
    const ok = await bulk(C.sdis31, { ids: Array.from({ length: 200 }, (_, i) => 900000 + i), action: 'validate' });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.results.length, 200);
    assert.ok(ok.json.results.every((x) => x.status === 404));
    const none = await bulk(C.sdis31, { ids: [], action: 'validate' });
    assert.deepEqual([none.status, none.json.results], [200, []]);
  });

  test('only decisions go in bulk: "claim" is not an accepted value (400)', async () => {
    const a = (await create(C.author, 'erp')).id;
    const r = await bulk(C.sdis31, { ids: [a], action: 'claim' });
    assertError(r, 400, 'param_invalid', 'action');
    assert.equal(dbState(a), 'submitted');
    for (const action of ['submit', 'withdraw', 'fly']) {
      const x = await bulk(C.sdis31, { ids: [a], action });
      assert.ok([400, 422].includes(x.status), `${action}: ${x.text}`);
      assert.equal(x.json.error.field, 'action');
    }
    assert.equal(dbState(a), 'submitted');
  });

  test('a contributor gets 403; anonymous 401', async () => {
    assertError(await bulk(C.author, { ids: [1], action: 'validate' }), 403, 'forbidden');
    assert.equal((await bulk(new Client(srv.base), { ids: [1], action: 'validate' })).status, 401);
  });
});

// --- queue filters and assignments --------------------------------------------------------

describe('queue filters and assignments', () => {
  // Three ERPs in Balma, sent 10 days, 5 days and a moment ago; the first overdue.
  const q = [];

  before(async () => {
    for (const days of [10, 5, 0]) {
      const r = await create(C.cdauthor, 'erp', { geometry: P.balma });
      assert.equal(r.insee_commune, '31044');
      psql(srv.db, `UPDATE submissions SET submitted_at = now() - interval '${days} days' - interval '1 minute',
        due_at = now() - interval '${days} days' + interval '30 days' WHERE id = ${r.id}`);
      q.push(r.id);
    }
    psql(srv.db, `UPDATE submissions SET due_at = now() - interval '1 day' WHERE id = ${q[0]}`);
  });

  test('commune, oldest first', async () => {
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044'), q);
    const rows = await queue(C.sdis31, 'commune=31044');
    assert.deepEqual(rows.map((r) => r.commune_nom), ['Balma', 'Balma', 'Balma']);
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31555&guichet=equipco'), []);
    assert.deepEqual(await queueIds(C.ddt31, 'commune=31044&guichet=erp'), q);
    assert.deepEqual(await queueIds(C.ddt31, 'commune=31044&guichet=equipco'), []);
    assert.deepEqual(await queueIds(C.sdis34, 'commune=31044'), []);
  });

  test('the whole queue is oldest first', async () => {
    const rows = await queue(C.sdis31);
    for (let i = 1; i < rows.length; i++) assert.ok(Date.parse(rows[i - 1].submitted_at) <= Date.parse(rows[i].submitted_at), `${rows[i - 1].id} before ${rows[i].id}`);
    assert.deepEqual(rows.slice(0, 2).map((r) => r.id), q.slice(0, 2));
    const page = await C.sdis31.req('GET', '/api/v1/queue?limit=1&offset=1&commune=31044');
    assert.deepEqual([page.json.total, page.json.submissions.map((s) => s.id)], [3, [q[1]]]);
  });

  test('overdue and older_than_days', async () => {
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&overdue=true'), [q[0]]);
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&overdue=false'), q);
    const rows = await queue(C.sdis31, 'commune=31044');
    assert.deepEqual(rows.map((r) => r.overdue), [true, false, false]);
    assert.equal((await get(C.sdis31, 'erp', q[0])).overdue, true);
    assert.equal((await get(C.sdis31, 'erp', q[1])).overdue, false);
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&older_than_days=3'), [q[0], q[1]]);
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&older_than_days=7'), [q[0]]);
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&older_than_days=30'), []);
  });

  test('state and assigned=me|none', async () => {
    await must(C.sdis31, 'erp', q[1], 'claim', 'in_review');
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&state=in_review'), [q[1]]);
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&state=submitted'), [q[0], q[2]]);
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&assigned=me'), [q[1]]);
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&assigned=none'), [q[0], q[2]]);
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&assigned=any'), q);
    assert.deepEqual(await queueIds(C.sdis31b, 'commune=31044&assigned=me'), []);
    assert.deepEqual(await queueIds(C.sdis31b, 'commune=31044&assigned=none'), [q[0], q[2]]);
    // The SDIS's assignment is not the DDT's.
    assert.deepEqual(await queueIds(C.ddt31, 'commune=31044&assigned=none'), q);
    const row = (await queue(C.ddt31, 'commune=31044')).find((r) => r.id === q[1]);
    assert.deepEqual(row.assignments.map((a) => [a.authority, a.user_id]), [['sdis', U.sdis31.id]]);
  });

  test('state=changes_requested lists what waits on authors; bad filters → 400', async () => {
    const { id } = await create(C.cdauthor, 'erp', { geometry: P.balma });
    await must(C.sdis31, 'erp', id, 'request_changes', 'changes_requested');
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&state=changes_requested'), [id]);
    for (const bad of ['state=validated', 'state=draft', 'commune=3104', 'assigned=bob', 'older_than_days=-1', 'overdue=maybe', 'guichet=routes', 'limit=0', 'limit=201']) {
      const r = await C.sdis31.req('GET', `/api/v1/queue?${bad}`);
      assert.equal(r.status, 400, `${bad}: ${r.text}`);
    }
  });

  test('a record leaves the queue of an authority once it signed off, not the other’s', async () => {
    await must(C.sdis31, 'erp', q[2], 'validate', 'in_review');
    assert.ok(!(await queueIds(C.sdis31, 'commune=31044')).includes(q[2]));
    assert.ok((await queueIds(C.ddt31, 'commune=31044')).includes(q[2]));
  });

  test('assignment: oneself, release, a colleague; another organisation’s, a contributor or the author → 422', async () => {
    const path = `${sub('erp', q[0])}/assignment`;
    let r = await C.sdis31.req('POST', path, { user_id: U.sdis31.id });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.assignments.map((a) => [a.authority, a.user_id]), [['sdis', U.sdis31.id]]);
    assert.deepEqual(await queueIds(C.sdis31, 'commune=31044&assigned=me'), [q[0], q[1]]);
    r = await C.sdis31.req('POST', path, { user_id: null });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.assignments, []);
    r = await C.sdis31.req('POST', path, { user_id: U.sdis31b.id });
    assert.deepEqual(r.json.assignments.map((a) => [a.authority, a.user_id, a.user_name]), [['sdis', U.sdis31b.id, 'Nom sdis31b']]);
    assert.deepEqual(await queueIds(C.sdis31b, 'commune=31044&assigned=me'), [q[0]]);
    for (const other of [U.ddt31, U.sdis34, U.s31contrib, U.cdauthor]) {
      assertError(await C.sdis31.req('POST', path, { user_id: other.id }), 422, 'assignee_invalid', 'user_id');
    }
    assertError(await C.sdis31.req('POST', path, { user_id: 987654 }), 422, 'assignee_invalid', 'user_id');
    // Each authority has its own assignee.
    r = await C.ddt31.req('POST', path, { user_id: U.ddt31.id });
    assert.deepEqual(r.json.assignments.map((a) => [a.authority, a.user_id]), [['ddt', U.ddt31.id], ['sdis', U.sdis31b.id]]);
    assert.equal(Number(psql(srv.db, `SELECT count(*) FROM assignments WHERE submission_id = ${q[0]}`)), 2);
  });

  test('assignment: bad bodies → 400; outsiders 404; contributors 403; only pending records', async () => {
    const path = `${sub('erp', q[0])}/assignment`;
    assert.equal((await C.sdis31.req('POST', path, {})).status, 400);
    assert.equal((await C.sdis31.req('POST', path, { user_id: 'x' })).status, 400);
    assert.equal((await C.sdis31.req('POST', path, { user_id: 0 })).status, 400);
    assertError(await C.sdis34.req('POST', path, { user_id: U.sdis34.id }), 404, 'not_found');
    assertError(await C.cdauthor.req('POST', path, { user_id: U.cdauthor.id }), 403, 'forbidden');
    const v = await inState('validated');
    assertError(await C.sdis31.req('POST', `${sub('erp', v)}/assignment`, { user_id: U.sdis31.id }), 409, 'not_assignable');
  });
});

// --- API tokens and restricted territories ---------------------------------------------------

describe('API tokens and restricted reviewers', () => {
  async function token(c, scopes) {
    const r = await c.req('POST', '/api/v1/account/tokens', { name: `t${uniq()}`, scopes });
    assert.equal(r.status, 201, r.text);
    return new TokenClient(srv.base, r.json.token);
  }

  test('a reviewer’s token needs the review scope to decide, queue or assign', async () => {
    const read = await token(C.sdis31, ['read']);
    const review = await token(C.sdis31, ['read', 'review']);
    const { id } = await create(C.author, 'erp');
    // (Without the review scope the token does not act as a reviewer at all:
    // the record is not its to read either, 404.)
    const t = await act(read, 'erp', id, 'validate');
    assert.ok([404, 409].includes(t.status), t.text);
    assertError(await read.req('GET', '/api/v1/queue'), 403, 'scope_missing');
    assertError(await read.req('POST', '/api/v1/guichets/erp/decisions', { ids: [id], action: 'validate' }), 403, 'scope_missing');
    assertError(await read.req('POST', `${sub('erp', id)}/assignment`, { user_id: U.sdis31.id }), 403, 'scope_missing');
    assert.equal(dbState(id), 'submitted');
    assert.ok((await queueIds(review)).includes(id));
    await must(review, 'erp', id, 'validate', 'in_review');
    assert.equal(psql(srv.db, `SELECT reviewer_id FROM reviews WHERE submission_id = ${id}`), String(U.sdis31.id));
  });

  test('an author’s read-only token cannot send, withdraw or comment', async () => {
    const read = await token(C.author, ['read']);
    const d = await create(C.author, 'erp', { submit: false });
    for (const action of ['submit', 'withdraw']) {
      const r = await act(read, 'erp', d.id, action);
      assertError(r, 409, 'transition_forbidden');
      assert.deepEqual(r.json.allowed, []);
    }
    assertError(await read.req('POST', `${sub('erp', d.id)}/comments`, { body: 'Bonjour' }), 403, 'scope_missing');
    assert.equal(dbState(d.id), 'draft');
    const submit = await token(C.author, ['read', 'submit']);
    await must(submit, 'erp', d.id, 'submit', 'submitted');
  });

  test('a reviewer restricted to one commune reviews there only, and is told of it only', async () => {
    const there = (await create(C.cdauthor, 'erp', { geometry: P.balma })).id;
    const elsewhere = (await create(C.cdauthor, 'erp', { geometry: P.colomiers })).id;
    const ids = await queueIds(C.sdis31balma);
    assert.ok(ids.includes(there));
    assert.ok(!ids.includes(elsewhere));
    assert.equal((await notes(C.sdis31balma, there, 'submitted')).length, 1);
    assert.equal((await notes(C.sdis31balma, elsewhere)).length, 0);
    assert.equal((await notes(C.sdis31, elsewhere, 'submitted')).length, 1);
    assertError(await C.sdis31balma.req('GET', sub('erp', elsewhere)), 404, 'not_found');
    assertError(await act(C.sdis31balma, 'erp', elsewhere, 'validate'), 404, 'not_found');
    await must(C.sdis31balma, 'erp', there, 'validate', 'in_review');
    // A record is handed to a colleague "competent for it" (mod_assign): here, not elsewhere.
    assert.equal((await C.sdis31.req('POST', `${sub('erp', there)}/assignment`, { user_id: U.sdis31balma.id })).status, 200);
    assertError(await C.sdis31.req('POST', `${sub('erp', elsewhere)}/assignment`, { user_id: U.sdis31balma.id }), 422, 'assignee_invalid', 'user_id');
  });
});

// --- dashboard ----------------------------------------------------------------------------

describe('dashboard', () => {
  const dash = async (c) => {
    const r = await c.req('GET', '/api/v1/dashboard');
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  const counts = (where) => psql(srv.db, `SELECT coalesce(json_agg(t ORDER BY guichet, departement, state), '[]') FROM
    (SELECT guichet, state, departement, count(*) AS n FROM submissions s WHERE state <> 'draft' AND (${where}) GROUP BY 1, 2, 3) t`);
  const norm = (list) => list.map((x) => `${x.guichet}|${x.departement}|${x.state}|${x.n}`).sort();

  test('admin sees every count (no drafts), by guichet × state × département', async () => {
    await create(C.author, 'erp', { submit: false });
    const d = await dash(C.admin);
    assert.deepEqual(norm(d.counts), norm(JSON.parse(counts('true'))));
    assert.ok(!d.counts.some((x) => x.state === 'draft'), 'drafts are counted');
    assert.ok(d.counts.some((x) => x.departement === '31') && d.counts.some((x) => x.departement === '34'));
    for (const g of ['erp', 'equipco', 'adresse']) assert.ok(d.counts.some((x) => x.guichet === g), g);
  });

  test('scoped: SDIS 34 sees nothing of 31; SDIS 31 its competence and its own organisation’s', async () => {
    const d34 = await dash(C.sdis34);
    assert.ok(!d34.counts.some((x) => x.departement === '31'), JSON.stringify(d34.counts));
    assert.ok(d34.counts.some((x) => x.guichet === 'erp' && x.departement === '34'));
    assert.deepEqual(norm(d34.counts), norm(JSON.parse(counts(`organisation_id = ${O.s34} OR (guichet = 'erp' AND departement = '34')`))));
    const d31 = await dash(C.sdis31);
    assert.deepEqual(norm(d31.counts), norm(JSON.parse(counts(`organisation_id = ${O.s31} OR (guichet = 'erp' AND departement = '31')`))));
    assert.ok(!d31.counts.some((x) => x.guichet === 'equipco'));
    const own = await dash(C.author);
    assert.deepEqual(norm(own.counts), norm(JSON.parse(counts(`organisation_id = ${O.tls}`))));
    const commune = await dash(C.tlsrev);
    assert.deepEqual(norm(commune.counts), norm(JSON.parse(counts(`organisation_id = ${O.tls} OR (guichet = 'adresse' AND insee_commune = '31555')`))));
    assert.equal((await new Client(srv.base).req('GET', '/api/v1/dashboard')).status, 401);
  });

  test('overdue counts and median hours from submission to decision', async () => {
    // Three decisions in Montpellier, taken 2, 4 and 10 hours after their submission.
    const ids = [];
    for (const [i, hours] of [2, 4, 10].entries()) {
      const { id } = await create(C.montauthor, 'erp', { geometry: P.montpellier });
      await must(C.admin, 'erp', id, i === 1 ? 'reject' : 'validate', i === 1 ? 'rejected' : 'validated');
      psql(srv.db, `UPDATE submissions SET submitted_at = decided_at - interval '${hours} hours' WHERE id = ${id}`);
      ids.push(id);
    }
    const late = (await create(C.montauthor, 'erp', { geometry: P.montpellier })).id;
    psql(srv.db, `UPDATE submissions SET due_at = now() - interval '1 hour' WHERE id = ${late}`);
    const d = await dash(C.sdis34);
    assert.deepEqual(d.median_hours, [{ guichet: 'erp', hours: 4, n: 3 }]);
    const overdue = JSON.parse(psql(srv.db, `SELECT coalesce(json_agg(t), '[]') FROM (SELECT guichet, departement, count(*) AS n FROM submissions
      WHERE state IN ('submitted', 'in_review') AND due_at < now() AND guichet = 'erp' AND departement = '34' GROUP BY 1, 2) t`));
    assert.deepEqual(d.overdue, overdue);
    assert.ok(d.overdue[0].n >= 1);
    const admin = await dash(C.admin);
    assert.ok(admin.overdue.some((x) => x.departement === '34' && x.n === overdue[0].n));
    assert.ok(admin.median_hours.some((x) => x.guichet === 'erp' && x.n > 3));
  });
});

// --- the workflow definition ----------------------------------------------------------------

describe('GET /api/v1/workflow', () => {
  test('is public and lists the states, transitions and reject reasons', async () => {
    const r = await new Client(srv.base).req('GET', '/api/v1/workflow');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, WF);
    assert.deepEqual(r.json.states.map((s) => s.code), STATES);
    assert.ok(r.json.transitions.every((t) => t.action && t.label && t.from && t.to && t.by));
    assert.ok(r.json.reject_reasons.some((x) => x.code === 'doublon'));
  });
});

// --- the verifier (last: it tampers with the log, then puts it back) ----------------------------

describe('guichet audit verify', () => {
  const verify = () => runGuichet(['audit', 'verify'], { PGDATABASE: srv.db });
  const asReplica = (sql) => psql(srv.db, `SET session_replication_role = replica; ${sql}`);
  const total = () => Number(psql(srv.db, 'SELECT count(*) FROM events'));

  test('an intact log: exit 0, "intact", every event counted', () => {
    const r = verify();
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^intact: ${total()} event\\(s\\), last hash [0-9a-f]{64}$`, 'm'));
    assert.ok(total() > 100);
  });

  test('an altered payload: exit 1, naming the event', () => {
    const seq = Math.floor(total() / 2);
    const orig = psql(srv.db, `SELECT payload::text FROM events WHERE seq = ${seq}`);
    asReplica(`UPDATE events SET payload = payload || '{"forged": true}' WHERE seq = ${seq}`);
    try {
      const r = verify();
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`broken: event ${seq}: its content does not match its hash`));
    } finally {
      asReplica(`UPDATE events SET payload = $orig$${orig}$orig$::jsonb WHERE seq = ${seq}`);
    }
    assert.equal(verify().status, 0, 'put back, the log is not intact');
  });

  test('an altered actor or time: exit 1, naming the event', () => {
    const seq = 3;
    const [actor, at] = psql(srv.db, `SELECT actor_id, at FROM events WHERE seq = ${seq}`).split('|');
    asReplica(`UPDATE events SET actor_id = (SELECT min(id) FROM users WHERE id <> ${actor}) WHERE seq = ${seq}`);
    let r = verify();
    asReplica(`UPDATE events SET actor_id = ${actor} WHERE seq = ${seq}`);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stdout, new RegExp(`broken: event ${seq}:`));
    asReplica(`UPDATE events SET at = at + interval '1 microsecond' WHERE seq = ${seq}`);
    r = verify();
    asReplica(`UPDATE events SET at = '${at}' WHERE seq = ${seq}`);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stdout, new RegExp(`broken: event ${seq}:`));
    assert.equal(verify().status, 0);
  });

  test('a deleted row: exit 1, naming the missing seq', () => {
    const seq = Math.floor(total() / 3);
    psql(srv.db, `CREATE TABLE kept_event AS SELECT * FROM events WHERE seq = ${seq}`);
    asReplica(`DELETE FROM events WHERE seq = ${seq}`);
    try {
      const r = verify();
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`broken: event ${seq} is missing`));
    } finally {
      asReplica('INSERT INTO events SELECT * FROM kept_event; DROP TABLE kept_event');
    }
    assert.equal(verify().status, 0);
  });

  test('a removed tail: exit 1, the head does not match', () => {
    const last = total();
    psql(srv.db, `CREATE TABLE kept_tail AS SELECT * FROM events WHERE seq > ${last - 2}`);
    asReplica(`DELETE FROM events WHERE seq > ${last - 2}`);
    try {
      const r = verify();
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`broken: the head names event ${last}, the log ends at event ${last - 2}`));
    } finally {
      asReplica('INSERT INTO events SELECT * FROM kept_tail; DROP TABLE kept_tail');
    }
    const r = verify();
    assert.equal(r.status, 0, r.stdout);
  });

  test('a forged row replacing one (recomputed hash, old links): exit 1', () => {
    const seq = 5;
    const orig = psql(srv.db, `SELECT payload::text, encode(hash, 'hex') FROM events WHERE seq = ${seq}`).split('|');
    // The forger recomputes this row's hash: the next row's prev_hash no longer matches.
    asReplica(`UPDATE events SET payload = '{"forged": true}', hash = sha256(prev_hash || convert_to(guichet_event_text(seq, at, kind,
      actor_id, submission_id, '{"forged": true}'::jsonb), 'UTF8')) WHERE seq = ${seq}`);
    const r = verify();
    asReplica(`UPDATE events SET payload = $orig$${orig[0]}$orig$::jsonb, hash = decode('${orig[1]}', 'hex') WHERE seq = ${seq}`);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stdout, new RegExp(`broken: event ${seq + 1}: its previous hash is not the hash of the event before it`));
    assert.equal(verify().status, 0);
  });
});
