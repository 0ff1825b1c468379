// Shared helpers of the HTTP API suite: throw-away databases, a real
// `guichet serve` process per test file, raw sockets for what fetch would
// normalise, and CLI runs.
//
// Environment (set by `make api` / `make api-asan`):
//   TEST_LOG_DIR    optional: a folder where each server's stderr is saved
//   TEST_ROOT       the checkout (cwd of every guichet process)
//   TEST_BIN        the guichet binary under test
//   TEST_SANITIZED  1 when TEST_BIN is the ASan+UBSan build
//   PGHOST PGPORT PGUSER PGDATABASE  the private PostgreSQL cluster
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const ROOT = path.resolve(process.env.TEST_ROOT || path.join(here, '..', '..'));
export const BIN = path.resolve(ROOT, process.env.TEST_BIN || path.join('build', 'guichet'));
export const SANITIZED = process.env.TEST_SANITIZED === '1';
/** Multiplier for time limits: the sanitized build is several times slower. */
export const SLOW = SANITIZED ? 4 : 1;
export const CONF = path.join(ROOT, 'conf', 'guichet.conf');
export const STATIC_DIR = path.join(ROOT, 'static');
export const MIGRATIONS_DIR = path.join(ROOT, 'migrations');

export { sleep };

const SANITIZER_MARKS = ['AddressSanitizer', 'LeakSanitizer', 'runtime error:',
  'UndefinedBehaviorSanitizer', 'ThreadSanitizer'];

/** Fails when a sanitizer reported anything in text (any build: the marks never appear otherwise). */
export function assertNoSanitizerReport(text, what = 'guichet') {
  for (const mark of SANITIZER_MARKS) {
    assert.ok(!text.includes(mark), `${what}: sanitizer report ("${mark}") in stderr:\n${text}`);
  }
}

/**
 * The environment of a guichet process: ours without any GUICHET_* variable
 * (the server refuses unknown ones), the checked-in configuration file, then
 * `extra` (a value of undefined or null removes the variable).
 */
export function guichetEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('GUICHET_')) env[k] = v;
  }
  env.GUICHET_CONF = CONF;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined || v === null) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

// --- Databases -------------------------------------------------------------

function pgEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('GUICHET_')) delete env[k];
  return env;
}

