// Two guichet processes on one database behind nginx (README, Two nodes):
// what one node starts, the other carries on. Each test talks to the two
// nodes' own ports on purpose, so that nothing depends on nginx's turn;
// `make api-nodes` runs the whole suite through nginx besides.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, makeTemp, rmTemp, pointsIn } from './harness.mjs';
import { Client, FAST_ARGON2, fixture } from './accounts.mjs';
import { finished, download } from './exports-lib.mjs';

let srv;
let fx;
let exportDir;
let A;	// node 1's address
let B;	// node 2's address

before(async () => {
  exportDir = makeTemp('guichet-nodes-');
  srv = await startServer({ nodes: 2, refdata: true, env: { ...FAST_ARGON2, GUICHET_EXPORT_DIR: exportDir } });
  fx = fixture(srv.db);
  [A, B] = srv.nodes.map((n) => n.base);
});

after(async () => {
  await srv?.stop();
  rmTemp(exportDir);
});

/** A client of base that carries the session (cookie and CSRF token) of c. */
function sameSession(c, base) {
  const o = new Client(base);
  o.cookie = c.cookie;
  o.csrf = c.csrf;
  return o;
}

const sub = (g, id = '') => `/api/v1/guichets/${g}/submissions${id === '' ? '' : `/${id}`}`;

describe('two nodes on one database', () => {
  test('nginx answers, and sends consecutive requests to both nodes', async () => {
    const r = await fetch(`${srv.base}/healthz`);
    assert.equal(r.status, 200);
    assert.equal((await r.json()).status, 'ok');
    // Each node logs the requests it answers (access_log): a handful of
    // requests through nginx reach both.
    for (let i = 0; i < 6; i++) await (await fetch(`${srv.base}/api/v1/forms/erp`)).arrayBuffer();
    for (const n of srv.nodes) {
      assert.match(n.stderr(), /\/api\/v1\/forms\/erp/, `node on port ${n.port} answered none of them`);
    }
  });

  test('a session opened on one node is valid on the other, CSRF token included', async () => {
    const a = new Client(A);
    await a.login(fx.users.contributor.email, fx.users.contributor.password);
    const b = sameSession(a, B);
    const who = await b.req('GET', '/api/v1/session');
    assert.equal(who.status, 200, who.text);
    assert.equal(who.json.user.email, fx.users.contributor.email);
    const [p] = pointsIn(srv.db, '31555', 1);
    const r = await b.req('POST', sub('equipco'), {
      attributes: { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade des deux nœuds' }, geometry: p, submit: false,
    });
    assert.equal(r.status, 201, r.text);
    // Without the token, node 2 refuses the write as node 1 would.
    const noCsrf = await b.req('POST', sub('equipco'), { attributes: {}, submit: false }, { csrf: false });
    assert.equal(noCsrf.status, 403);
    assert.equal(noCsrf.json.error.code, 'csrf_failed');
    // Logged out on node 2, the session is gone on node 1.
    assert.equal((await b.req('DELETE', '/api/v1/session')).status, 204);
    assert.equal((await a.req('GET', '/api/v1/session')).status, 401);
  });

  test('two edits of one version, one per node: one is 200, the other 409 stale_version', async () => {
    const a = new Client(A);
    await a.login(fx.users.contributor.email, fx.users.contributor.password);
    const b = sameSession(a, B);
    const [p] = pointsIn(srv.db, '31555', 1);
    const d = await a.req('POST', sub('equipco'), {
      attributes: { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade disputé' }, geometry: p, submit: false,
    });
    assert.equal(d.status, 201, d.text);
    const edit = (c, name) => c.req('PATCH', sub('equipco', d.json.id),
      { attributes: { categorie: 'Sport', nature: 'Stade', toponyme: name }, version: d.json.version });
    const rs = await Promise.all([edit(a, 'Stade du nœud un'), edit(b, 'Stade du nœud deux')]);
    assert.deepEqual(rs.map((r) => r.status).sort(), [200, 409]);
    assert.equal(rs.find((r) => r.status === 409).json.error.code, 'stale_version');
    const kept = rs.find((r) => r.status === 200).json.attributes.toponyme;
    const now = await b.req('GET', sub('equipco', d.json.id));
    assert.equal(now.json.attributes.toponyme, kept);
    assert.equal(now.json.version, d.json.version + 1);
  });

  test('an export asked of node 1 is run by either node and downloaded from node 2', async () => {
    const adminA = new Client(A);
    await adminA.login(fx.users.admin.email, fx.users.admin.password);
    const adminB = sameSession(adminA, B);
    const r = await adminA.req('POST', '/api/v1/exports', { guichet: 'equipco', format: 'geojson', mode: 'full' });
    assert.equal(r.status, 202, r.text);
    const done = await finished(adminB, r.json.id);
    assert.equal(done.state, 'done', done.error);
    for (const f of done.files) {
      const got = await download(adminB, f.url);
      assert.equal(got.status, 200);
      assert.equal(got.body.length, f.bytes);
    }
  });

  test('an Idempotency-Key used on node 1 is replayed by node 2, byte for byte', async () => {
    const a = new Client(A);
    await a.login(fx.users.contributor.email, fx.users.contributor.password);
    const b = sameSession(a, B);
    const [p] = pointsIn(srv.db, '31555', 1);
    const body = { attributes: { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade rejoué' }, geometry: p, submit: false };
    const key = { headers: { 'Idempotency-Key': `nodes-${Date.now()}` } };
    const first = await a.req('POST', sub('equipco'), body, key);
    assert.equal(first.status, 201, first.text);
    const again = await b.req('POST', sub('equipco'), body, key);
    assert.equal(again.status, 201);
    assert.equal(again.text, first.text);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
  });

  test('wrong passwords are counted across nodes: the sixth is refused on either', async () => {
    const email = fx.users.reviewer.email;
    const codes = [];
    for (let i = 0; i < 6; i++) {
      const c = new Client(i % 2 ? B : A);
      const r = await c.req('POST', '/api/v1/session', { email, password: `wrong-password-${i}` });
      codes.push(r.status);
    }
    assert.deepEqual(codes.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.equal(codes[5], 429);
  });
});
