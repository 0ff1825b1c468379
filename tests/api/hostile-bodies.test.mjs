// Hostile input beyond hostile.test.mjs (issue 10, item 4): slowloris,
// thousands of idle connections, deeply nested JSON in every JSON member,
// a GeoJSON of millions of coordinates, a polygon of a million vertices,
// malformed UTF-8 in every text field of every form and in every text
// parameter of the route table (read from `guichet routes`, so that a new
// route is covered as soon as it is declared).
//
// Each answer must be a 4xx in the one error shape, naming the member or
// parameter at fault (or, for abuse at the transport level, the connection
// closed), and come within BOUND_MS. That bound is no performance claim:
// it is a generous ceiling whose only purpose is to tell an answer from a
// hang (or from work that grows without limit with the input), which is a
// correctness failure. The server's memory (VmHWM, its peak resident size,
// from /proc/<pid>/status) must stay under MEM_MB, and nothing may be
// stored: the rows of every table a request could write are counted
// before and after.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';

import {
  SANITIZED, SLOW, assertErrorBody, connect, makeTemp, psql, raw, rawRequest, rmTemp, runGuichet, sleep,
  startServer, waitClose, waitFor,
} from './harness.mjs';
import { Client, FAST_ARGON2, fixture } from './accounts.mjs';

const BOUND_MS = 10_000 * SLOW;
// Peak resident size of the server: a 4 MB body of short GeoJSON positions
// costs some 130 MB once parsed, and must cost no more than that (reading
// it through GEOS took 375 MB). The sanitized builds (and valgrind, which
// runs with TEST_SANITIZED) keep freed memory in quarantine and shadow
// every byte: they get four times as much.
const MEM_MB = (SANITIZED ? 4 : 1) * 256;

let srv;
let fx;
const C = {};		// signed-in clients: agent (contributor), admin
let draft;		// an ERP draft of the agent
let sent;		// an EquipCo submission of the agent, awaiting review
let imported;		// an import of the agent, uploaded
let before0;		// the row counts once the fixture is in place

const TABLES = ['submissions', 'submission_versions', 'events', 'comments', 'idempotency_keys',
  'imports', 'import_rows', 'export_batches', 'organisations', 'users', 'api_tokens',
  'notifications', 'outbox', 'voies', 'reviews', 'assignments', 'one_time_tokens'];

function rowCounts() {
  const sql = TABLES.map((t) => `(SELECT count(*) FROM ${t})`).join(" || ',' || ");
  return Object.fromEntries(psql(srv.db, `SELECT ${sql}`).split(',').map((n, i) => [TABLES[i], Number(n)]));
}

/** VmRSS and VmHWM of a process, in MB. */
function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)[1]);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

function assertMemoryBounded(server, what) {
  const m = memory(server.pid);
  assert.ok(m.hwm < MEM_MB, `${what}: the server's peak resident size reached ${m.hwm.toFixed(0)} MB (bound ${MEM_MB} MB)`);
}

async function assertHealthy(server) {
  const res = await fetch(`${server.base}/healthz`, { signal: AbortSignal.timeout(BOUND_MS) });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
}

/**
 * One request as client c (its session cookie and CSRF token; none for
 * null), the body sent as given (a string or a Buffer, bytes untouched).
 * Fails if no answer comes within BOUND_MS.
 */
async function send(c, method, path, body, { type = 'application/json', headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (c?.cookie) h.Cookie = c.cookie;
  if (c?.csrf && method !== 'GET') h['X-CSRF-Token'] = c.csrf;
  if (body !== undefined) h['Content-Type'] = type;
  const t0 = Date.now();
  let res;
  try {
    res = await fetch(srv.base + path, { method, headers: h, body, signal: AbortSignal.timeout(BOUND_MS) });
  } catch (e) {
    assert.fail(`${method} ${path}: no answer within ${BOUND_MS} ms (${e.message})`);
  }
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json, ms: Date.now() - t0 };
}

/** Asserts a 4xx in the one error shape with code (and field, when given). */
function assertRefused(r, status, code, field, what) {
  assert.equal(r.status, status, `${what}: ${r.text.slice(0, 300)}`);
  assert.ok(r.json?.error, `${what}: not the error shape: ${r.text.slice(0, 300)}`);
  const e = r.json.error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'field', 'message'], what);
  assert.equal(e.code, code, `${what}: ${r.text.slice(0, 300)}`);
  assert.ok(e.message.length > 0, what);
  if (field !== undefined) assert.equal(e.field, field, `${what}: ${r.text.slice(0, 300)}`);
  return e;
}