/** Runs SQL with psql against database db; returns stdout (tuples only, unaligned). */
export function psql(db, sql) {
  const r = spawnSync('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], {
    env: pgEnv(), encoding: 'utf8', timeout: 60_000,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`psql -d ${db} failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

/** Creates an empty database with a random name; returns the name. */
export function createDatabase() {
  const name = `guichet_test_${randomBytes(6).toString('hex')}`;
  psql('postgres', `CREATE DATABASE "${name}"`);
  return name;
}

/** Drops a database made by createDatabase (closing any session still on it). */
export function dropDatabase(name) {
  assert.match(name, /^guichet_test_[0-9a-f]+$/, 'only test databases are dropped');
  psql('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

// --- CLI -------------------------------------------------------------------

/**
 * Runs `guichet ...args` to completion (cwd TEST_ROOT). Returns
 * {status, signal, stdout, stderr}. A sanitizer report fails the caller.
 */
export function runGuichet(args, env = {}, { cwd = ROOT, timeoutMs = 60_000 * SLOW } = {}) {
  const r = spawnSync(BIN, args, {
    cwd, env: guichetEnv(env), encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL',
  });
  if (r.error && r.error.code !== 'ETIMEDOUT') throw r.error;
  const out = { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  assertNoSanitizerReport(out.stderr, `guichet ${args.join(' ')}`);
  return out;
}

/**
 * Runs cmd without blocking (a server under test, child of this process,
 * keeps its log pipe drained meanwhile); killed after timeoutMs. Resolves
 * with {status, signal, stdout, stderr}.
 */
export function spawnCollect(cmd, args, { cwd = ROOT, env = process.env, timeoutMs = 60_000 * SLOW } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** Like runGuichet, without blocking: resolves with {status, signal, stdout, stderr}. */
export async function runGuichetAsync(args, env = {}, { cwd = ROOT, timeoutMs = 60_000 * SLOW } = {}) {
  const r = await spawnCollect(BIN, args, { cwd, env: guichetEnv(env), timeoutMs });
  assertNoSanitizerReport(r.stderr, `guichet ${args.join(' ')}`);
  return r;
}

let pointSeed = 0;

/**
 * n points well inside commune code (from its reference outline, 300 m in),
 * as GeoJSON, 6 decimals; a new draw at each call.
 */
export function pointsIn(db, code, n) {
  const out = psql(db, `SELECT round(ST_X(p)::numeric, 6) || ' ' || round(ST_Y(p)::numeric, 6) FROM
    (SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(geom, -0.003), ${n}, ${++pointSeed}))).geom p FROM ref_zones
     WHERE kind = 'commune' AND code = '${code}') q`);
  const pts = out.split('\n').filter(Boolean).map((l) => ({ type: 'Point', coordinates: l.split(' ').map(Number) }));
  assert.equal(pts.length, n, `points in ${code}`);
  return pts;
}

/** `guichet migrate` with env (PGDATABASE=... typically); fails unless it exits 0. */
export function migrate(env = {}) {
  const r = runGuichet(['migrate'], env);
  assert.equal(r.status, 0, `guichet migrate failed:\n${r.stderr}`);
  return r;
}

/** The migration files of a folder, sorted: [{version, name, sql, checksum}]. */
export function migrationFiles(dir = MIGRATIONS_DIR) {
  return fs.readdirSync(dir).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort().map((name) => {
    const sql = fs.readFileSync(path.join(dir, name));
    return { version: name.slice(0, 4), name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
}

/** A fresh temporary folder (removed by the caller with rmTemp). */
export function makeTemp(prefix = 'guichet-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rmTemp(dir) {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

// --- Server ----------------------------------------------------------------

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Waits for promise, at most ms (the timer is cleared: it never keeps the process alive). */
export function within(promise, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((resolve) => { timer = setTimeout(resolve, ms); }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls fn until it returns a truthy value; throws after timeoutMs. */
export async function waitFor(fn, { timeoutMs = 10_000 * SLOW, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The reference data make passes (the shared outlines, the COG list). */
export const REFDATA = (process.env.TEST_REFDATA ?? '').split(' ').filter(Boolean);

/**
 * How many guichet processes startServer puts behind one address: 1, or 2
 * for `make api-nodes` (TEST_NODES=2), where two nodes on one database sit
 * behind nginx, as in production with two nodes.
 */
export const NODES = Number(process.env.TEST_NODES || 1);

/** Where nginx is (Debian's nginx-light). */
export const NGINX = process.env.TEST_NGINX || '/usr/sbin/nginx';

/*
 * Waits until base/healthz answers (whatever the status), or exited()
 * says the process is gone; throws after timeoutMs.
 */
function answering(base, exited, timeoutMs, what) {
  return waitFor(async () => {
    if (exited()) return true;
    try {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000 * SLOW) });
      await res.arrayBuffer();
      return true;
    } catch {
      return false;
    }
  }, { timeoutMs, intervalMs: 50, what });
}

/*
 * Spawns one `guichet serve` on port with env (already complete) and waits
 * for /healthz to answer. Returns the node: its port, pid, output, exit.
 */
async function launchNode(port, env) {
  const child = spawn(BIN, ['serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  const exited = new Promise((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const node = {
    port,
    base: `http://127.0.0.1:${port}`,
    pid: child.pid,
    child,
    exited,
    exit: null,
    stderr: () => stderr,
    stdout: () => stdout,
  };
  exited.then((x) => { node.exit = x; });
  try {
    await answering(node.base, () => node.exit, 30_000 * SLOW, `guichet serve on port ${port}`);
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`${e.message}\nstderr:\n${stderr}`);
  }
  if (node.exit) {
    throw new Error(`guichet serve exited (${node.exit.code ?? node.exit.signal}) before answering:\n${stderr}`);
  }
  return node;
}

/*
 * Stops a node with signal, waiting timeoutMs before SIGKILL. Returns
 * {code, signal, stderr, killed}; the caller judges it.
 */
async function stopNode(node, signal, timeoutMs) {
  let killed = false;
  if (node.exit === null) {
    node.child.kill(signal);
    const timer = setTimeout(() => { killed = true; node.child.kill('SIGKILL'); }, timeoutMs);
    await node.exited;
    clearTimeout(timer);
  }
  if (process.env.TEST_LOG_DIR) {
    // Debugging aid: keep every server's log.
    fs.writeFileSync(path.join(process.env.TEST_LOG_DIR, `serve-${node.port}.log`), node.stderr());
  }
  return { ...node.exit, stderr: node.stderr(), killed };
}

