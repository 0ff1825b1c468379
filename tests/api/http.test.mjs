// Routing, methods, error shape, bodies and limits, /csp-report, security
// headers, no echo of the request, and the access log.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import {
  JSON_TYPE, assertErrorBody, assertSecurityHeaders, migrationFiles, raw, rawRequest,
  runGuichet, startServer, waitFor,
} from './harness.mjs';

const CSP_TYPE = 'application/csp-report';
const validReport = (extra = {}) => JSON.stringify({
  'csp-report': {
    'document-uri': 'http://127.0.0.1/',
    'violated-directive': "script-src 'self'",
    'effective-directive': 'script-src',
    'blocked-uri': 'inline',
    'line-number': 12,
    ...extra,
  },
});

/** A raw POST /csp-report with a body (string or Buffer). */
function postReport(port, body, headers = {}) {
  return rawRequest(port, '/csp-report', {
    method: 'POST',
    headers: { 'Content-Type': CSP_TYPE, 'Content-Length': Buffer.byteLength(body), ...headers },
    body,
  });
}

/** Chunked transfer coding of buf in pieces of size n. */
function chunked(buf, n = 4096) {
  const parts = [];
  for (let i = 0; i < buf.length; i += n) {
    const c = buf.subarray(i, i + n);
    parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

let srv;

before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

describe('GET /healthz', () => {
  test('answers 200 with the database, PostGIS and schema state', async () => {
    const res = await fetch(`${srv.base}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), JSON_TYPE);
    const body = await res.json();
    const files = migrationFiles();
    const version = runGuichet(['version']).stdout.trim().replace(/^guichet /, '');
    assert.equal(body.status, 'ok');
    assert.equal(body.database, 'ok');
    assert.match(body.postgis, /^3\.3\.\d+$/);
    assert.equal(body.schema, files[files.length - 1].version);
    assert.equal(body.version, version);
  });

  test('is not cached (Cache-Control: no-store)', async () => {
    const res = await fetch(`${srv.base}/healthz`);
    await res.arrayBuffer();
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  test('HEAD answers 200 with the headers and no body', async () => {
    const r = await rawRequest(srv.port, '/healthz', { method: 'HEAD', waitClose: true });
    assert.equal(r.response.status, 200);
    assert.equal(r.response.headers['content-type'], JSON_TYPE);
    assert.ok(r.text.endsWith('\r\n\r\n'), `HEAD answer has a body: ${JSON.stringify(r.text)}`);
  });

  test('a query string is ignored', async () => {
    const res = await fetch(`${srv.base}/healthz?verbose=1&x=%C3%A9`);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).status, 'ok');
  });
});

describe('methods: 405, Allow, OPTIONS', () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    test(`${method} /healthz → 405 with Allow: GET, HEAD`, async () => {
      const res = await fetch(`${srv.base}/healthz`, { method });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
      assert.equal(res.headers.get('content-type'), JSON_TYPE);
      assertErrorBody(await res.text(), 'method_not_allowed');
    });
  }

  test('OPTIONS /healthz → 204 with Allow: GET, HEAD and no body', async () => {
    const res = await fetch(`${srv.base}/healthz`, { method: 'OPTIONS' });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    assert.equal(await res.text(), '');
  });

  test('GET /csp-report → 405 with Allow: POST', async () => {
    const res = await fetch(`${srv.base}/csp-report`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
    assertErrorBody(await res.text(), 'method_not_allowed');
  });

  test('OPTIONS /csp-report → 204 with Allow: POST', async () => {
    const res = await fetch(`${srv.base}/csp-report`, { method: 'OPTIONS' });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('allow'), 'POST');
  });

  test('unknown method FOO on /healthz → 405 with Allow', async () => {
    const r = await rawRequest(srv.port, '/healthz', { method: 'FOO' });
    assert.equal(r.response?.status, 405, r.text);
    assert.equal(r.response.headers.allow, 'GET, HEAD');
    assertErrorBody(r.response.text, 'method_not_allowed');
  });

  test('unknown method FOO on a static file → 405 with Allow: GET, HEAD', async () => {
    const r = await rawRequest(srv.port, '/index.html', { method: 'FOO' });
    assert.equal(r.response?.status, 405, r.text);
    assert.equal(r.response.headers.allow, 'GET, HEAD');
    assertErrorBody(r.response.text, 'method_not_allowed');
  });

  for (const [method, path] of [['POST', '/'], ['PUT', '/index.html'], ['DELETE', '/css/guichet.css'], ['PATCH', '/js/accueil.js']]) {
    test(`${method} ${path} (static file) → 405 with Allow: GET, HEAD`, async () => {
      const res = await fetch(`${srv.base}${path}`, { method });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
      assertErrorBody(await res.text(), 'method_not_allowed');
    });
  }

  test('OPTIONS on a static file → 204 with Allow: GET, HEAD', async () => {
    const res = await fetch(`${srv.base}/index.html`, { method: 'OPTIONS' });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    assert.equal(await res.text(), '');
  });
});

describe('404 and the error shape', () => {
  test('GET of an unknown path → 404 not_found as JSON with field null', async () => {
    const res = await fetch(`${srv.base}/nope`);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), JSON_TYPE);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assertErrorBody(await res.text(), 'not_found');
  });

  test('the error message is French text', async () => {
    const res = await fetch(`${srv.base}/nope`);
    const e = assertErrorBody(await res.text(), 'not_found');
    assert.match(e.message, /n'existe pas|introuvable/);
  });

  test('POST to an unknown path → 404 not_found', async () => {
    const res = await fetch(`${srv.base}/nope`, { method: 'POST' });
    assert.equal(res.status, 404);
    assertErrorBody(await res.text(), 'not_found');
  });

  test('unknown /api/... path → 404 JSON', async () => {
    const res = await fetch(`${srv.base}/api/v1/nope`);
    assert.equal(res.status, 404);
    assertErrorBody(await res.text(), 'not_found');
  });

  test('Accept: text/html on a non-API path → a small HTML error page', async () => {
    const res = await fetch(`${srv.base}/nope`, { headers: { Accept: 'text/html,application/xhtml+xml' } });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    const text = await res.text();
    assert.match(text, /^<!doctype html>/i);
    assert.match(text, /<html lang="fr">/);
    assert.match(text, /404/);
    assertSecurityHeaders(res.headers);
  });

  test('Accept: text/html on an /api path → still JSON', async () => {
    const res = await fetch(`${srv.base}/api/nope`, { headers: { Accept: 'text/html' } });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), JSON_TYPE);
    assertErrorBody(await res.text(), 'not_found');
  });

  test('Accept: text/html on a wrong method of a static file → HTML 405 with Allow', async () => {
    const res = await fetch(`${srv.base}/index.html`, { method: 'POST', headers: { Accept: 'text/html' } });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(await res.text(), /405/);
  });

  test('too many path segments → 414 url_too_long', async () => {
    const res = await fetch(`${srv.base}${'/a'.repeat(40)}`);
    assert.equal(res.status, 414);
    assertErrorBody(await res.text(), 'url_too_long');
  });

  test('too many query parameters → 414 url_too_long', async () => {
    const q = Array.from({ length: 100 }, (_, i) => `p${i}=1`).join('&');
    const res = await fetch(`${srv.base}/healthz?${q}`);
    assert.equal(res.status, 414);
    assertErrorBody(await res.text(), 'url_too_long');
  });
});

describe('bodies: 413 and 415', () => {
  test('GET /healthz with Content-Length: 5 → 413 body_too_large', async () => {
    const r = await rawRequest(srv.port, '/healthz', { headers: { 'Content-Length': 5 }, body: 'hello' });
    assert.equal(r.response?.status, 413, r.text);
    assertErrorBody(r.response.text, 'body_too_large');
  });

  test('GET /healthz with a chunked body → 413 body_too_large', async () => {
    const r = await rawRequest(srv.port, '/healthz', {
      headers: { 'Transfer-Encoding': 'chunked' }, body: chunked(Buffer.from('hello')),
    });
    assert.equal(r.response?.status, 413, r.text);
    assertErrorBody(r.response.text, 'body_too_large');
  });

  test('GET of a static file with a body → 413 body_too_large', async () => {
    const r = await rawRequest(srv.port, '/index.html', { headers: { 'Content-Length': 3 }, body: 'abc' });
    assert.equal(r.response?.status, 413, r.text);
    assertErrorBody(r.response.text, 'body_too_large');
  });

  test('declared Content-Length over the limit → 413 before the body is sent', async () => {
    // Only the headers are sent: the answer must come without the body.
    const r = await rawRequest(srv.port, '/csp-report', {
      method: 'POST', headers: { 'Content-Type': CSP_TYPE, 'Content-Length': 16385 },
    });
    assert.equal(r.response?.status, 413, r.text);
    assertErrorBody(r.response.text, 'body_too_large');
  });

  test('declared Content-Length of 1 GB → 413 before the body is sent', async () => {
    const r = await rawRequest(srv.port, '/csp-report', {
      method: 'POST', headers: { 'Content-Type': CSP_TYPE, 'Content-Length': 1_000_000_000 },
    });
    assert.equal(r.response?.status, 413, r.text);
    assertErrorBody(r.response.text, 'body_too_large');
  });

  test('chunked body over the limit → 413 body_too_large at the end', async () => {
    const body = Buffer.from(validReport({ 'source-file': 'x'.repeat(20000) }));
    const r = await rawRequest(srv.port, '/csp-report', {
      method: 'POST', headers: { 'Content-Type': CSP_TYPE, 'Transfer-Encoding': 'chunked' }, body: chunked(body),
    });
    assert.equal(r.response?.status, 413, r.text);
    assertErrorBody(r.response.text, 'body_too_large');
  });

  test('chunked body within the limit → 204', async () => {
    const r = await rawRequest(srv.port, '/csp-report', {
      method: 'POST', headers: { 'Content-Type': CSP_TYPE, 'Transfer-Encoding': 'chunked' },
      body: chunked(Buffer.from(validReport()), 7),
    });
    assert.equal(r.response?.status, 204, r.text);
  });

  test('a body of exactly 16384 bytes is accepted', async () => {
    const base = validReport({ 'source-file': '' });
    const body = validReport({ 'source-file': 'y'.repeat(16384 - Buffer.byteLength(base)) });
    assert.equal(Buffer.byteLength(body), 16384);
    const r = await postReport(srv.port, body);
    assert.equal(r.response?.status, 204, r.text);
  });

  test('a body of 16385 bytes, sent in full → 413', async () => {
    const base = validReport({ 'source-file': '' });
    const body = validReport({ 'source-file': 'y'.repeat(16385 - Buffer.byteLength(base)) });
    assert.equal(Buffer.byteLength(body), 16385);
    const r = await postReport(srv.port, body);
    assert.equal(r.response?.status, 413, r.text);
    assertErrorBody(r.response.text, 'body_too_large');
  });

  test('Expect: 100-continue with an oversized body → 413 and no "100 Continue"', async () => {
    const r = await rawRequest(srv.port, '/csp-report', {
      method: 'POST', headers: { 'Content-Type': CSP_TYPE, 'Content-Length': 99999, Expect: '100-continue' },
    });
    assert.equal(r.response?.status, 413, r.text);
    assert.doesNotMatch(r.text, /100 Continue/);
  });

  test('Expect: 100-continue with an acceptable body → 100 Continue, then 204', async () => {
    const body = validReport();
    const head = `POST /csp-report HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: ${CSP_TYPE}\r\n`
      + `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`;
    const r = await raw(srv.port, [head, body], { gapMs: 200, waitClose: true });
    assert.match(r.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 204 /);
  });

  test('GET /healthz with Content-Length: 0 is not a body → 200', async () => {
    const r = await rawRequest(srv.port, '/healthz', { headers: { 'Content-Length': 0 } });
    assert.equal(r.response?.status, 200, r.text);
  });

  test('wrong Content-Type (application/json) → 415 unsupported_media_type', async () => {
    const res = await fetch(`${srv.base}/csp-report`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: validReport(),
    });
    assert.equal(res.status, 415);
    assertErrorBody(await res.text(), 'unsupported_media_type');
  });

  test('a Content-Type that only starts with the right one → 415', async () => {
    const r = await postReport(srv.port, validReport(), { 'Content-Type': 'application/csp-reportx' });
    assert.equal(r.response?.status, 415, r.text);
    assertErrorBody(r.response.text, 'unsupported_media_type');
  });

  test('no Content-Type with a body → 415', async () => {
    const body = validReport();
    const r = await rawRequest(srv.port, '/csp-report', {
      method: 'POST', headers: { 'Content-Length': Buffer.byteLength(body) }, body,
    });
    assert.equal(r.response?.status, 415, r.text);
    assertErrorBody(r.response.text, 'unsupported_media_type');
  });

  test('Content-Type with parameters and another case is accepted', async () => {
    const r = await postReport(srv.port, validReport(), { 'Content-Type': 'Application/CSP-Report; charset=utf-8' });
    assert.equal(r.response?.status, 204, r.text);
  });
});

describe('POST /csp-report', () => {
  test('a valid report → 204 with no body', async () => {
    const res = await fetch(`${srv.base}/csp-report`, {
      method: 'POST', headers: { 'Content-Type': CSP_TYPE }, body: validReport(),
    });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
  });

  test('the report is logged as one csp-violation line with its known fields', async () => {
    const mark = `m${randomBytes(6).toString('hex')}`;
    const r = await postReport(srv.port, validReport({ 'document-uri': `http://127.0.0.1/${mark}`, extra: 'zzz-unknown' }));
    assert.equal(r.response?.status, 204, r.text);
    const line = (await srv.waitForLog(new RegExp(`^.* csp-violation .*${mark}.*$`, 'm')))[0];
    const json = JSON.parse(line.slice(line.indexOf('csp-violation ') + 'csp-violation '.length));
    assert.equal(json['document-uri'], `http://127.0.0.1/${mark}`);
    assert.equal(json['line-number'], 12);
    assert.ok(!('extra' in json), 'unknown fields are not logged');
  });

  test('a report cannot forge log lines', async () => {
    const mark = `forged${randomBytes(6).toString('hex')}`;
    const r = await postReport(srv.port, validReport({ 'blocked-uri': `x\n2026-01-01T00:00:00.000Z error ${mark}\r\n` }));
    assert.equal(r.response?.status, 204, r.text);
    await srv.waitForLog(new RegExp(mark));
    const lines = srv.stderr().split('\n').filter((l) => l.includes(mark));
    assert.equal(lines.length, 1);
    assert.match(lines[0], /csp-violation/);
  });

  test('not JSON → 400 invalid_json', async () => {
    const r = await postReport(srv.port, 'this is not json');
    assert.equal(r.response?.status, 400, r.text);
    assertErrorBody(r.response.text, 'invalid_json');
  });

  test('truncated JSON → 400 invalid_json', async () => {
    const r = await postReport(srv.port, validReport().slice(0, 30));
    assert.equal(r.response?.status, 400, r.text);
    assertErrorBody(r.response.text, 'invalid_json');
  });

  test('deeply nested JSON → 400 invalid_json, and the server lives on', async () => {
    const r = await postReport(srv.port, `{"csp-report":${'['.repeat(8000)}${']'.repeat(8000)}}`);
    assert.equal(r.response?.status, 400, r.text);
    assertErrorBody(r.response.text, 'invalid_json');
    assert.ok(srv.alive());
  });

  test('invalid UTF-8 or a NUL byte in the JSON → 400 invalid_json', async () => {
    for (const body of [Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
      Buffer.from('{"csp-report":{"document-uri":"a\0b"}}')]) {
      const r = await postReport(srv.port, body);
      assert.equal(r.response?.status, 400, r.text);
      assertErrorBody(r.response.text, 'invalid_json');
    }
  });

  test('JSON with duplicate keys → 400 invalid_json', async () => {
    const r = await postReport(srv.port, '{"csp-report":{},"csp-report":{}}');
    assert.equal(r.response?.status, 400, r.text);
    assertErrorBody(r.response.text, 'invalid_json');
  });

  test('JSON without a "csp-report" object → 400 invalid_report, field csp-report', async () => {
    const r = await postReport(srv.port, '{"report":{}}');
    assert.equal(r.response?.status, 400, r.text);
    assertErrorBody(r.response.text, 'invalid_report', 'csp-report');
  });

  test('"csp-report" that is not an object → 400 invalid_report', async () => {
    const r = await postReport(srv.port, '{"csp-report":"x"}');
    assert.equal(r.response?.status, 400, r.text);
    assertErrorBody(r.response.text, 'invalid_report', 'csp-report');
  });

  test('a JSON array → 400 invalid_report', async () => {
    const r = await postReport(srv.port, '[{"csp-report":{}}]');
    assert.equal(r.response?.status, 400, r.text);
    assertErrorBody(r.response.text, 'invalid_report', 'csp-report');
  });

  test('an empty body → 400 body_missing', async () => {
    const r = await postReport(srv.port, '');
    assert.equal(r.response?.status, 400, r.text);
    assertErrorBody(r.response.text, 'body_missing');
  });

  test('the connection stays usable after a 204 (keep-alive)', async () => {
    const body = validReport();
    const one = `POST /csp-report HTTP/1.1\r\nHost: x\r\nContent-Type: ${CSP_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const two = 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const r = await raw(srv.port, one + two, { waitClose: true });
    assert.match(r.text, /^HTTP\/1\.1 204 /);
    const second = r.text.indexOf('HTTP/1.1 200 ');
    assert.ok(second > 0, `no second answer: ${r.text}`);
  });
});

describe('security headers', () => {
  const cases = [
    ['GET /healthz', (s) => fetch(`${s.base}/healthz`)],
    ['GET /', (s) => fetch(`${s.base}/`)],
    ['GET /css/guichet.css', (s) => fetch(`${s.base}/css/guichet.css`)],
    ['GET /js/accueil.js', (s) => fetch(`${s.base}/js/accueil.js`)],
    ['404', (s) => fetch(`${s.base}/nope`)],
    ['404 as HTML', (s) => fetch(`${s.base}/nope`, { headers: { Accept: 'text/html' } })],
    ['405', (s) => fetch(`${s.base}/healthz`, { method: 'POST' })],
    ['OPTIONS 204', (s) => fetch(`${s.base}/`, { method: 'OPTIONS' })],
    ['csp-report 204', (s) => fetch(`${s.base}/csp-report`, { method: 'POST', headers: { 'Content-Type': CSP_TYPE }, body: validReport() })],
    ['415', (s) => fetch(`${s.base}/csp-report`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' })],
    ['400 invalid_json', (s) => fetch(`${s.base}/csp-report`, { method: 'POST', headers: { 'Content-Type': CSP_TYPE }, body: 'x' })],
    ['304', async (s) => {
      const first = await fetch(`${s.base}/index.html`);
      await first.arrayBuffer();
      return fetch(`${s.base}/index.html`, { headers: { 'If-None-Match': first.headers.get('etag') } });
    }],
  ];
  for (const [name, doit] of cases) {
    test(`on ${name}`, async () => {
      const res = await doit(srv);
      await res.arrayBuffer();
      assertSecurityHeaders(res.headers);
    });
  }

  test('on 413 (raw)', async () => {
    const r = await rawRequest(srv.port, '/healthz', { headers: { 'Content-Length': 5 }, body: 'hello' });
    assert.equal(r.response?.status, 413, r.text);
    assertSecurityHeaders(r.response.headers);
  });

  test('on 400 path_invalid (raw)', async () => {
    const r = await rawRequest(srv.port, '/../x');
    assert.equal(r.response?.status, 400, r.text);
    assertSecurityHeaders(r.response.headers);
  });

  test('on HEAD', async () => {
    const r = await rawRequest(srv.port, '/', { method: 'HEAD' });
    assert.equal(r.response?.status, 200, r.text);
    assertSecurityHeaders(r.response.headers);
  });

  test('API JSON answers carry Cache-Control: no-store', async () => {
    for (const [path, init] of [['/healthz', {}], ['/nope', {}], ['/healthz', { method: 'POST' }],
      ['/csp-report', { method: 'POST', headers: { 'Content-Type': CSP_TYPE }, body: '[]' }]]) {
      const res = await fetch(`${srv.base}${path}`, init);
      await res.arrayBuffer();
      assert.equal(res.headers.get('content-type'), JSON_TYPE, path);
      assert.equal(res.headers.get('cache-control'), 'no-store', `${init.method ?? 'GET'} ${path}`);
    }
  });

  test('each security header is sent once', async () => {
    const r = await rawRequest(srv.port, '/');
    assert.equal(r.response?.status, 200, r.text);
    for (const name of ['content-security-policy', 'x-content-type-options', 'x-frame-options', 'referrer-policy', 'cache-control']) {
      assert.equal(r.response.rawHeaders.filter(([n]) => n === name).length, 1, name);
    }
  });
});

describe('a server configured with frame_ancestors, behind_tls and no access log', () => {
  let framed;
  before(async () => {
    framed = await startServer({ env: {
      GUICHET_FRAME_ANCESTORS: 'https://example.org', GUICHET_BEHIND_TLS: 'yes', GUICHET_ACCESS_LOG: 'no',
    } });
  });
  after(async () => { await framed?.stop(); });

  test('CSP says frame-ancestors https://example.org and X-Frame-Options is absent', async () => {
    for (const path of ['/', '/healthz', '/nope']) {
      const res = await fetch(`${framed.base}${path}`);
      await res.arrayBuffer();
      assertSecurityHeaders(res.headers, { frameAncestors: 'https://example.org' });
      assert.ok(!res.headers.get('content-security-policy').includes("frame-ancestors 'none'"));
    }
  });

  test('behind_tls adds Strict-Transport-Security; the default server does not', async () => {
    let res = await fetch(`${framed.base}/`);
    await res.arrayBuffer();
    assert.match(res.headers.get('strict-transport-security') ?? '', /^max-age=\d+/);
    res = await fetch(`${srv.base}/`);
    await res.arrayBuffer();
    assert.equal(res.headers.get('strict-transport-security'), null);
  });

  test('access_log = no: no access line', async () => {
    const res = await fetch(`${framed.base}/nope-unlogged`);
    await res.arrayBuffer();
    const res2 = await fetch(`${framed.base}/healthz`);
    await res2.arrayBuffer();
    assert.doesNotMatch(framed.stderr(), / access /);
  });
});

describe('no echo of the request in error answers', () => {
  const mark = `zq${randomBytes(8).toString('hex')}`;
  const noEcho = (r, what) => {
    assert.ok(!r.text.includes(mark), `${what}: the answer repeats the marker:\n${r.text}`);
  };
  const hdrs = { 'X-Marker': mark, Referer: `http://${mark}.example/`, 'User-Agent': mark };

  test('404 JSON (marker in path, query and headers)', async () => {
    const r = await rawRequest(srv.port, `/nope-${mark}?q=${mark}`, { headers: hdrs });
    assert.equal(r.response?.status, 404);
    noEcho(r, '404');
  });

  test('404 HTML', async () => {
    const r = await rawRequest(srv.port, `/nope-${mark}?q=${mark}`, { headers: { ...hdrs, Accept: 'text/html' } });
    assert.equal(r.response?.status, 404);
    assert.match(r.response.headers['content-type'], /^text\/html/);
    noEcho(r, '404 HTML');
  });

  test('404 HTML with markup in the path', async () => {
    const r = await rawRequest(srv.port, `/<script>${mark}</script>`, { headers: { Accept: 'text/html' } });
    assert.equal(r.response?.status, 404, r.text);
    noEcho(r, '404 HTML markup');
    assert.ok(!r.response.text.includes('<script>'));
  });

  test('405', async () => {
    const r = await rawRequest(srv.port, `/healthz?${mark}=${mark}`, { method: 'POST', headers: hdrs });
    assert.equal(r.response?.status, 405);
    noEcho(r, '405');
  });

  test('400 url_malformed', async () => {
    const r = await rawRequest(srv.port, `/${mark}%zz?${mark}`, { headers: hdrs });
    assert.equal(r.response?.status, 400);
    noEcho(r, '400 url_malformed');
  });

  test('400 path_invalid', async () => {
    const r = await rawRequest(srv.port, `/../${mark}?${mark}`, { headers: { ...hdrs, Accept: 'text/html' } });
    assert.equal(r.response?.status, 400);
    noEcho(r, '400 path_invalid');
  });

  test('400 invalid_json', async () => {
    const r = await postReport(srv.port, `{"${mark}": ${mark}}`, hdrs);
    assert.equal(r.response?.status, 400);
    noEcho(r, '400 invalid_json');
  });

  test('415', async () => {
    const r = await postReport(srv.port, validReport(), { ...hdrs, 'Content-Type': `text/${mark}` });
    assert.equal(r.response?.status, 415);
    noEcho(r, '415');
  });

  test('413', async () => {
    const r = await rawRequest(srv.port, `/healthz?${mark}`, { headers: { ...hdrs, 'Content-Length': mark.length }, body: mark });
    assert.equal(r.response?.status, 413);
    noEcho(r, '413');
  });

  test('414', async () => {
    const r = await rawRequest(srv.port, `${`/${mark}`.repeat(40)}`, { headers: hdrs });
    assert.equal(r.response?.status, 414);
    noEcho(r, '414');
  });
});

describe('access log', () => {
  const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) info access (\S+) (\S+) "([^"]*)" (\d{3}|-) (\d+) (\d+\.\d{3})ms( timeout| aborted)?$/;
  const findLine = (path, method = 'GET') => srv.waitForLog(
    new RegExp(`^.* access \\S+ ${method} "${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" .*$`, 'm'),
  ).then((m) => m[0]);

  test('one line per request: address, method, path without query, status, bytes, duration', async () => {
    const mark = `log${randomBytes(6).toString('hex')}`;
    const res = await fetch(`${srv.base}/nope-${mark}?secret=${mark}s`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 404);
    const line = await findLine(`/nope-${mark}`);
    const m = LINE.exec(line);
    assert.ok(m, `bad access line: ${line}`);
    assert.equal(m[2], '127.0.0.1');
    assert.equal(m[3], 'GET');
    assert.equal(m[4], `/nope-${mark}`);
    assert.equal(m[5], '404');
    assert.equal(Number(m[6]), body.length);
    assert.equal(m[8], undefined);
    assert.ok(!srv.stderr().includes(`${mark}s`), 'the query string is logged');
    assert.equal(srv.stderr().split('\n').filter((l) => l.includes(mark)).length, 1);
  });

  test('a static file logs 200 and its size', async () => {
    const res = await fetch(`${srv.base}/css/guichet.css?v=1`);
    const body = Buffer.from(await res.arrayBuffer());
    const lines = () => srv.stderr().split('\n').filter((l) => /access \S+ GET "\/css\/guichet\.css" /.test(l));
    await waitFor(() => lines().length > 0, { what: 'access line' });
    const m = LINE.exec(lines().at(-1));
    assert.ok(m);
    assert.equal(m[5], '200');
    assert.equal(Number(m[6]), body.length);
  });

  test('405 is logged with its method', async () => {
    const res = await fetch(`${srv.base}/csp-report`, { method: 'DELETE' });
    await res.arrayBuffer();
    const m = LINE.exec(await findLine('/csp-report', 'DELETE'));
    assert.ok(m);
    assert.equal(m[5], '405');
  });

  test('a hostile method cannot forge fields of the access line', async () => {
    // libmicrohttpd turns control bytes of the request line into spaces: the
    // method then holds spaces and quotes unless the log escapes it.
    const mark = `meth${randomBytes(4).toString('hex')}`;
    const method = Buffer.from('X\x01"/forged"\x01200\x01', 'latin1');
    const r = await raw(srv.port, Buffer.concat([method, Buffer.from(` /${mark} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)]), { waitClose: true });
    assert.match(r.text, /^HTTP\/1\.1 [45]\d\d /, 'the request is refused');
    const line = (await srv.waitForLog(new RegExp(`^.*${mark}.*$`, 'm')))[0];
    const m = LINE.exec(line);
    assert.ok(m, `bad access line: ${JSON.stringify(line)}`);
    assert.equal(m[4], `/${mark}`, `the path field is not the request's: ${JSON.stringify(line)}`);
    assert.match(m[3], /^[!#$%&'*+\-.^_`|~0-9A-Za-z\\]+$/, `the method field is not one escaped token: ${JSON.stringify(line)}`);
  });

  test('control characters and quotes in the path are escaped', async () => {
    const mark = `q${randomBytes(4).toString('hex')}`;
    const r = await rawRequest(srv.port, `/${mark}"x`);
    assert.equal(r.response?.status, 404, r.text);
    const line = await findLine(`/${mark}\\x22x`);
    assert.ok(LINE.test(line), line);
  });
});