// The routes as the server declares them, and who may call each.
let routes;
const ADMIN_ACTIONS = new Set(['admin', 'members', 'export', 'review']);
const clientFor = (route) => (route.action === 'public' ? null : ADMIN_ACTIONS.has(route.action) ? C.admin : C.agent);

/** A valid value for a path or query parameter other than the one tested. */
function sample(name) {
  return {
    id: String(draft.id), guichet: 'erp', collectionId: 'erp', featureId: 'x', name: 'x.csv',
    from: '1', filename: 'a.csv', theme: 'erp',
  }[name] ?? null;
}

/** The target of route with param set to raw (already percent-encoded). */
function target(route, param, raw) {
  let path = route.path.replace(/\{([^}]+)\}/g, (_, n) => (n === param ? raw : encodeURIComponent(sample(n))));
  const query = route.params.filter((p) => p.in === 'query' && (p.name === param || p.required))
    .map((p) => `${encodeURIComponent(p.name)}=${p.name === param ? raw : encodeURIComponent(sample(p.name))}`);
  if (query.length) path += `?${query.join('&')}`;
  return path;
}

before(async () => {
  srv = await startServer({ env: { ...FAST_ARGON2 }, refdata: true });
  fx = fixture(srv.db);
  C.agent = new Client(srv.base);
  await C.agent.login(fx.users.contributor.email, fx.users.contributor.password);
  C.admin = new Client(srv.base);
  await C.admin.login(fx.users.admin.email, fx.users.admin.password);
  let r = await C.agent.req('POST', '/api/v1/guichets/erp/submissions', {
    attributes: { libelle: 'Théâtre du Capitole', categorie: '2', type_principal: 'L', capacite_d_accueil_du_public: 1156 },
    geometry: { type: 'Point', coordinates: [1.4436, 43.6045] }, submit: false,
  });
  assert.equal(r.status, 201, r.text);
  draft = r.json;
  r = await C.agent.req('POST', '/api/v1/guichets/equipco/submissions', {
    attributes: { categorie: 'Sport', nature: 'Stade', toponyme: 'Stadium de Toulouse' },
    geometry: { type: 'Point', coordinates: [1.4342, 43.5833] }, submit: false,
  });
  assert.equal(r.status, 201, r.text);
  sent = r.json;
  r = await C.agent.req('POST', `/api/v1/guichets/equipco/submissions/${sent.id}/transitions`, { action: 'submit', confirm_warnings: true });
  assert.equal(r.status, 200, r.text);
  r = await C.agent.req('POST', '/api/v1/imports?guichet=erp&filename=a.csv',
    Buffer.from('libelle;categorie\nThéâtre;2\n'));
  assert.ok([201, 202].includes(r.status), r.text);
  imported = r.json;
  routes = JSON.parse(runGuichet(['routes']).stdout);
  before0 = rowCounts();
});

afterEach(async () => {
  if (!srv?.alive()) return;
  await assertHealthy(srv);
  assert.deepEqual(rowCounts(), before0, 'a refused request stored something');
});

after(async () => { await srv?.stop(); });

// --- Nesting -----------------------------------------------------------------