/*
 * nginx on 127.0.0.1:port in front of the nodes' ports, round robin, with
 * the proxy settings of conf/nginx-guichet.conf: bodies streamed both ways
 * (guichet applies its own limits and answers its own 413), the client's
 * address passed in X-Forwarded-For, keep-alive to the nodes, and a POST
 * never retried on the other node (nginx's default since 1.9.13).
 */
async function startNginx(port, nodePorts) {
  const dir = makeTemp('guichet-nginx-');
  fs.chmodSync(dir, 0o755);
  const conf = `${process.getuid?.() === 0 ? 'user root root;\n' : ''}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream guichet {
${nodePorts.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://guichet;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
    }
  }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = spawn(NGINX, ['-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => { child.on('close', (code, signal) => resolve({ code, signal })); });
  let exit = null;
  exited.then((x) => { exit = x; });
  const errorLog = () => { try { return fs.readFileSync(path.join(dir, 'error.log'), 'utf8'); } catch { return ''; } };
  // nginx must not outlive the test process, whatever happens to the test.
  const reap = () => child.kill('SIGKILL');
  process.on('exit', reap);
  exited.then(() => process.removeListener('exit', reap));
  try {
    await answering(`http://127.0.0.1:${port}`, () => exit, 10_000, `nginx on port ${port}`);
    if (exit) throw new Error(`nginx exited (${exit.code ?? exit.signal})`);
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    rmTemp(dir);
    throw new Error(`${e.message}\n${stderr}${errorLog()}`);
  }
  return {
    port,
    errorLog,
    async stop() {
      if (exit === null) {
        child.kill('SIGQUIT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmTemp(dir);
    },
  };
}

/**
 * Starts `guichet serve` (cwd TEST_ROOT) on a free port.
 *   env      extra environment for the server (GUICHET_* config keys...)
 *   migrate  run `guichet migrate` on the database first
 *   db       true: a fresh database, dropped by stop(); a string: that
 *            existing database; false: none (pass GUICHET_DATABASE in env)
 *   nodes    how many processes (NODES by default): with more than one,
 *            they share the database and nginx answers on `port`, sending
 *            requests to them in turn; `nodes` lists them
 * Resolves once /healthz answers (whatever the status); rejects with the
 * server's stderr when it exits first.
 */
export async function startServer({ env = {}, migrate: doMigrate = true, db = true, refdata = false,
  nodes: count = NODES } = {}) {
  let dbName = null;
  let ownDb = false;
  if (db === true) {
    dbName = createDatabase();
    ownDb = true;
  } else if (typeof db === 'string') {
    dbName = db;
  }
  const dbEnv = dbName ? { PGDATABASE: dbName } : {};
  const cleanupDb = () => { if (ownDb) { try { dropDatabase(dbName); } catch { /* best effort */ } } };
  try {
    if (doMigrate && dbName) migrate({ ...dbEnv, ...env });
    if (refdata && dbName) {
      const r = runGuichet(['load-refdata', ...REFDATA], dbEnv);
      assert.equal(r.status, 0, `guichet load-refdata failed:\n${r.stderr}`);
    }
  } catch (e) {
    cleanupDb();
    throw e;
  }

  const port = await freePort();
  const nodes = [];
  let proxy = null;
  try {
    const nodePorts = [port];
    if (count > 1) {
      // nginx keeps `port`; each node gets one of its own, all distinct.
      nodePorts.length = 0;
      while (nodePorts.length < count) {
        const p = await freePort();
        if (p !== port && !nodePorts.includes(p)) nodePorts.push(p);
      }
    }
    // No tile server here: the maps show our own outlines only. Behind
    // nginx, the address a client sees is nginx's, and guichet trusts its
    // X-Forwarded-For.
    const nodeEnv = (p) => guichetEnv({ ...dbEnv, GUICHET_LISTEN_PORT: p, GUICHET_MAP_TILES_URL: '',
      GUICHET_PUBLIC_URL: `http://127.0.0.1:${port}`,
      ...(count > 1 ? { GUICHET_TRUSTED_PROXIES: '127.0.0.1' } : {}), ...env });
    for (const p of nodePorts) nodes.push(await launchNode(p, nodeEnv(p)));
    if (count > 1) {
      proxy = await startNginx(port, nodePorts);
      // Once every node is gone (killed by a test, say), so is nginx.
      Promise.all(nodes.map((n) => n.exited)).then(() => proxy.stop());
    }
  } catch (e) {
    for (const n of nodes) { n.child.kill('SIGKILL'); await n.exited; }
    cleanupDb();
    throw e;
  }

  const stderr = () => nodes.map((n) => n.stderr()).join('');
  let stopped = null;
  const server = {
    base: `http://127.0.0.1:${port}`,
    port,
    db: dbName,
    pid: nodes[0].pid,
    child: nodes[0].child,
    nodes,
    proxy,
    stderr,
    stdout: () => nodes.map((n) => n.stdout()).join(''),
    /** Is every process still running? */
    alive: () => nodes.every((n) => n.exit === null),
    /** Resolves {code, signal} when the (first) process exits. */
    exited: nodes[0].exited,
    /** Sends a signal to every process without waiting. */
    kill: (signal) => { for (const n of nodes) n.child.kill(signal); },
    /** Waits until stderr (of any process) matches re; returns the match. */
    waitForLog: (re, opts = {}) => waitFor(() => stderr().match(re), { what: `log ${re}`, ...opts }),
    /**
     * Stops the server with signal (SIGTERM), waits for it (15 s, then
     * SIGKILL and a failure) and checks that it exited 0 with no sanitizer
     * report. Returns {code, signal, stderr}. Idempotent.
     */
    async stop({ signal = 'SIGTERM', timeoutMs = 15_000 } = {}) {
      if (stopped) return stopped;
      if (proxy) await proxy.stop();
      const results = await Promise.all(nodes.map((n) => stopNode(n, signal, timeoutMs)));
      stopped = { ...results[0], stderr: stderr() };
      cleanupDb();
      for (const r of results) {
        assert.ok(!r.killed, `guichet serve did not stop within ${timeoutMs} ms of ${signal}:\n${r.stderr}`);
        assertNoSanitizerReport(r.stderr, 'guichet serve');
        assert.equal(r.signal, null, `guichet serve died of ${r.signal}:\n${r.stderr}`);
        assert.equal(r.code, 0, `guichet serve exited ${r.code}:\n${r.stderr}`);
      }
      return stopped;
    },
  };
  return server;
}

// --- Raw HTTP --------------------------------------------------------------

/**
 * Parses one HTTP response at the start of buf (a Buffer). Returns
 * {status, reason, headers (lower-case names; repeated ones joined by ", "),
 * rawHeaders [[name, value]], body (Buffer), text, length} or null when
 * incomplete. When closed, a body without length ends at the end of buf.
 */
export function parseResponse(buf, { head = false, closed = false } = {}) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
  const status = Number(m[2]);
  const headers = {};
  const rawHeaders = [];
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    rawHeaders.push([name, value]);
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const start = end + 4;
  let bodyLen;
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    bodyLen = 0;
  } else if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
    // Decode chunked bodies (the server does not use them today).
    let p = start;
    const parts = [];
    for (;;) {
      const le = buf.indexOf('\r\n', p);
      if (le < 0) return null;
      const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      if (buf.length < le + 2 + size + 2) return null;
      if (size === 0) break;
      parts.push(buf.subarray(le + 2, le + 2 + size));
      p = le + 2 + size + 2;
    }
    const body = Buffer.concat(parts);
    return { status, reason: m[3] ?? '', headers, rawHeaders, body, text: body.toString('utf8'), length: buf.length };
  } else if ('content-length' in headers) {
    bodyLen = Number(headers['content-length']);
  } else if (closed) {
    bodyLen = buf.length - start;
  } else {
    return null;
  }
  if (buf.length < start + bodyLen) return null;
  const body = buf.subarray(start, start + bodyLen);
  return { status, reason: m[3] ?? '', headers, rawHeaders, body, text: body.toString('utf8'), length: start + bodyLen };
}

