// The partner API's description (/api/v1/openapi.json) against the route
// table it is generated from (`guichet routes`): every /api/v1 route and
// every parameter it declares is described, nothing else is, and the
// document holds together (references resolve, path templates match their
// parameters, operation ids are unique). Then the partner-facing
// behaviours it promises: Bearer tokens, per-token rate limits (429 with
// Retry-After, one count for every server on the database), the one error
// shape.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, runGuichet, assertErrorBody, psql, sleep } from './harness.mjs';
import { Client, TokenClient, FAST_ARGON2, addOrg, addUser } from './accounts.mjs';

const RATE = 5;	// requests per minute per token in this suite
let srv;
let doc;
let routes;
const C = {};

before(async () => {
  srv = await startServer({ env: { ...FAST_ARGON2, GUICHET_API_RATE_LIMIT: RATE } });
  routes = JSON.parse(runGuichet(['routes']).stdout).filter((r) => r.path.startsWith('/api/v1/'));
  const r = await fetch(`${srv.base}/api/v1/openapi.json`);
  assert.equal(r.status, 200);
  doc = await r.json();
  const org = addOrg(srv.db, { name: 'Commune de Balma', kind: 'commune', communes: '31044' });
  const u = addUser(srv.db, { email: 'partenaire@openapi.test', org, role: 'contributor' });
  C.user = new Client(srv.base);
  await C.user.login(u.email, u.password);
  const openig = addOrg(srv.db, { name: 'OPenIG', kind: 'openig', departements: '31' });
  const a = addUser(srv.db, { email: 'admin@openapi.test', org: openig, role: 'admin' });
  C.admin = new Client(srv.base);
  await C.admin.login(a.email, a.password);
});

after(async () => {
  await srv?.stop();
});

const op = (r) => doc.paths[r.path]?.[r.method.toLowerCase()];

describe('the description follows the route table', () => {
  test('it is OpenAPI 3.0 with a server, security schemes and the error shape', () => {
    assert.equal(doc.openapi, '3.0.3');
    assert.ok(doc.info.title && doc.info.version && doc.info.description);
    assert.equal(doc.servers[0].url, srv.base);
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer' });
    assert.equal(doc.components.securitySchemes.cookieAuth.in, 'cookie');
    assert.deepEqual(doc.components.schemas.Error.required, ['error']);
    assert.deepEqual(doc.components.schemas.Error.properties.error.required, ['code', 'message']);
  });

  test('every /api/v1 route is described, with its summary', () => {
    assert.ok(routes.length > 30);
    const missing = routes.filter((r) => !op(r)).map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(missing, []);
    for (const r of routes) assert.ok(op(r).summary.length > 5, `${r.method} ${r.path}: summary`);
  });

  test('nothing is described that the server does not route', () => {
    const extra = [];
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const m of Object.keys(item)) {
        if (!routes.some((r) => r.path === p && r.method.toLowerCase() === m)) extra.push(`${m} ${p}`);
      }
    }
    assert.deepEqual(extra, []);
  });

  test('every declared parameter is described where the route takes it, required as declared', () => {
    for (const r of routes) {
      const o = op(r);
      for (const p of r.params) {
        const where = `${r.method} ${r.path} ${p.name}`;
        if (p.in === 'body') {
          const schema = o.requestBody?.content?.['application/json']?.schema;
          assert.ok(schema?.properties?.[p.name], `${where}: in the request body`);
          assert.equal((schema.required ?? []).includes(p.name), p.required, `${where}: required`);
        } else {
          const d = o.parameters.find((x) => x.name === p.name && x.in === p.in);
          assert.ok(d, `${where}: a ${p.in} parameter`);
          assert.equal(d.required, p.in === 'path' || p.required, `${where}: required`);
        }
      }
      const declared = new Set(r.params.map((p) => `${p.in} ${p.name}`));
      if (r.idempotent) declared.add('header Idempotency-Key');
      for (const d of o.parameters) assert.ok(declared.has(`${d.in} ${d.name}`), `${r.method} ${r.path}: ${d.name} undeclared`);
    }
  });

  test('the routes that create, and only they, describe the Idempotency-Key header', () => {
    assert.ok(routes.some((r) => r.idempotent));
    for (const r of routes) {
      const h = op(r).parameters.filter((x) => x.in === 'header').map((x) => x.name);
      assert.deepEqual(h, r.idempotent ? ['Idempotency-Key'] : [], `${r.method} ${r.path}`);
    }
  });

  test('parameter schemas carry the bounds and choices the server enforces', () => {
    const list = doc.paths['/api/v1/guichets/{guichet}/submissions'].get.parameters;
    assert.deepEqual(list.find((p) => p.name === 'guichet').schema.enum, ['erp', 'equipco', 'adresse']);
    assert.deepEqual(list.find((p) => p.name === 'limit').schema, { type: 'integer', minimum: 1, maximum: 200 });
    const body = doc.paths['/api/v1/exports'].post.requestBody.content['application/json'].schema;
    assert.equal(body.properties.departements.type, 'array');
    assert.ok(body.properties.format.enum.includes('bal'));
  });

  test('path templates match their path parameters', () => {
    for (const [p, item] of Object.entries(doc.paths)) {
      const names = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      for (const o of Object.values(item)) {
        assert.deepEqual(o.parameters.filter((x) => x.in === 'path').map((x) => x.name).sort(), names, p);
      }
    }
  });

  test('operation ids are unique and every reference resolves', () => {
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((o) => o.operationId));
    assert.equal(new Set(ids).size, ids.length);
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      const target = ref.slice(8, -1).replace(/^#\//, '').split('/').reduce((o, k) => o?.[k], doc);
      assert.ok(target, `${ref} resolves`);
    }
  });

  test('security follows the action: public open, account pages session-only, the rest session or token with its scope', () => {
    for (const r of routes) {
      const o = op(r);
      if (r.action === 'public') assert.deepEqual(o.security, [], `${r.path}`);
      else if (r.action === 'account') assert.deepEqual(o.security, [{ cookieAuth: [] }], `${r.method} ${r.path}`);
      else assert.deepEqual(o.security, [{ bearerAuth: [] }, { cookieAuth: [] }], `${r.method} ${r.path}`);
      assert.equal(o['x-guichet-action'], r.action);
    }
    assert.equal(doc.paths['/api/v1/exports'].post['x-guichet-token-scope'], 'export');
  });
});