/** depth nested arrays, as JSON text. */
const nested = (depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('deeply nested JSON', () => {
  test('in every body member of every route: nesting beyond the parser\'s limit is 400 invalid_json naming it', async () => {
    for (const route of routes) {
      if (!['POST', 'PATCH', 'PUT'].includes(route.method) || route.path === '/api/v1/imports') continue;
      for (const p of route.params.filter((q) => q.in === 'body')) {
        const what = `${route.method} ${route.path} ${p.name}`;
        const path = route.path.replace(/\{([^}]+)\}/g, (_, n) => sample(n));
        // Deeper than jansson's 2,048 levels, within the route's body limit.
        const depth = Math.min(100_000, Math.floor((route.body_max - p.name.length - 8) / 2));
        assert.ok(depth > 2048, what);
        const r = await send(clientFor(route), route.method, path, `{"${p.name}":${nested(depth)}}`);
        assertRefused(r, 400, 'invalid_json', p.name, what);
      }
    }
    assertMemoryBounded(srv, 'nesting');
  });

  test('2,000 levels (within the parser\'s limit) in each member that takes any JSON are refused naming it', async () => {
    const deep = JSON.parse(nested(2000));
    const deepObject = JSON.parse(`${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`);
    const ok = { libelle: 'Théâtre', categorie: '2', type_principal: 'L', capacite_d_accueil_du_public: 10 };
    const point = { type: 'Point', coordinates: [1.4436, 43.6045] };
    const cases = [
      ['POST', '/api/v1/guichets/erp/submissions', { attributes: deep, geometry: point, submit: true }, 422, 'validation_failed', null],
      ['POST', '/api/v1/guichets/erp/submissions', { attributes: { libelle: deepObject }, geometry: point, submit: true }, 422, 'validation_failed', 'libelle'],
      ['POST', '/api/v1/guichets/erp/submissions', { attributes: ok, geometry: deep, submit: true }, 422, 'validation_failed', 'geometry'],
      ['POST', '/api/v1/guichets/erp/submissions', { attributes: ok, geometry: { type: 'Point', coordinates: deep }, submit: true }, 422, 'validation_failed', 'geometry'],
      ['PATCH', `/api/v1/guichets/erp/submissions/${draft.id}`, { attributes: ok, geometry: deepObject, submit: true }, 422, 'validation_failed', 'geometry'],
      ['POST', `/api/v1/guichets/equipco/submissions/${sent.id}/transitions`, { action: 'request_changes', remarks: deep }, 422, 'remark_invalid', 'remarks', C.admin],
      ['POST', `/api/v1/guichets/equipco/submissions/${sent.id}/transitions`, { action: 'request_changes', remarks: deepObject }, 422, null, 'remarks', C.admin],
      ['PATCH', `/api/v1/imports/${imported.id}`, { mapping: deep }, 400, 'mapping_invalid', 'mapping'],
      ['PATCH', `/api/v1/imports/${imported.id}`, { value_map: deepObject }, 400, 'mapping_invalid', 'value_map'],
      ['PATCH', `/api/v1/imports/${imported.id}`, { geometry: deep }, 400, 'mapping_invalid', 'geometry'],
    ];
    for (const [method, path, body, status, code, field, who = C.agent] of cases) {
      const what = `${method} ${path} ${Object.keys(body).join(',')}`;
      const r = await send(who, method, path, JSON.stringify(body));
      assertRefused(r, status, code ?? r.json?.error?.code, undefined, what);
      const fields = [r.json.error.field, ...(r.json.errors ?? []).map((x) => x.field)];
      if (code === 'validation_failed' && field === null) {
        assert.ok(r.json.errors.some((x) => x.code === 'attributes_type'), what);
      } else {
        assert.ok(fields.includes(field), `${what}: ${field} not named: ${r.text.slice(0, 300)}`);
      }
    }
  });
});

// --- Size of geometries --------------------------------------------------------

/** A GeoJSON MultiPoint of n positions [0,0] (6 bytes each), as text. */
const multiPoint = (n) => `{"type":"MultiPoint","coordinates":[${Array(n).fill('[0,0]').join(',')}]}`;