/**
 * Opens a socket to 127.0.0.1:port and writes text (a string, a Buffer, or
 * an array of them written one after the other, `gapMs` apart). Resolves
 * with {data (Buffer), text, closed, error, response}:
 *   closed    the server closed the connection (or reset it) within timeoutMs
 *   response  the first parsed response, or null
 * Unless waitClose is set, resolves as soon as a complete response arrived.
 */
export function raw(port, text, { timeoutMs = 5000 * SLOW, gapMs = 0, waitClose = false, head = false } = {}) {
  const pieces = Array.isArray(text) ? text : [text];
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let done = false;
    let error = null;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      let response = null;
      try { response = parseResponse(data, { head, closed }); } catch { response = null; }
      resolve({ data, text: data.toString('latin1'), closed, error, response });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('connect', async () => {
      for (let i = 0; i < pieces.length; i++) {
        if (i > 0 && gapMs) await sleep(gapMs);
        if (done || sock.destroyed) return;
        sock.write(pieces[i]);
      }
    });
    sock.on('data', (d) => {
      data = Buffer.concat([data, d]);
      if (!waitClose) {
        try { if (parseResponse(data, { head })) finish(false); } catch { /* garbage: wait for close */ }
      }
    });
    sock.on('error', (e) => { error = e; });
    sock.on('close', () => finish(true));
  });
}