describe('pagination', () => {
  test('lists page with limit and offset: export batches, newest first', async () => {
    const ids = [];
    for (const format of ['geojson', 'csv', 'gpkg']) {
      const r = await C.admin.req('POST', '/api/v1/exports', { guichet: 'equipco', format, mode: 'full' });
      assert.equal(r.status, 202, r.text);
      ids.push(r.json.id);
    }
    const page = async (q) => (await C.admin.req('GET', `/api/v1/exports?guichet=equipco&${q}`)).json.batches.map((b) => b.id);
    assert.deepEqual(await page('limit=2'), [ids[2], ids[1]]);
    assert.deepEqual(await page('limit=2&offset=2'), [ids[0]]);
    assert.deepEqual(await page('limit=2&offset=3'), []);
    const bad = await C.admin.req('GET', '/api/v1/exports?offset=-1');
    assert.equal(bad.status, 400);
    assertErrorBody(bad.text, 'param_invalid', 'offset');
  });

  test('notifications page with limit and offset', async () => {
    const r = await C.user.req('GET', '/api/v1/notifications?limit=1&offset=0');
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.json.notifications));
    assert.equal((await C.user.req('GET', '/api/v1/notifications?offset=x')).status, 400);
  });
});

describe('tokens and rate limits', () => {
  let token;
  let other;

  before(async () => {
    for (const name of ['script', 'autre']) {
      const r = await C.user.req('POST', '/api/v1/account/tokens', { name, scopes: ['read'] });
      assert.equal(r.status, 201, r.text);
      if (name === 'script') token = r.json.token;
      else other = r.json.token;
    }
  });

  test('a token over its rate gets 429, the one error shape and Retry-After', async () => {
    const t = new TokenClient(srv.base, token);
    for (let i = 0; i < RATE; i++) {
      const r = await t.req('GET', '/api/v1/session');
      assert.equal(r.status, 200, `request ${i + 1}: ${r.text}`);
    }
    const r = await t.req('GET', '/api/v1/session');
    assert.equal(r.status, 429);
    assertErrorBody(r.text, 'rate_limited');
    const wait = Number(r.headers.get('retry-after'));
    assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= 60, `Retry-After ${wait}`);
  });

  test('another token and the browser session are not held back by it', async () => {
    const r = await new TokenClient(srv.base, other).req('GET', '/api/v1/session');
    assert.equal(r.status, 200);
    for (let i = 0; i < RATE + 2; i++) assert.equal((await C.user.req('GET', '/api/v1/session')).status, 200);
  });

  test('after Retry-After seconds the token may go on', async () => {
    const t = new TokenClient(srv.base, token);
    const r = await t.req('GET', '/api/v1/session');
    assert.equal(r.status, 429);
    await sleep(Number(r.headers.get('retry-after')) * 1000 + 100);
    assert.equal((await t.req('GET', '/api/v1/session')).status, 200);
  });

  test('a bad token is 401 with WWW-Authenticate: Bearer, never 429', async () => {
    for (let i = 0; i < RATE + 2; i++) {
      const r = await new TokenClient(srv.base, 'x'.repeat(43)).req('GET', '/api/v1/session');
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate'), /^Bearer/);
    }
  });

  /** A new token of the partner: {id, token}, its bucket still full. */
  async function newToken(name) {
    const r = await C.user.req('POST', '/api/v1/account/tokens', { name, scopes: ['read'] });
    assert.equal(r.status, 201, r.text);
    return r.json;
  }
  const bucketRows = (id) => Number(psql(srv.db, `SELECT count(*) FROM api_rate_buckets WHERE token_id = ${Number(id)}`));

  test('two servers on one database count a token\'s requests in one bucket', async () => {
    const { id, token: tok } = await newToken('deux serveurs');
    // A second process on the same database, as behind a load balancer.
    const second = await startServer({ db: srv.db, migrate: false, env: { ...FAST_ARGON2, GUICHET_API_RATE_LIMIT: RATE } });
    try {
      const on = [new TokenClient(srv.base, tok), new TokenClient(second.base, tok)];
      // RATE requests in all, in turn on each: each server lets fewer than
      // RATE through, so a bucket per process would never refuse any.
      for (let i = 0; i < RATE; i++) {
        const r = await on[i % 2].req('GET', '/api/v1/session');
        assert.equal(r.status, 200, `request ${i + 1}, server ${i % 2 + 1}: ${r.text}`);
      }
      for (const t of on) {
        const r = await t.req('GET', '/api/v1/session');
        assert.equal(r.status, 429, `server ${on.indexOf(t) + 1}: ${r.text}`);
        assertErrorBody(r.text, 'rate_limited');
        const wait = Number(r.headers.get('retry-after'));
        assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= 60 / RATE + 1, `Retry-After ${wait}`);
      }
      assert.equal(bucketRows(id), 1);
    } finally {
      await second.stop();
    }
  });

  test('deleting a token deletes its bucket', async () => {
    const { id, token: tok } = await newToken('éphémère');
    assert.equal((await new TokenClient(srv.base, tok).req('GET', '/api/v1/session')).status, 200);
    assert.equal(bucketRows(id), 1);
    psql(srv.db, `DELETE FROM api_tokens WHERE id = ${Number(id)}`);
    assert.equal(bucketRows(id), 0);
  });

  test('a token request whose bucket cannot be read is refused, not let through', async () => {
    const { token: tok } = await newToken('sans seau');
    psql(srv.db, 'ALTER TABLE api_rate_buckets RENAME TO api_rate_buckets_away');
    try {
      const r = await new TokenClient(srv.base, tok).req('GET', '/api/v1/session');
      assert.equal(r.status, 500, r.text);
      assertErrorBody(r.text, 'internal_error');
    } finally {
      psql(srv.db, 'ALTER TABLE api_rate_buckets_away RENAME TO api_rate_buckets');
    }
    assert.equal((await new TokenClient(srv.base, tok).req('GET', '/api/v1/session')).status, 200);
  });
});