describe('huge geometries', () => {
  const attributes = { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade' };
  const body = (geometry) => `{"attributes":${JSON.stringify(attributes)},"geometry":${geometry},"submit":true}`;
  const post = (b) => send(C.agent, 'POST', '/api/v1/guichets/equipco/submissions', b);

  test('a GeoJSON of 1.38 million coordinates (690,000 positions, just under the body limit) is 422 geometry_too_large', async (t) => {
    const geometry = multiPoint(690_000);
    assert.ok(body(geometry).length < 4 * 1024 * 1024);
    for (const b of [body(geometry), body(JSON.stringify(geometry))]) {	// an object, then a text
      const r = await post(b);
      assertRefused(r, 422, 'validation_failed', 'geometry', 'MultiPoint of 690,000');
      assert.ok(r.json.errors.some((e) => e.field === 'geometry' && e.code === 'geometry_too_large'), r.text.slice(0, 300));
    }
    assertMemoryBounded(srv, 'a GeoJSON of 690,000 positions');
    t.diagnostic(`peak resident size ${memory(srv.pid).hwm.toFixed(0)} MB`);
  });

  test('a polygon of a million vertices in WKT (4 bytes each, under the body limit) is 422 geometry_too_large', async (t) => {
    const wkt = `POLYGON((${Array(1_000_000).fill('0 0').join(',')}))`;
    const r = await post(body(JSON.stringify(wkt)));
    assertRefused(r, 422, 'validation_failed', 'geometry', 'POLYGON of a million vertices');
    assert.ok(r.json.errors.some((e) => e.field === 'geometry' && e.code === 'geometry_too_large'), r.text.slice(0, 300));
    assertMemoryBounded(srv, 'a WKT polygon of a million vertices');
    t.diagnostic(`peak resident size ${memory(srv.pid).hwm.toFixed(0)} MB`);
  });

  /** The agent's raw POST of a submission: a Buffer, as is. */
  const rawPost = (payload, headers) => rawRequest(srv.port, '/api/v1/guichets/equipco/submissions', {
    method: 'POST',
    headers: { Cookie: C.agent.cookie, 'X-CSRF-Token': C.agent.csrf, 'Content-Type': 'application/json', ...headers },
    body: payload,
    timeoutMs: BOUND_MS,
  });

  test('a GeoJSON polygon of a million vertices (6 MB) is 413 before its body is read', async () => {
    const ring = Array(1_000_000).fill('[0,0]').join(',');
    const b = Buffer.from(body(`{"type":"Polygon","coordinates":[[${ring}]]}`));
    const head = ['POST /api/v1/guichets/equipco/submissions HTTP/1.1', 'Host: x', 'Connection: close',
      `Cookie: ${C.agent.cookie}`, `X-CSRF-Token: ${C.agent.csrf}`, 'Content-Type: application/json',
      `Content-Length: ${b.length}`, '', ''].join('\r\n');
    // The answer comes before the body is sent (then the server closes).
    const r = await raw(srv.port, [head, b], { gapMs: 500, timeoutMs: BOUND_MS });
    assert.equal(r.response?.status, 413, r.text.slice(0, 300));
    assertErrorBody(r.response.text, 'body_too_large');
  });

  test('3 million coordinates sent chunked, without a length, are 413 once the limit is passed', async () => {
    const b = Buffer.from(body(multiPoint(1_500_000)));
    const chunks = [];
    for (let i = 0; i < b.length; i += 65536) {
      const c = b.subarray(i, i + 65536);
      chunks.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
    }
    chunks.push(Buffer.from('0\r\n\r\n'));
    const r = await rawPost(Buffer.concat(chunks), { 'Transfer-Encoding': 'chunked' });
    if (r.response === null) assert.ok(r.closed, 'neither an answer nor a close');
    else {
      assert.equal(r.response.status, 413, r.text.slice(0, 300));
      assertErrorBody(r.response.text, 'body_too_large');
    }
    assertMemoryBounded(srv, 'a chunked body of 3 million coordinates');
  });
});

// --- Malformed UTF-8 -----------------------------------------------------------

// Bytes that are not UTF-8, placed inside a JSON string: a lone byte, a
// lone continuation byte, an overlong '/', an encoded surrogate, a code
// point beyond U+10FFFF, a sequence cut by the closing quote; then escapes
// that name no character (lone surrogates) and the NUL jansson refuses.
const BAD_BYTES = [[0xff], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]];
const BAD_ESCAPES = ['\\udc80', '\\ud800x', '\\u0000'];
const badStrings = () => [
  ...BAD_BYTES.map((b) => Buffer.concat([Buffer.from('"a'), Buffer.from(b), Buffer.from('"')])),
  ...BAD_ESCAPES.map((s) => Buffer.from(`"a${s}"`)),
];
const label = (s) => s.toString('latin1').replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`);

/** A JSON body of members (text already JSON), bytes kept as they are. */
function jsonBody(members) {
  const parts = [Buffer.from('{')];
  members.forEach(([name, value], i) => {
    parts.push(Buffer.from(`${i ? ',' : ''}"${name}":`), Buffer.isBuffer(value) ? value : Buffer.from(value));
  });
  parts.push(Buffer.from('}'));
  return Buffer.concat(parts);
}

describe('malformed UTF-8', () => {
  test('in every text field of every form, creating and editing: 400 invalid_json naming attributes', async () => {
    const forms = {};
    for (const g of ['erp', 'equipco', 'adresse']) forms[g] = (await C.agent.req('GET', `/api/v1/forms/${g}`)).json;
    for (const [g, form] of Object.entries(forms)) {
      const text = form.fields.filter((f) => !['integer', 'boolean'].includes(f.type));
      assert.ok(text.length >= 5, g);
      for (const f of text) {
        for (const bad of badStrings()) {
          const value = f.type === 'enum_list' ? Buffer.concat([Buffer.from('['), bad, Buffer.from(']')]) : bad;
          const attrs = jsonBody([[f.name, value]]);
          const what = `${g}.${f.name} = ${label(bad)}`;
          let r = await send(C.agent, 'POST', `/api/v1/guichets/${g}/submissions`, jsonBody([['attributes', attrs], ['submit', 'false']]));
          assertRefused(r, 400, 'invalid_json', 'attributes', what);
          if (g !== 'erp') continue;
          r = await send(C.agent, 'PATCH', `/api/v1/guichets/erp/submissions/${draft.id}`, jsonBody([['attributes', attrs]]));
          assertRefused(r, 400, 'invalid_json', 'attributes', `PATCH ${what}`);
        }
      }
    }
  });

  test('in every text member of every other JSON body: 400 invalid_json naming it', async () => {
    let n = 0;
    for (const route of routes) {
      if (!['POST', 'PATCH', 'PUT'].includes(route.method) || route.path === '/api/v1/imports') continue;
      for (const p of route.params.filter((q) => q.in === 'body' && ['string', 'email', 'secret', 'enum'].includes(q.kind))) {
        const path = route.path.replace(/\{([^}]+)\}/g, (_, name) => sample(name));
        for (const bad of badStrings()) {
          const what = `${route.method} ${route.path} ${p.name} = ${label(bad)}`;
          const r = await send(clientFor(route), route.method, path, jsonBody([[p.name, bad]]));
          assertRefused(r, 400, 'invalid_json', p.name, what);
          n++;
        }
      }
    }
    assert.ok(n > 100, `${n} cases`);
  });

  test('in every text parameter of the path and the query: 400 (404 in the path) naming it', async () => {
    const encoded = BAD_BYTES.map((b) => `a${b.map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')}`);
    let n = 0;
    for (const route of routes) {
      for (const p of route.params.filter((q) => q.in !== 'body' && ['string', 'email', 'secret', 'enum'].includes(q.kind))) {
        for (const raw of encoded) {
          const path = target(route, p.name, raw);
          const what = `${route.method} ${path}`;
          const body = ['POST', 'PATCH', 'PUT'].includes(route.method) ? '{}' : undefined;
          const r = await send(clientFor(route), route.method, path, body);
          assertRefused(r, p.in === 'path' ? 404 : 400, 'param_invalid', p.name, what);
          n++;
        }
      }
    }
    assert.ok(n > 100, `${n} cases`);
  });

  test('in every filter of the OGC API (the queryables of each form): 400 filter_invalid naming it', async () => {
    for (const id of ['erp', 'equipco', 'adresses']) {
      const q = (await send(null, 'GET', `/ogc/collections/${id}/queryables`)).json;
      const names = Object.keys(q.properties).filter((k) => !['commune', 'departement'].includes(k));
      assert.ok(names.length > 0, id);
      for (const name of names) {
        const r = await send(null, 'GET', `/ogc/collections/${id}/items?${name}=a%ff`);
        assertRefused(r, 400, 'filter_invalid', name, `${id} ${name}`);
      }
    }
  });

  test('in an Idempotency-Key header: 400 naming the header; in a bearer token: 401', async () => {
    const head = Buffer.from('{"attributes":{},"submit":false}');
    const r = await rawRequest(srv.port, '/api/v1/guichets/erp/submissions', {
      method: 'POST',
      headers: { Cookie: C.agent.cookie, 'X-CSRF-Token': C.agent.csrf, 'Content-Type': 'application/json',
        'Content-Length': head.length, 'Idempotency-Key': 'cl\xe9-\xff\xfe' },
      body: head,
    });
    assertRefused({ status: r.response?.status, text: r.response?.text ?? r.text, json: JSON.parse(r.response.text) },
      400, 'idempotency_key_invalid', 'Idempotency-Key', 'Idempotency-Key');
    const t = await rawRequest(srv.port, '/api/v1/session', { headers: { Authorization: 'Bearer gch_\xff\xfe\xc0\xaf' } });
    assert.equal(t.response?.status, 401, t.text.slice(0, 300));
    assertErrorBody(t.response.text, 'invalid_token');
  });
});