/**
 * One raw request: `${method} ${target} HTTP/1.1`, Host, Connection: close,
 * then headers ({name: value} or [[name, value]]) and body.
 */
export function rawRequest(port, target, { method = 'GET', headers = {}, body = null, ...opts } = {}) {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [k, v] of Array.isArray(headers) ? headers : Object.entries(headers)) lines.push(`${k}: ${v}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  const payload = body == null ? head : Buffer.concat([head, Buffer.from(body)]);
  return raw(port, payload, { head: method === 'HEAD', ...opts });
}

/** Opens a socket and resolves with it once connected (or rejects with the error). */
export function connect(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => { sock.removeListener('error', reject); resolve(sock); });
    sock.once('error', reject);
  });
}

/** Resolves {closed, data} when sock closes, or {closed:false} after timeoutMs. */
export function waitClose(sock, timeoutMs) {
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    if (sock.destroyed) { resolve({ closed: true, data }); return; }
    const onData = (d) => { data = Buffer.concat([data, d]); };
    const timer = setTimeout(() => {
      sock.removeListener('data', onData);
      resolve({ closed: false, data });
    }, timeoutMs);
    sock.on('data', onData);
    sock.on('error', () => {});
    sock.once('close', () => { clearTimeout(timer); resolve({ closed: true, data }); });
  });
}

// --- Assertions shared by the files ----------------------------------------

/** Asserts the JSON error shape {"error":{"code","message","field"}} and returns the error object. */
export function assertErrorBody(text, code, field = null) {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`error body is not JSON: ${JSON.stringify(text)}`);
  }
  assert.deepEqual(Object.keys(body), ['error']);
  const e = body.error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'field', 'message']);
  assert.equal(e.code, code);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0, 'message is empty');
  assert.equal(e.field, field);
  return e;
}

/** Headers object of a fetch Response or of a parsed raw response → lower-case name lookup. */
function headerGetter(h) {
  if (typeof h.get === 'function') return (n) => h.get(n);
  return (n) => (n in h ? h[n] : null);
}

/** The security headers every answer of guichet carries (frame_ancestors 'none'). */
export function assertSecurityHeaders(headers, { frameAncestors = "'none'" } = {}) {
  const get = headerGetter(headers);
  const csp = get('content-security-policy');
  assert.ok(csp, 'Content-Security-Policy is missing');
  assert.ok(csp.includes("script-src 'self'"), `CSP without script-src 'self': ${csp}`);
  assert.ok(csp.includes(`frame-ancestors ${frameAncestors}`), `CSP without frame-ancestors ${frameAncestors}: ${csp}`);
  assert.ok(!csp.includes('unsafe-inline'), `CSP allows unsafe-inline: ${csp}`);
  assert.ok(!csp.includes('unsafe-eval'), `CSP allows unsafe-eval: ${csp}`);
  assert.equal(get('x-content-type-options'), 'nosniff');
  assert.ok(get('referrer-policy'), 'Referrer-Policy is missing');
  if (frameAncestors === "'none'") assert.equal(get('x-frame-options'), 'DENY');
  else assert.equal(get('x-frame-options'), null);
}

export const JSON_TYPE = 'application/json; charset=utf-8';
