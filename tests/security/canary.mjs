// A deliberately vulnerable server on a free loopback port, scanned before
// guichet: if sqlmap and wapiti, as the scan runs them and reads their
// reports, do not find its planted flaws, a clean result for guichet would
// mean nothing.
//
//   POST /lookup  {"name": "…"}  the name pasted into an SQL string run by psql
//                                 (PostgreSQL, as guichet): SQL injection
//   GET /search?q=…               q written into the page unescaped: reflected XSS
import { spawn } from 'node:child_process';
import http from 'node:http';

function psql(sql) {
  return new Promise((resolve) => {
    const child = spawn('psql', ['-X', '-q', '-t', '-A', '-d', 'postgres', '-c', sql], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('close', (status) => resolve({ status, out: out.trim() }));
  });
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method === 'POST' && url.pathname === '/lookup') {
    let body = '';
    for await (const d of req) body += d;
    let name;
    try { name = String(JSON.parse(body).name ?? ''); } catch { res.writeHead(400).end(); return; }
    const r = await psql(`SELECT count(*) FROM pg_database WHERE datname = '${name}'`);
    res.writeHead(r.status === 0 ? 200 : 500, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ count: r.status === 0 ? r.out : null }));
  } else if (url.pathname === '/search') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><body><p>Résultats pour ${url.searchParams.get('q') ?? ''}</p></body></html>`);
  } else if (url.pathname === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html><body><a href="/search?q=stade">Recherche</a>'
      + '<form action="/search"><input name="q" value="stade"></form></body></html>');
  } else {
    res.writeHead(404).end();
  }
}

/** Starts the canary: {base, port, request (sqlmap's -r text for /lookup), close()}. */
export function startCanary() {
  return new Promise((resolve, reject) => {
    const srv = http.createServer((req, res) => { handle(req, res).catch(() => res.writeHead(500).end()); });
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      resolve({
        base: `http://127.0.0.1:${port}`,
        port,
        request: `POST /lookup HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n\r\n{"name":"postgres*"}`,
        close: () => new Promise((r) => srv.close(r)),
      });
    });
  });
}