// --- Transport ---------------------------------------------------------------

/**
 * Opens a connection, writes head, then one byte of filler every everyMs
 * (under connection_timeout, so that the idle timeout never fires) until
 * the server closes it or forMs have passed. Resolves {closed, ms}.
 */
function trickle(port, head, { everyMs, forMs }) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    let timer = null;
    const done = (closed) => {
      clearInterval(timer);
      sock.destroy();
      resolve({ closed, ms: Date.now() - t0 });
    };
    sock.on('error', () => {});
    sock.on('data', () => {});
    sock.on('close', () => done(true));
    sock.on('connect', () => {
      sock.write(head);
      timer = setInterval(() => {
        if (Date.now() - t0 > forMs) done(false);
        else sock.write('a');
      }, everyMs);
    });
  });
}

/** The descriptors the server holds open. */
const fds = (server) => fs.readdirSync(`/proc/${server.pid}/fd`).length;

// The quick server's bounds: connection_timeout (idle) and request_timeout
// (a whole request), and what http.c adds past a request's deadline: a
// second of grace, in which a request that ends still gets 408, then a
// sweep every 250 ms that shuts the connection down.
const IDLE_MS = 2000;
const REQUEST_MS = 2000;
const GRACE_MS = 1000 + 250;

/** Asserts that a trickling client was closed at its deadline (ms after it started), not before. */
function assertClosedAt(r, deadlineMs, what) {
  assert.ok(r.closed, `${what}: still open after ${r.ms} ms`);
  assert.ok(r.ms >= deadlineMs - 100, `${what}: closed after ${r.ms} ms, before its deadline (${deadlineMs} ms)`);
  assert.ok(r.ms <= deadlineMs + GRACE_MS + 1000 * SLOW, `${what}: closed after ${r.ms} ms, deadline ${deadlineMs} ms`);
}

