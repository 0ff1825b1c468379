// Hostile clients: malformed targets, oversized headers and request lines,
// idle and half-sent requests, floods. After every case the server must
// still answer /healthz with 200.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';

import {
  SLOW, assertErrorBody, connect, raw, rawRequest, sleep, startServer, waitClose, within,
} from './harness.mjs';

let srv;
// Sockets a test left open; closed after each test.
const open = new Set();

async function openSocket(port) {
  const s = await connect(port);
  s.on('error', () => {});
  open.add(s);
  return s;
}

async function assertHealthy(server) {
  const res = await fetch(`${server.base}/healthz`, { signal: AbortSignal.timeout(10_000 * SLOW) });
  const text = await res.text();
  assert.equal(res.status, 200, `/healthz answered ${res.status}: ${text}`);
  assert.equal(JSON.parse(text).status, 'ok');
}

/** A response status from raw bytes, or null when none. */
const statusOf = (r) => {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(r.text);
  return m ? Number(m[1]) : null;
};

before(async () => {
  srv = await startServer({ env: { GUICHET_SHUTDOWN_GRACE: 3 } });
});

afterEach(async () => {
  for (const s of open) s.destroy();
  open.clear();
  if (srv?.alive()) await assertHealthy(srv);
});

after(async () => {
  for (const s of open) s.destroy();
  await srv?.stop();
});

describe('malformed percent-encoding → 400 url_malformed', () => {
  for (const target of ['/%zz', '/abc%', '/%4', '/%', '/%4g', '/%g4', '/a%2', '/css/%%2e', '/%u002e%u002e/conf',
    '/healthz?q=%zz', '/healthz?q=%', '/healthz?%4=1', '/index.html?a=%e']) {
    test(`GET ${target}`, async () => {
      const r = await rawRequest(srv.port, target);
      assert.equal(r.response?.status, 400, r.text);
      assertErrorBody(r.response.text, 'url_malformed');
    });
  }
});

describe('control characters → 400 path_invalid', () => {
  for (const target of ['/a%01b', '/a%0ab', '/a%0d%0ab', '/%7f', '/css/%1b[31m']) {
    test(`GET ${target}`, async () => {
      const r = await rawRequest(srv.port, target);
      assert.equal(r.response?.status, 400, r.text);
      assertErrorBody(r.response.text, 'path_invalid');
    });
  }
});

