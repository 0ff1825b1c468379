// Graceful shutdown: SIGTERM/SIGINT close the listening socket, let the
// requests in flight finish (up to shutdown_grace) and exit 0.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { SLOW, connect, sleep, startServer, waitClose, waitFor, within } from './harness.mjs';

const REPORT = JSON.stringify({ 'csp-report': { 'document-uri': 'http://127.0.0.1/', 'violated-directive': 'img-src' } });
const reportHead = (len) => 'POST /csp-report HTTP/1.1\r\nHost: 127.0.0.1\r\n'
  + `Content-Type: application/csp-report\r\nContent-Length: ${len}\r\n\r\n`;

/** Collects what a socket receives; .text() and a promise resolved on close. */
function collect(sock) {
  let data = '';
  sock.setEncoding('latin1');
  sock.on('data', (d) => { data += d; });
  sock.on('error', () => {});
  const closed = new Promise((resolve) => sock.once('close', resolve));
  return { text: () => data, closed };
}

describe('SIGTERM with a request in flight', () => {
  test('the request finishes, new connections are refused, exit 0 with "stopped"', async () => {
    const srv = await startServer();
    try {
      const body = Buffer.from(REPORT);
      const half = Math.floor(body.length / 2);
      const sock = await connect(srv.port);
      const got = collect(sock);
      sock.write(reportHead(body.length));
      sock.write(body.subarray(0, half));
      // Let the server read the headers and the first half.
      await sleep(300 * SLOW);

      srv.kill('SIGTERM');
      await srv.waitForLog(/SIGTERM received: finishing 1 request\(s\) in flight/);
      await sleep(300);
      assert.ok(srv.alive(), 'the server exited with a request in flight');
      await assert.rejects(connect(srv.port), /ECONNREFUSED/, 'a new connection was accepted during shutdown');

      sock.write(body.subarray(half));
      await within(got.closed, 15_000 * SLOW);
      assert.match(got.text(), /^HTTP\/1\.1 204 /, `answer: ${JSON.stringify(got.text())}`);

      const { code, signal, stderr } = await srv.stop();
      assert.equal(code, 0);
      assert.equal(signal, null);
      assert.match(stderr, /\bstopped$/m);
      assert.doesNotMatch(stderr, /still running after/);
      assert.match(stderr, /access \S+ POST "\/csp-report" 204 0 /);
    } finally {
      await srv.stop().catch(() => {});
    }
  });

  test('a request that never finishes is cut after shutdown_grace, exit 0', async () => {
    const srv = await startServer({ env: { GUICHET_SHUTDOWN_GRACE: 1 } });
    try {
      const sock = await connect(srv.port);
      const got = collect(sock);
      sock.write(reportHead(REPORT.length));
      sock.write(REPORT.slice(0, 5));
      await sleep(300 * SLOW);
      const t0 = Date.now();
      const { code, stderr } = await srv.stop();
      assert.equal(code, 0);
      assert.ok(Date.now() - t0 < 12_000 * SLOW, 'stopping took far longer than shutdown_grace');
      assert.match(stderr, /1 request\(s\) still running after 1s: stopping/);
      assert.match(stderr, /\bstopped$/m);
      await within(got.closed, 5000);
      assert.ok(sock.destroyed || sock.readableEnded, 'the unfinished connection is still open');
    } finally {
      await srv.stop().catch(() => {});
    }
  });

  test('idle keep-alive connections do not delay the shutdown', async () => {
    const srv = await startServer();
    try {
      const sock = await connect(srv.port);
      const got = collect(sock);
      sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => /^HTTP\/1\.1 200 [^]*\r\n\r\n\{/.test(got.text()), { what: 'the /healthz answer' });
      const { code, stderr } = await srv.stop();
      assert.equal(code, 0);
      assert.match(stderr, /SIGTERM received: finishing 0 request\(s\) in flight/);
      assert.doesNotMatch(stderr, /still running after/);
      const c = await waitClose(sock, 5000);
      assert.ok(c.closed, 'the keep-alive connection was not closed');
    } finally {
      await srv.stop().catch(() => {});
    }
  });
});

describe('SIGINT', () => {
  test('an idle server exits 0 on SIGINT with "stopped"', async () => {
    const srv = await startServer();
    const res = await fetch(`${srv.base}/healthz`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const { code, signal, stderr } = await srv.stop({ signal: 'SIGINT' });
    assert.equal(code, 0);
    assert.equal(signal, null);
    assert.match(stderr, /SIGINT received/);
    assert.match(stderr, /\bstopped$/m);
  });

  test('SIGINT also lets a request in flight finish', async () => {
    const srv = await startServer();
    try {
      const body = Buffer.from(REPORT);
      const sock = await connect(srv.port);
      const got = collect(sock);
      sock.write(reportHead(body.length));
      sock.write(body.subarray(0, 10));
      await sleep(300 * SLOW);
      srv.kill('SIGINT');
      await srv.waitForLog(/SIGINT received: finishing 1 request\(s\) in flight/);
      sock.write(body.subarray(10));
      await within(got.closed, 15_000 * SLOW);
      assert.match(got.text(), /^HTTP\/1\.1 204 /);
      const { code, stderr } = await srv.stop();
      assert.equal(code, 0);
      assert.match(stderr, /\bstopped$/m);
    } finally {
      await srv.stop().catch(() => {});
    }
  });
});