/** The server's log lines matching re (global, multiline). */
const countLines = (server, re) => (server.stderr().match(re) ?? []).length;
/** Waits for more such lines than `before`. */
async function waitForLine(server, re, before) {
  await waitFor(() => countLines(server, re) > before, { what: `a log line ${re}` });
}

/** Asserts a 408 request_timeout that closes the connection. */
function assert408(r, what) {
  assert.equal(r.response?.status, 408, `${what}: ${r.text.slice(0, 300)}`);
  assertErrorBody(r.response.text, 'request_timeout');
  assert.equal(r.response.headers.connection, 'close', what);
}

const CSP_HEAD = (length) => 'POST /csp-report HTTP/1.1\r\nHost: x\r\nContent-Type: application/csp-report\r\n'
  + `Content-Length: ${length}\r\n\r\n`;

describe('connections that send nothing, or hardly anything', () => {
  let quick;
  let staticDir;
  // A file large enough that sending it lasts beyond REQUEST_MS + GRACE_MS
  // to a slow reader, whatever the kernel buffers on the way.
  const BIG = 16 * 1024 * 1024;
  before(async () => {
    staticDir = makeTemp('guichet-static-');
    fs.writeFileSync(`${staticDir}/big.txt`, Buffer.alloc(BIG, 'a'));
    // One process, whatever TEST_NODES says: these are guichet's own
    // sockets, not a proxy's.
    quick = await startServer({
      env: { GUICHET_CONNECTION_TIMEOUT: IDLE_MS / 1000, GUICHET_REQUEST_TIMEOUT: REQUEST_MS / 1000, GUICHET_STATIC_DIR: staticDir },
      nodes: 1,
    });
  });
  after(async () => {
    await quick?.stop();
    rmTemp(staticDir);
  });

  test('50 connections trickling their headers or bodies do not keep others from being served', async (t) => {
    const clients = Array.from({ length: 50 }, (_, i) => trickle(quick.port,
      i % 2 ? 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' : CSP_HEAD(10000),
      { everyMs: 500, forMs: 6000 * SLOW }));
    for (let i = 0; i < 20; i++) {
      await assertHealthy(quick);
      await sleep(200);
    }
    const rs = await Promise.all(clients);
    rs.forEach((r, i) => assertClosedAt(r, REQUEST_MS, `trickler ${i}`));
    assertMemoryBounded(quick, 'slowloris');
    t.diagnostic(`peak resident size ${memory(quick.pid).hwm.toFixed(0)} MB`);
  });

  // libmicrohttpd's connection_timeout is an idle timeout: each byte starts
  // it again, so without request_timeout a client sending a byte every half
  // second would hold its connection (and one of max_connections) for as
  // long as it likes. libmicrohttpd calls nothing of ours while headers
  // arrive: the deadline is enforced from outside (http.c, watch_sweep).
  test('a request whose headers trickle in past request_timeout is closed, and logged as such', async () => {
    const re = /access \S+ - "\/healthz" - 0 \S+ deadline$/gm;
    const before = countLines(quick, re);
    const r = await trickle(quick.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ', { everyMs: 500, forMs: 4000 + BOUND_MS });
    assertClosedAt(r, REQUEST_MS, 'trickled headers');
    await waitForLine(quick, re, before);
  });

  test('a request line trickled in is closed after connection_timeout + request_timeout', async () => {
    // Not even the request line: the clock started when the connection
    // opened, with connection_timeout for a first byte that cannot be seen.
    const r = await trickle(quick.port, 'GET /', { everyMs: 500, forMs: 6000 + BOUND_MS });
    assertClosedAt(r, IDLE_MS + REQUEST_MS, 'trickled request line');
  });

  test('a body trickled in past request_timeout is closed, and logged as such', async () => {
    const re = /access \S+ POST "\/csp-report" - 0 \S+ deadline$/gm;
    const before = countLines(quick, re);
    const r = await trickle(quick.port, CSP_HEAD(10000), { everyMs: 500, forMs: 4000 + BOUND_MS });
    assertClosedAt(r, REQUEST_MS, 'trickled body');
    await waitForLine(quick, re, before);
  });

  // Past its deadline a request that still ends within the grace gets an
  // answer: the headers' end (or the body's) comes REQUEST_MS + 520 ms
  // after the request line, bytes coming every 420 ms meanwhile.
  test('headers that end past request_timeout get 408 request_timeout', async () => {
    const r = await raw(quick.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ', ...Array(5).fill('a'), '\r\n\r\n'],
      { gapMs: 420, waitClose: true, timeoutMs: BOUND_MS });
    assert408(r, 'late headers');
  });

  test('a body that ends past request_timeout gets 408 request_timeout, and is not used', async () => {
    const report = JSON.stringify({ 'csp-report': { 'document-uri': 'http://x/late-body' } });
    const r = await raw(quick.port, [CSP_HEAD(5 + report.length), ...Array(5).fill(' '), report],
      { gapMs: 420, waitClose: true, timeoutMs: BOUND_MS });
    assert408(r, 'late body');
    assert.doesNotMatch(quick.stderr(), /late-body/);
  });

  test('on a keep-alive connection, the next request gets its own time, after an idle spell', async () => {
    // 1.6 s idle after the first answer (under connection_timeout), then a
    // request line and headers over 1.6 s more: 3.2 s in all, but only 1.6 s
    // from its first byte.
    const second = ['GET /healthz HTTP/1.1\r\n', 'Host: x\r\n', 'X-A: b\r\n', 'Connection: close\r\n', '\r\n'];
    const r = await raw(quick.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', '', '', '', ...second],
      { gapMs: 400, waitClose: true, timeoutMs: BOUND_MS });
    // The answers follow each other: the second starts right after the first's body.
    assert.deepEqual([...r.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]), ['200', '200'], r.text.slice(0, 300));
  });

  test('a slow but steady body goes through past request_timeout (a second per 2 KiB)', async () => {
    // 12 KiB over 12 × 330 ms: 4 s, which earn 6 s.
    const report = JSON.stringify({ 'csp-report': { 'document-uri': 'http://x/steady-body' } });
    const pad = ' '.repeat(1024);
    const r = await raw(quick.port, [CSP_HEAD(12 * 1024 + report.length), ...Array(12).fill(pad), report],
      { gapMs: 330, timeoutMs: 8000 + BOUND_MS });
    assert.equal(r.response?.status, 204, r.text.slice(0, 300));
    await quick.waitForLog(/steady-body/);
  });

  test('a slow download is not cut: the deadline bounds the request, not the answer', async (t) => {
    // Read at 2 MB/s: some 8 s for 16 MB, the server sending for most of it.
    const RATE = 2 * 1024 * 1024;
    const re = /access \S+ GET "\/big\.txt" 200 (\d+) ([\d.]+)ms$/gm;
    const before = countLines(quick, re);
    const got = await new Promise((resolve, reject) => {
      const t0 = Date.now();
      let n = 0;
      let head = '';
      const sock = net.connect(quick.port, '127.0.0.1', () => {
        sock.write('GET /big.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      const timer = setTimeout(() => { sock.destroy(); reject(new Error(`${n} bytes after ${Date.now() - t0} ms`)); }, 30_000 * SLOW);
      sock.on('error', reject);
      sock.on('data', (d) => {
        if (n === 0) head = d.toString('latin1', 0, 200);
        n += d.length;
        const ahead = (n / RATE) * 1000 - (Date.now() - t0);
        if (ahead > 0) {
          sock.pause();
          setTimeout(() => sock.resume(), ahead);
        }
      });
      sock.on('close', () => { clearTimeout(timer); resolve({ n, head, ms: Date.now() - t0 }); });
    });
    assert.match(got.head, /^HTTP\/1\.1 200 /);
    assert.ok(got.n > BIG, `${got.n} bytes received of ${BIG}`);
    await waitForLine(quick, re, before);
    const [, bytes, ms] = [...quick.stderr().matchAll(re)].at(-1);
    assert.equal(Number(bytes), BIG);
    // Otherwise the kernel's buffers took it all at once, and this proves nothing.
    assert.ok(Number(ms) > REQUEST_MS + GRACE_MS, `the server was done sending after ${ms} ms`);
    t.diagnostic(`received in ${got.ms} ms; the server was sending for ${Math.round(Number(ms))} ms`);
  });

  // Beyond max_connections (1024) the server stops accepting: the rest wait
  // in the kernel's queue (512), and the kernel forgets those it could not
  // queue without telling the client, whose socket then looks open forever.
  // What matters is the server's side: it never holds more than its limit,
  // serves a client waiting behind the flood, and lets every idle
  // connection go after connection_timeout.
  test('3,000 idle connections: the server holds at most max_connections, serves others, then drops them all', async (t) => {
    const N = 3000;
    const base = fds(quick);
    let peak = base;
    const socks = [];
    for (let i = 0; i < N; i++) {
      const s = net.connect(quick.port, '127.0.0.1');
      s.on('error', () => {});
      s.on('data', () => {});
      socks.push(s);
    }
    try {
      await sleep(500);
      peak = Math.max(peak, fds(quick));
      await assertHealthy(quick);
      peak = Math.max(peak, fds(quick));
      assertMemoryBounded(quick, 'idle connections');
      // The listening socket, the database, the logs: a few dozen more.
      assert.ok(peak - base <= 1024 + 64, `the server held ${peak - base} more descriptors than before`);
      // Every round of 1024 goes after 2 s of silence.
      const held = await waitForValue(() => fds(quick) - base, (n) => n <= 8, (Math.ceil(N / 1024) + 1) * 2000 + BOUND_MS);
      assert.ok(held <= 8, `the server still holds ${held} more descriptors than before the flood`);
      t.diagnostic(`descriptors: ${base} before, ${peak} at the peak, ${base + held} after; peak resident size ${memory(quick.pid).hwm.toFixed(0)} MB`);
    } finally {
      for (const s of socks) s.destroy();
    }
    await assertHealthy(quick);
  });

  test('an idle connection opened after the flood is closed after connection_timeout', async () => {
    const s = await connect(quick.port);
    const r = await waitClose(s, 2000 + BOUND_MS);
    assert.ok(r.closed);
  });
});

/** Polls fn until ok(value) or ms have passed; returns the last value. */
async function waitForValue(fn, ok, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(100);
  }
}