describe('oversized requests', () => {
  test('a 40 KB header → 431 or the connection closed, never served', async () => {
    const r = await raw(srv.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`, { waitClose: true });
    const status = statusOf(r);
    if (status === null) assert.ok(r.closed, 'neither an answer nor a close');
    else assert.equal(status, 431, r.text.slice(0, 200));
  });

  test('2000 small headers (over max_header_bytes) → 431 or closed', async () => {
    const hdrs = Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const r = await raw(srv.port, `GET / HTTP/1.1\r\nHost: x\r\n${hdrs}\r\n\r\n`, { waitClose: true });
    const status = statusOf(r);
    if (status === null) assert.ok(r.closed, 'neither an answer nor a close');
    else assert.equal(status, 431, r.text.slice(0, 200));
  });

  test('a 300 KB request line → 414/431 or closed, never served', async () => {
    const r = await raw(srv.port, `GET /${'a'.repeat(300 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`, { waitClose: true });
    const status = statusOf(r);
    if (status === null) assert.ok(r.closed, 'neither an answer nor a close');
    else assert.ok([414, 431].includes(status), r.text.slice(0, 200));
  });

  test('a 300 KB query string → 414/431 or closed', async () => {
    const r = await raw(srv.port, `GET /healthz?q=${'a'.repeat(300 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`, { waitClose: true });
    const status = statusOf(r);
    if (status === null) assert.ok(r.closed, 'neither an answer nor a close');
    else assert.ok([414, 431].includes(status), r.text.slice(0, 200));
  });

  test('a header just under the limit is still served', async () => {
    const r = await rawRequest(srv.port, '/healthz', { headers: { 'X-Pad': 'p'.repeat(16 * 1024) } });
    assert.equal(r.response?.status, 200, r.text.slice(0, 200));
  });
});

describe('malformed requests', () => {
  test('garbage bytes → 400 or closed', async () => {
    const r = await raw(srv.port, Buffer.from([1, 2, 0xff, 0xfe, 32, 65, 13, 10, 13, 10]), { waitClose: true });
    const status = statusOf(r);
    if (status === null) assert.ok(r.closed);
    else assert.equal(status, 400);
  });

  test('a line without spaces → 400 or closed', async () => {
    const r = await raw(srv.port, 'GARBAGE\r\n\r\n', { waitClose: true });
    const status = statusOf(r);
    if (status === null) assert.ok(r.closed);
    else assert.equal(status, 400);
  });

  test('an unknown HTTP version → 505 or 400', async () => {
    const r = await raw(srv.port, 'GET / HTTP/9.9\r\nHost: x\r\n\r\n', { waitClose: true });
    assert.ok([400, 505].includes(statusOf(r)), r.text.slice(0, 200));
  });

  test('a bad Content-Length → 400', async () => {
    for (const cl of ['abc', '-1', '1 2', '0x10']) {
      const r = await raw(srv.port, `POST /csp-report HTTP/1.1\r\nHost: x\r\nContent-Type: application/csp-report\r\nContent-Length: ${cl}\r\n\r\n`, { waitClose: true });
      assert.equal(statusOf(r), 400, `Content-Length: ${cl}: ${r.text.slice(0, 200)}`);
    }
  });

  test('a bad chunk size → 400 or closed, never 204', async () => {
    const r = await raw(srv.port, 'POST /csp-report HTTP/1.1\r\nHost: x\r\nContent-Type: application/csp-report\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n', { waitClose: true });
    const status = statusOf(r);
    if (status === null) assert.ok(r.closed);
    else assert.equal(status, 400, r.text.slice(0, 200));
  });

  test('a request without Host in HTTP/1.1 → 400', async () => {
    const r = await raw(srv.port, 'GET / HTTP/1.1\r\n\r\n', { waitClose: true });
    assert.equal(statusOf(r), 400, r.text.slice(0, 200));
  });

  test('a client disconnecting mid-body is logged as aborted', async () => {
    const re = /access \S+ POST "\/csp-report" - \d+ \S+ aborted$/gm;
    const before = (srv.stderr().match(re) ?? []).length;
    const s = await openSocket(srv.port);
    s.write('POST /csp-report HTTP/1.1\r\nHost: x\r\nContent-Type: application/csp-report\r\nContent-Length: 100\r\n\r\n{"csp');
    await sleep(200 * SLOW);
    s.destroy();
    await srv.waitForLog(new RegExp(`(?:${re.source}[\\s\\S]*){${before + 1}}`, 'm'));
  });

  test('pipelined requests are answered in order', async () => {
    const one = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const r = await raw(srv.port, `${one}GET /css/guichet.css HTTP/1.1\r\nHost: x\r\n\r\n${one.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`, { waitClose: true });
    const statuses = [...r.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 200, 200]);
  });
});

describe('idle and half-sent connections', () => {
  let quick;
  before(async () => {
    quick = await startServer({ env: { GUICHET_CONNECTION_TIMEOUT: 1 } });
  });
  after(async () => { await quick?.stop(); });

  test('an idle connection is closed after connection_timeout', async () => {
    const s = await openSocket(quick.port);
    const r = await waitClose(s, 15_000 * SLOW);
    assert.ok(r.closed, 'the idle connection is still open');
    assert.equal(r.data.length, 0);
  });

  test('a trickled, never finished request line is closed after connection_timeout', async () => {
    const s = await openSocket(quick.port);
    s.write('GET /ind');
    const r = await waitClose(s, 15_000 * SLOW);
    assert.ok(r.closed, 'the connection is still open');
  });

  test('a keep-alive connection is closed after connection_timeout once idle', async () => {
    const s = await openSocket(quick.port);
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const r = await waitClose(s, 15_000 * SLOW);
    assert.ok(r.closed, 'the keep-alive connection is still open');
    assert.match(r.data.toString('latin1'), /^HTTP\/1\.1 200 /);
  });

  test('a request with headers but only part of its body is closed after connection_timeout', async () => {
    const s = await openSocket(quick.port);
    s.write('POST /csp-report HTTP/1.1\r\nHost: x\r\nContent-Type: application/csp-report\r\nContent-Length: 100\r\n\r\n{"csp');
    const r = await waitClose(s, 15_000 * SLOW);
    assert.ok(r.closed, 'the connection is still open');
    await quick.waitForLog(/access \S+ POST "\/csp-report" - \d+ \S+ timeout$/m);
  });

  test('a request line starting with NUL bytes is closed after connection_timeout', async () => {
    const s = await openSocket(quick.port);
    s.write(Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 13, 10]));
    const r = await waitClose(s, 15_000 * SLOW);
    assert.ok(r.closed, 'the connection is still open');
    assert.doesNotMatch(r.data.toString('latin1'), /^HTTP\/1\.1 [23]/);
  });

  test('the quick server is healthy afterwards', async () => {
    await assertHealthy(quick);
  });
});

describe('other clients keep being served', () => {
  test('while requests are half-sent (headers and bodies)', async () => {
    for (let i = 0; i < 10; i++) {
      const s = await openSocket(srv.port);
      s.write(i % 2 ? 'GET /index.html HTTP/1.1\r\nHost: x\r\n'
        : 'POST /csp-report HTTP/1.1\r\nHost: x\r\nContent-Type: application/csp-report\r\nContent-Length: 1000\r\n\r\n{');
    }
    await sleep(100);
    await assertHealthy(srv);
    const res = await fetch(`${srv.base}/css/guichet.css`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });

  test('a flood of 200 concurrent connections, then normal requests succeed', async () => {
    const socks = await Promise.all(Array.from({ length: 200 }, () => openSocket(srv.port)));
    // Half of them start a request and stall.
    socks.forEach((s, i) => { if (i % 2) s.write('GET / HTTP/1.1\r\nHost: x\r\n'); });
    await assertHealthy(srv);
    // Each of them now completes a request.
    const answers = await Promise.all(socks.map((s, i) => new Promise((resolve) => {
      let data = '';
      s.setEncoding('latin1');
      s.on('data', (d) => { data += d; });
      s.on('close', () => resolve(data));
      s.write(i % 2 ? 'Connection: close\r\n\r\n' : 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    })));
    const statuses = answers.map((a) => (/^HTTP\/1\.1 (\d{3})/.exec(a) ?? [])[1]);
    assert.deepEqual(statuses.filter((s) => s !== '200'), [], 'every flooded connection got 200');
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${srv.base}/`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
  });

  test('200 concurrent requests all succeed', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => rawRequest(srv.port, i % 2 ? '/healthz' : '/index.html', { timeoutMs: 30_000 * SLOW })));
    assert.deepEqual(results.map((r) => r.response?.status).filter((s) => s !== 200), []);
  });
});

describe('clients that vanish in the middle of their headers', () => {
  // Each round: 200 connections, a third of them send part of a request
  // line and headers, then all close at once. libmicrohttpd 0.9.75 in epoll
  // mode may not see the end of stream that arrives with the data, so such a
  // connection can linger until connection_timeout (3 s here): the bound that
  // matters. A request whose headers never completed is not in flight.
  let dropped;
  before(async () => {
    dropped = await startServer({ env: { GUICHET_SHUTDOWN_GRACE: 3, GUICHET_CONNECTION_TIMEOUT: 3 } });
  });
  after(async () => { await dropped?.stop(); });

  test('a client that sends part of a request then closes its side is disconnected within connection_timeout', async () => {
    const socks = [];
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 20; i++) {
        const s = net.connect(dropped.port, '127.0.0.1');
        s.on('error', () => {});
        s.resume(); // consume any answer, or 'close' never comes
        s.end(i % 2 ? 'GET /healthz HTTP/1.1\r\nHost: x\r\n' : 'POST /csp-report HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{');
        socks.push(s);
        open.add(s);
      }
      await sleep(50);
    }
    await within(Promise.all(socks.map((s) => (s.destroyed ? null : new Promise((resolve) => s.once('close', resolve))))), (3000 + 5000) * SLOW);
    const stillOpen = socks.filter((s) => !s.destroyed).length;
    assert.equal(stillOpen, 0, `${stillOpen} of ${socks.length} half-closed connections still open after connection_timeout`);
    await assertHealthy(dropped);
  });

  test('10 rounds of 200 connections opened and dropped at once; the server keeps serving', async () => {
    for (let round = 0; round < 10; round++) {
      const socks = await Promise.all(Array.from({ length: 200 }, () => openSocket(dropped.port)));
      socks.forEach((s, i) => { if (i % 3 === 0) s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); });
      socks.forEach((s) => s.destroy());
      await assertHealthy(dropped);
    }
  });

  test('then SIGTERM finds no request in flight (clients gone mid-headers do not count)', async () => {
    for (const s of open) s.destroy();
    open.clear();
    await sleep(500 * SLOW);
    const { stderr } = await dropped.stop();
    const m = /SIGTERM received: finishing (\d+) request\(s\) in flight/.exec(stderr);
    assert.ok(m, 'no SIGTERM line');
    const lingering = stderr.split('\n').filter((l) => / - "\/healthz" - 0 \d{4,}\.\d+ms aborted$/.test(l)).length;
    assert.equal(Number(m[1]), 0,
      `${m[1]} request(s) of clients gone for 2 s still counted in flight at SIGTERM; ${lingering} abandoned connection(s) only closed by the shutdown`);
    assert.doesNotMatch(stderr, /still running after/);
  });
});

describe('after the hostile clients left', () => {
  test('SIGTERM finds no request still in flight and the server exits 0', async () => {
    for (const s of open) s.destroy();
    open.clear();
    await assertHealthy(srv);
    const { stderr } = await srv.stop();
    assert.match(stderr, /SIGTERM received/);
    assert.doesNotMatch(stderr, /still running after/);
    assert.match(stderr, /\bstopped$/m);
  });
});
