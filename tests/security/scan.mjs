// `make security`: attack tools from Debian against a guichet server of its
// own, on a fresh database with the demo accounts and a few records.
//
//   sqlmap  every parameter of every route of the route table (`guichet
//           routes`), typed from /api/v1/openapi.json, and every field of
//           the three forms, each as a custom injection point ('*') of one
//           request per route (requests.mjs); plus the session cookie, the
//           CSRF header and an API token once each. No injectable
//           parameter is expected.
//   wapiti  crawls the web UI with an authenticated session (cookie and CSRF
//           header), restricted to the server's address and port, logout
//           excluded; no high, medium or critical finding is expected.
//
// Reports go to SECURITY_OUT (build/security, ignored by git): summary.txt,
// summary.json, sqlmap/<request>/{request.txt,out.log}, wapiti/report.json.
// Exit status 1 when sqlmap reports an injectable parameter or wapiti a
// finding of medium level or above; 2 when the scan could not run.
//
// Environment (make sets the first ones): TEST_ROOT, TEST_BIN,
// TEST_REFDATA, PGHOST, PGPORT, PGUSER; SECURITY_OUT; SQLMAP_LEVEL (3),
// SQLMAP_RISK (2), SQLMAP_THREADS (2); SECURITY_ONLY=sqlmap|wapiti;
// SECURITY_MATCH (a regular expression: only the requests whose name
// matches); WAPITI_MAX_SCAN_SECONDS (900).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  startServer, runGuichet, pointsIn, psql, makeTemp, rmTemp, waitFor, ROOT, REFDATA,
} from '../api/harness.mjs';
import { Client, FAST_ARGON2, addOrg, addUser } from '../api/accounts.mjs';
import { buildRequests, rawRequest, luhn } from './requests.mjs';
import { sqlmapOutcome, wapitiFindings, accessStats } from './report.mjs';
import { startCanary } from './canary.mjs';

const OUT = path.resolve(process.env.SECURITY_OUT || path.join(ROOT, 'build', 'security'));
const LEVEL = Number(process.env.SQLMAP_LEVEL || 3);
const RISK = Number(process.env.SQLMAP_RISK || 2);
const THREADS = Number(process.env.SQLMAP_THREADS || 2);
const ONLY = process.env.SECURITY_ONLY || '';
const MATCH = process.env.SECURITY_MATCH ? new RegExp(process.env.SECURITY_MATCH) : null;
const WAPITI_SECONDS = Number(process.env.WAPITI_MAX_SCAN_SECONDS || 900);
const GUICHETS = ['erp', 'equipco', 'adresse'];

const log = (...a) => console.log(`[security ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** Runs cmd with its output to file; resolves {status, ms}. */
function run(cmd, args, file, opts = {}) {
  return new Promise((resolve, reject) => {
    const fd = fs.openSync(file, 'w');
    const t0 = Date.now();
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], ...opts });
    child.on('error', (e) => { fs.closeSync(fd); reject(e); });
    child.on('close', (status) => { fs.closeSync(fd); resolve({ status, ms: Date.now() - t0 }); });
  });
}

/** The demo accounts' passwords from `guichet demo`: {email: password}. */
function demoAccounts(db) {
  const r = runGuichet(['demo'], { PGDATABASE: db, ...FAST_ARGON2 });
  assert.equal(r.status, 0, r.stderr);
  const out = {};
  for (const m of r.stdout.matchAll(/^ {2}(\S+@\S+)\s+(\S+)\s/gm)) out[m[1]] = m[2];
  assert.ok(out['admin@guichet.test'], `no demo admin in:\n${r.stdout}`);
  return out;
}

async function ok(r, what, status = [200, 201, 202]) {
  assert.ok(status.includes(r.status), `${what}: ${r.status} ${r.text}`);
  return r.json;
}

/**
 * The records the requests point at, made through the API: a validated
 * record of each guichet (to amend; the ERP for /ogc), a submitted ERP to
 * decide on, drafts of the admin's own to PATCH, an import, an export, API
 * tokens, an organisation, a user and a service account that the admin may
 * change, an invitation and a password reset whose tokens the mail log shows.
 */
async function seed(srv, pw) {
  const login = async (email) => { const c = new Client(srv.base); await c.login(email, pw[email]); return c; };
  const admin = await login('admin@guichet.test');
  const agent = await login('agent.toulouse@guichet.test');
  const sdis = await login('relecteur.sdis31@guichet.test');
  const ddt = await login('relecteur.ddt31@guichet.test');
  const pts = pointsIn(srv.db, '31555', 16);
  let n = 0;
  const sub = (g, id = '') => `/api/v1/guichets/${g}/submissions${id === '' ? '' : `/${id}`}`;
  const make = async (c, g, attributes, submit = true) => ok(await c.req('POST', sub(g),
    { attributes, geometry: pts[n++], submit, confirm_warnings: true }), `create ${g}`);
  const decide = async (c, g, id) => ok(await c.req('POST', `${sub(g, id)}/transitions`, { action: 'validate' }), `validate ${g}`);
  const attrs = {
    erp: (name) => ({ libelle: name, categorie: '3', type_principal: 'L', capacite_d_accueil_du_public: 400 }),
    equipco: (name) => ({ categorie: 'Sport', nature: 'Stade', toponyme: name }),
    adresse: (name, i) => ({ commune_insee: '31555', voie_nom: `Rue ${name}`, numero: i + 1, position: 'entrée' }),
  };
  const valid = {};
  const drafts = {};
  for (const [i, g] of GUICHETS.entries()) {
    const v = await make(agent, g, attrs[g]('validé', i));
    if (g === 'erp') { await decide(sdis, g, v.id); await decide(ddt, g, v.id); } else await decide(admin, g, v.id);
    valid[g] = (await admin.req('GET', sub(g, v.id))).json;
    assert.equal(valid[g].state, 'validated', `${g} ${v.id}`);
    drafts[g] = await make(admin, g, attrs[g]('brouillon', i + 10), false);
  }
  // A second version of a draft, for the diff.
  drafts.erp = await ok(await admin.req('PATCH', sub('erp', drafts.erp.id), { attributes: attrs.erp('brouillon revu'), submit: false }), 'save');
  // Submitted ERP to decide on: one for the transitions, one for the
  // bulk decisions, one for assignments, comments and reads.
  const pending = await make(agent, 'erp', attrs.erp('en attente'));
  const toDecide = await make(agent, 'erp', attrs.erp('à décider'));
  const inBulk = await make(agent, 'erp', attrs.erp('en lot'));
  await ok(await admin.req('POST', `${sub('erp', pending.id)}/comments`, { body: 'Une question.' }), 'comment');
  // An admin assigns to an admin.
  const admin2 = addUser(srv.db, { email: 'admin2@guichet.test', org: 'OPenIG', role: 'admin' });
  const items = await (await fetch(`${srv.base}/ogc/collections/erp/items?limit=1`)).json();
  const uid = items.features?.[0]?.id;
  assert.ok(uid, 'no validated ERP in /ogc');

  const csv = `libelle;categorie;type_principal;lon;lat\nImporté;5;L;${pts[n].coordinates.join(';')}\n`;
  const imp = await ok(await admin.req('POST', '/api/v1/imports?guichet=erp&filename=cible.csv', Buffer.from(csv)), 'import');
  const batch = await ok(await admin.req('POST', '/api/v1/exports', { guichet: 'erp', format: 'geojson', mode: 'full' }), 'export');
  const done = await waitFor(async () => {
    const b = (await admin.req('GET', `/api/v1/exports/${batch.id}`)).json;
    return ['done', 'failed'].includes(b.state) ? b : null;
  }, { what: 'export batch' });
  assert.equal(done.state, 'done', done.error);
  const token = await ok(await admin.req('POST', '/api/v1/account/tokens', { name: 'cible', scopes: ['read'] }), 'token');
  const bearer = await ok(await admin.req('POST', '/api/v1/account/tokens',
    { name: 'scan', scopes: ['read', 'submit', 'review', 'export', 'admin'] }), 'token');
  // An organisation, a user and a service account the admin may change.
  const org = addOrg(srv.db, { name: 'Organisation cible', kind: 'departement', departements: '31', communes: '31069' });
  const user = addUser(srv.db, { email: 'cible@guichet.test', org, role: 'contributor', departements: '31' });
  const service = await ok(await admin.req('POST', `/api/v1/organisations/${org}/service-accounts`,
    { email: 'service.cible@guichet.test', display_name: 'Service cible', role: 'contributor' }), 'service account');
  // Tokens that only mail carries (mail_log writes them to the server's log).
  await ok(await admin.req('POST', `/api/v1/organisations/${org}/invitations`,
    { email: 'invitee.cible@guichet.test', display_name: 'Invitée', role: 'contributor' }), 'invitation');
  await ok(await new Client(srv.base).req('POST', '/api/v1/password-reset', { email: user.email }), 'reset', [202]);
  const mailed = (page) => waitFor(() => new RegExp(`/${page}#jeton=([A-Za-z0-9_-]+)`).exec(srv.stderr())?.[1],
    { what: `${page} link in the mail log` });
  const notes = (await admin.req('GET', '/api/v1/notifications')).json;
  return {
    admin, user, org, uid, pending, toDecide, inBulk, admin2, drafts, valid, imp, batch: done, token, bearer: bearer.token, service: service.id,
    reviewer: Number(psql(srv.db, "SELECT id FROM users WHERE email = 'relecteur.sdis31@guichet.test'")),
    invitation: await mailed('invitation.html'), reset: await mailed('mot-de-passe.html'),
    notification: notes?.notifications?.[0]?.id ?? 1, pts,
  };
}

/** The context requests.mjs builds the requests from. */
function context(srv, s, routes, openapi) {
  const forms = Object.fromEntries(GUICHETS.map((g) => [g,
    JSON.parse(fs.readFileSync(path.join(ROOT, 'forms', `${g}.json`), 'utf8'))]));
  const point = s.pts[11];
  const square = ([x, y]) => ({ type: 'Polygon', coordinates: [[[x, y], [x + 0.0005, y], [x + 0.0005, y + 0.0005], [x, y + 0.0005], [x, y]]] });
  const cookie = /guichet_session=([^;]*)/.exec(s.admin.cookie)[1];
  const subId = { id: s.pending.id };
  return {
    openapi,
    forms,
    geometry: { erp: point, adresse: point, equipco: square(point.coordinates) },
    cookieName: 'guichet_session',
    cookie,
    csrf: s.admin.csrf,
    token: s.bearer,
    byName: {
      guichet: 'erp', limit: 10, offset: 0, f: 'json', collectionId: 'erp', featureId: s.uid,
      bbox: '1.3,43.5,1.6,43.7', 'bbox-crs': 'http://www.opengis.net/def/crs/OGC/1.3/CRS84',
      crs: 'http://www.opengis.net/def/crs/OGC/1.3/CRS84', datetime: '2020-01-01T00:00:00Z/..',
      commune: '31555', departement: '31', theme: 'erp', territory: '31', code: '31555', kind: 'commune',
      from: 1, to: 2, version: 1, confirm_warnings: true, submit: true, display_name: 'Nom de la cible',
      name: 'Nom de la cible', siren: '213105554', active: true, role: 'contributor', email: 'cible@guichet.test',
      scopes: ['read'], expires_days: 30, ids: [s.inBulk.id], user_id: s.reviewer, comment: 'Un commentaire.',
      body: 'Un commentaire.', field: 'libelle', filename: 'cible.csv', format: 'csv', unread: true, all: false,
      notify: 'immediate', validate: false, mode: 'full', state: 'submitted', assigned: 'me', overdue: false,
      older_than_days: 1, import: s.imp.id, status: 'valid', operation: 'modify',
    },
    byRoute: {
      'POST /api/v1/session': { email: s.user.email, password: s.user.password },
      'POST /api/v1/password-reset/confirm': { token: s.reset, password: 'Un-nouveau-mot-de-passe-2' },
      'POST /api/v1/invitations/inspect': { token: s.invitation },
      'POST /api/v1/invitations/accept': { token: s.invitation, password: 'Un-nouveau-mot-de-passe-3' },
      'POST /api/v1/account/password': { current_password: 'pas-le-mot-de-passe', new_password: 'Un-nouveau-mot-de-passe-1' },
      'DELETE /api/v1/account/tokens/{id}': { id: s.token.id },
      'GET /api/v1/organisations/{id}': { id: s.org },
      'PATCH /api/v1/organisations/{id}': { id: s.org, name: 'Organisation cible', kind: 'departement', siren: luhn('22310000') },
      'GET /api/v1/organisations/{id}/members': { id: s.org },
      'GET /api/v1/organisations/{id}/events': { id: s.org },
      'POST /api/v1/organisations/{id}/invitations': { id: s.org, email: 'invitee@guichet.test', communes: ['31069'] },
      'POST /api/v1/organisations/{id}/service-accounts': { id: s.org, email: 'service@guichet.test', communes: ['31069'] },
      'POST /api/v1/organisations': { kind: 'departement', communes: ['31069'] },
      'PATCH /api/v1/users/{id}': { id: s.user.id, communes: ['31069'] },
      'POST /api/v1/users/{id}/tokens': { id: s.service },
      'GET /api/v1/ref/zones': { kind: 'commune', code: '31555' },
      // The admin's own drafts, saved again and again.
      'PATCH /api/v1/guichets/{guichet}/submissions/{id}': { id: (g) => s.drafts[g].id, version: (g) => s.drafts[g].version, submit: false },
      'GET /api/v1/guichets/{guichet}/submissions/{id}': subId,
      // Amendments of each guichet's validated record: the form's every field goes through the checks.
      'POST /api/v1/guichets/{guichet}/submissions': { amends: (g) => s.valid[g].id, amends_version: (g) => s.valid[g].version, operation: 'modify' },
      'POST /api/v1/guichets/{guichet}/submissions/{id}/transitions': {
        id: s.toDecide.id, action: 'request_changes', comment: 'À revoir.', reason: 'doublon', remarks: { libelle: 'À préciser' },
      },
      'POST /api/v1/guichets/{guichet}/submissions/{id}/assignment': { ...subId, user_id: s.admin2.id },
      'GET /api/v1/guichets/{guichet}/submissions/{id}/versions': subId,
      'GET /api/v1/guichets/{guichet}/submissions/{id}/diff': { id: s.drafts.erp.id, from: 1, to: 2 },
      'GET /api/v1/guichets/{guichet}/submissions/{id}/events': subId,
      'GET /api/v1/guichets/{guichet}/submissions/{id}/comments': subId,
      'POST /api/v1/guichets/{guichet}/submissions/{id}/comments': subId,
      'POST /api/v1/guichets/{guichet}/decisions': { action: 'validate', ids: [s.inBulk.id] },
      'POST /api/v1/exports': { guichet: 'erp', format: 'geojson', mode: 'full', communes: ['31555'], departements: ['31'] },
      'POST /api/v1/exports/preview': { guichet: 'erp', format: 'geojson', mode: 'full', communes: ['31555'], departements: ['31'] },
      'GET /api/v1/exports/{id}': { id: s.batch.id },
      'GET /api/v1/exports/{id}/files/{name}': { id: s.batch.id, name: s.batch.files[0].name },
      'POST /api/v1/imports': { guichet: 'erp', filename: 'cible.csv', format: 'csv' },
      'GET /api/v1/imports/{id}': { id: s.imp.id },
      'PATCH /api/v1/imports/{id}': {
        id: s.imp.id, mapping: { libelle: 'libelle', categorie: 'categorie', type_principal: 'type_principal' },
        geometry: { kind: 'lonlat', lon: 'lon', lat: 'lat' }, value_map: { categorie: { 5: '5' } }, validate: false,
      },
      'POST /api/v1/imports/{id}/check': { id: s.imp.id },
      'POST /api/v1/imports/{id}/commit': { id: s.imp.id },
      'POST /api/v1/imports/{id}/cancel': { id: s.imp.id },
      'GET /api/v1/imports/{id}/rows': { id: s.imp.id, status: 'valid' },
      'GET /api/v1/imports/{id}/report.csv': { id: s.imp.id },
      'POST /api/v1/notifications/read': { ids: [s.notification], all: false },
      'GET /api/v1/queue': { guichet: 'erp', state: 'submitted' },
    },
    // The CSP reports the browser posts: their members reach the log only.
    extraBodies: {
      'POST /csp-report': { 'csp-report': { 'document-uri': 'http://127.0.0.1/saisie.html', 'violated-directive': 'script-src', 'blocked-uri': 'inline' } },
    },
    bodyTypes: { 'POST /csp-report': 'application/csp-report' },
    rawBodies: {
      'POST /api/v1/imports': `libelle;categorie;type_principal;lon;lat\nImporté;5;L;${point.coordinates.join(';')}\n`,
    },
    idempotencyKey: `scan-${Date.now()}`,
    expect: {
      'POST /api/v1/account/password': 'a wrong current password, so that the scan keeps its own',
      'POST /api/v1/guichets/{guichet}/submissions/{id}/transitions [idem]': 'the request before it took the transition',
    },
    skip: { 'DELETE /api/v1/session': 'logout: would end the scan\'s session' },
    apart: { 'PATCH /api/v1/guichets/{guichet}/submissions/{id}': ['version'] },
    headerRoutes: {
      cookie: 'GET /api/v1/session',
      csrf: 'POST /api/v1/notifications/read',
      bearer: 'GET /api/v1/dashboard',
    },
  };
}

/** sqlmap's arguments for the request.txt of folder dir. */
function sqlmapArgs(dir, level, risk) {
  return ['-r', path.join(dir, 'request.txt'), '--batch', '--dbms=PostgreSQL', `--level=${level}`, `--risk=${risk}`,
    `--threads=${THREADS}`, '--flush-session', `--output-dir=${path.join(dir, 'session')}`, '--drop-set-cookie',
    '--tamper=xforwardedfor', '--skip-waf', '--ignore-code=401,404', '--ignore-stdin',
    // The session cookie has a request of its own: not every route's.
    '--skip=guichet_session', '--disable-coloring', '--timeout=30', '--retries=1',
    // Follow no redirection, keep testing the other points after a find.
    '--answers=follow=N,keep testing=Y,process it=Y'];
}

/**
 * Runs wapiti on base (folder scope) with report and session in dir; opts:
 * modules, starts (more start URLs), headers, exclude, seconds. Resolves
 * {status, ms, report, urls}.
 */
async function wapiti(base, dir, { modules, starts = [], headers = [], exclude = [], seconds }) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const args = ['-u', base, '--scope', 'folder', '--flush-session', '--no-bugreport',
    '--store-session', path.join(dir, 'session'), '--store-config', path.join(dir, 'config'), '-m', modules,
    '-d', '6', '--max-scan-time', String(seconds), '-t', '30', '-f', 'json', '-o', path.join(dir, 'report.json'), '-v', '1'];
  for (const h of headers) args.push('-H', h);
  for (const x of exclude) args.push('-x', x);
  for (const u of starts) args.push('-s', u);
  // wapiti.py: Debian's wapiti with its -x mended (see there), run by the
  // Python it is installed for (another python3 may come first on PATH).
  const r = await run('/usr/bin/python3', [path.join(ROOT, 'tests', 'security', 'wapiti.py'), ...args],
    path.join(dir, 'out.log'), { env: { ...process.env, HOME: dir } });
  const text = fs.readFileSync(path.join(dir, 'out.log'), 'utf8');
  const report = fs.existsSync(path.join(dir, 'report.json')) ? JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')) : {};
  return { ...r, report, urls: Number(/Wapiti found (\d+) URLs and forms/.exec(text)?.[1] ?? 0) };
}

/**
 * Scans the canary (canary.mjs) as guichet is scanned: {sqlmap, wapiti},
 * each true when the tool found the planted flaw.
 */
async function canary() {
  const c = await startCanary();
  const dir = path.join(OUT, 'canary');
  try {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(path.join(dir, 'sqlmap'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'sqlmap', 'request.txt'), c.request);
    await run('sqlmap', sqlmapArgs(path.join(dir, 'sqlmap'), 1, 1), path.join(dir, 'sqlmap', 'out.log'));
    const sq = sqlmapOutcome(fs.readFileSync(path.join(dir, 'sqlmap', 'out.log'), 'utf8'), [{ place: 'BODY', name: 'body name' }]);
    const wp = await wapiti(`${c.base}/`, path.join(dir, 'wapiti'), { modules: 'xss', seconds: 120 });
    const by = wapitiFindings(wp.report).bySeverity;
    const found = { sqlmap: sq.injectable.includes('body name'), wapiti: by.critical + by.high + by.medium > 0 };
    log(`canary: sqlmap ${found.sqlmap ? 'found' : 'MISSED'} its injection, wapiti ${found.wapiti ? 'found' : 'MISSED'} its XSS`);
    return found;
  } finally {
    await c.close();
  }
}

async function runSqlmap(srv, requests) {
  const dir = path.join(OUT, 'sqlmap');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const host = `127.0.0.1:${srv.port}`;
  const results = [];
  let i = 0;
  for (const req of requests) {
    i++;
    const slug = `${String(i).padStart(3, '0')}-${req.name.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '')}`;
    const rdir = path.join(dir, slug);
    fs.mkdirSync(rdir);
    fs.writeFileSync(path.join(rdir, 'request.txt'), rawRequest(req, host));
    const before = accessStats(srv.stderr()).requests;
    const args = sqlmapArgs(rdir, LEVEL, RISK);
    if (req.only) args.push('-p', req.only);
    const r = await run('sqlmap', args, path.join(rdir, 'out.log'));
    const outcome = sqlmapOutcome(fs.readFileSync(path.join(rdir, 'out.log'), 'utf8'), req.points);
    // What sqlmap tested beyond our points (the URI of a route without any).
    outcome.extra = outcome.tested.filter((n) => !req.points.some((p) => p.name === n));
    outcome.tested = outcome.tested.filter((n) => req.points.some((p) => p.name === n));
    // The status of sqlmap's first request, the one without payload (a
    // request made before may be logged after `before` was counted).
    const access = accessStats(srv.stderr(), before, `${req.method} ${req.target.split('?')[0].replaceAll('*', '')}`);
    const sent = access.requests;
    const base = access.first ?? '-';
    results.push({ name: req.name, route: req.route, dir: slug, base, expect: req.expect, status: r.status, ms: r.ms, sent, ...outcome });
    log(`sqlmap ${i}/${requests.length} ${req.name}: base ${base}, ${outcome.tested.length}/${req.points.length} points tested,`
      + ` ${outcome.injectable.length} injectable, ${sent} requests, ${(r.ms / 1000).toFixed(0)} s`);
  }
  return results;
}

async function runWapiti(srv, s) {
  const pages = fs.readdirSync(path.join(ROOT, 'static')).filter((f) => f.endsWith('.html'));
  const before = accessStats(srv.stderr()).requests;
  const r = await wapiti(`${srv.base}/`, path.join(OUT, 'wapiti'), {
    // The default modules but ssrf (it needs wapiti's endpoint on the
    // Internet), and those that need no download nor word list; not csrf,
    // which expects a token in each form where this UI sends a header.
    modules: 'common,-ssrf,crlf,methods,backup,htaccess,shellshock',
    headers: [`Cookie: ${s.admin.cookie}`, `X-CSRF-Token: ${s.admin.csrf}`],
    // Logout (DELETE, which wapiti does not send) and login stay out of reach.
    exclude: [`${srv.base}/api/v1/session*`],
    starts: [...pages.map((p) => `${srv.base}/${p}`),
      ...['/api/v1/openapi.json', '/ogc?f=html', '/ogc/collections?f=html', '/widget?theme=erp&territory=31'].map((p) => srv.base + p)],
    seconds: WAPITI_SECONDS,
  });
  const sent = accessStats(srv.stderr()).requests - before;
  // The session must have lasted the whole crawl: otherwise wapiti saw the login page only.
  const still = await s.admin.req('GET', '/api/v1/session');
  log(`wapiti: exit ${r.status}, ${sent} requests, ${(r.ms / 1000).toFixed(0)} s, session still valid: ${still.status === 200}`);
  return { status: r.status, ms: r.ms, sent, findings: wapitiFindings(r.report), sessionKept: still.status === 200, urls: r.urls };
}

function summary(sq, wp, skipped, totalMs, access, found) {
  const lines = [];
  lines.push(`make security: ${(totalMs / 60000).toFixed(1)} min, ${access.requests} HTTP requests to the server `
    + `(${Object.entries(access.byClass).map(([k, v]) => `${k}: ${v}`).join(', ')})`);
  let fail = false;
  // The canary's flaws must be found, or a clean result means nothing.
  lines.push(`canary: ${Object.entries(found).map(([tool, ok]) => `${tool} ${ok ? 'found' : 'MISSED'} its planted flaw`).join(', ')}`);
  if (Object.values(found).includes(false)) fail = true;
  if (sq) {
    const points = sq.reduce((a, r) => a + r.points, 0);
    const tested = sq.reduce((a, r) => a + r.tested.length, 0);
    const inj = sq.flatMap((r) => r.injectable.map((p) => `${r.name}: ${p}`));
    const routes = new Set(sq.map((r) => r.route)).size;
    const errors = sq.filter((r) => r.status !== 0 || r.tested.length < r.points);
    lines.push(`sqlmap (level ${LEVEL}, risk ${RISK}, ${THREADS} threads): ${sq.length} requests over ${routes} routes, `
      + `${points} injection points, ${tested} tested (and ${sq.reduce((a, r) => a + r.extra.length, 0)} more that sqlmap added), ${inj.length} injectable `
      + `(${sq.reduce((a, r) => a + r.rejected, 0)} candidates refuted by sqlmap's false-positive check); `
      + `${sq.reduce((a, r) => a + r.sent, 0)} requests sent, ${(sq.reduce((a, r) => a + r.ms, 0) / 60000).toFixed(1)} min`);
    for (const p of inj) lines.push(`  INJECTABLE ${p}`);
    for (const r of errors) lines.push(`  incomplete: ${r.name} (exit ${r.status}, ${r.tested.length}/${r.points} tested; see sqlmap/${r.dir}/out.log)`);
    // A request that the server refuses without payload tests less of it.
    for (const r of sq.filter((x) => Number(x.base) >= 400)) {
      lines.push(`  without payload ${r.base}: ${r.name}${r.expect ? ` (expected: ${r.expect})` : ''}`);
    }
    for (const k of skipped) lines.push(`  not scanned: ${k.route} (${k.why})`);
    if (inj.length || errors.length) fail = true;
  }
  if (wp) {
    const by = wp.findings.bySeverity;
    lines.push(`wapiti: ${wp.urls} URLs and forms crawled, ${wp.sent} requests, ${(wp.ms / 60000).toFixed(1)} min, findings by severity: `
      + `critical ${by.critical}, high ${by.high}, medium ${by.medium}, low ${by.low}, info ${by.info}`);
    for (const f of wp.findings.list) lines.push(`  ${f.severity.toUpperCase()} ${f.kind} ${f.category}: ${f.method} ${f.path} ${f.parameter ?? ''} ${f.info}`.trimEnd());
    if (by.critical + by.high + by.medium > 0 || wp.status !== 0 || !wp.sessionKept) fail = true;
    if (wp.status !== 0) lines.push(`  wapiti exited ${wp.status} (see wapiti/out.log)`);
    if (!wp.sessionKept) lines.push('  the session ended during the crawl: the UI behind the login was not scanned');
  }
  if (access.errors.length) {
    lines.push(`server errors (5xx) during the scans: ${access.errors.length}`);
    for (const e of access.errors.slice(0, 20)) lines.push(`  ${e}`);
  }
  lines.push(fail ? 'RESULT: FAIL' : 'RESULT: PASS');
  return { text: `${lines.join('\n')}\n`, fail };
}

async function main() {
  assert.ok(REFDATA.length > 0, 'TEST_REFDATA must name the reference data (make sets it)');
  fs.mkdirSync(OUT, { recursive: true });
  const t0 = Date.now();
  const importDir = makeTemp('guichet-security-imports-');
  const exportDir = makeTemp('guichet-security-exports-');
  let srv;
  try {
    // Login throttling counts by address: behind 127.0.0.1 as a "proxy",
    // sqlmap's payload requests (tamper xforwardedfor) come from
    // addresses of their own and are all checked, not refused.
    srv = await startServer({
      refdata: true,
      env: { ...FAST_ARGON2, GUICHET_IMPORT_DIR: importDir, GUICHET_EXPORT_DIR: exportDir, GUICHET_TRUSTED_PROXIES: '127.0.0.1',
        GUICHET_MAIL_LOG: 'yes' },
    });
    log(`server on ${srv.base}, database ${srv.db}`);
    const pw = demoAccounts(srv.db);
    const s = await seed(srv, pw);
    const routes = JSON.parse(runGuichet(['routes']).stdout);
    const openapi = await (await fetch(`${srv.base}/api/v1/openapi.json`)).json();
    let { requests, skipped } = buildRequests(routes, context(srv, s, routes, openapi));
    if (MATCH) requests = requests.filter((r) => MATCH.test(r.name));
    fs.writeFileSync(path.join(OUT, 'requests.json'), JSON.stringify(requests, null, 1));
    log(`${routes.length} routes, ${requests.length} requests, ${requests.reduce((a, r) => a + r.points.length, 0)} injection points`);
    const found = await canary();
    if (ONLY) delete found[ONLY === 'sqlmap' ? 'wapiti' : 'sqlmap'];
    const sq = ONLY === 'wapiti' ? null : await runSqlmap(srv, requests);
    const wp = ONLY === 'sqlmap' ? null : await runWapiti(srv, s);
    const access = accessStats(srv.stderr());
    const sum = summary(sq && sq.map((r) => ({ ...r, points: requests.find((q) => q.name === r.name).points.length })),
      wp, skipped, Date.now() - t0, access, found);
    fs.writeFileSync(path.join(OUT, 'summary.txt'), sum.text);
    fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify({ canary: found, sqlmap: sq, wapiti: wp, skipped, access }, null, 1));
    fs.writeFileSync(path.join(OUT, 'server.log'), srv.stderr());
    process.stdout.write(`\n${sum.text}(reports in ${OUT})\n`);
    process.exitCode = sum.fail ? 1 : 0;
  } catch (e) {
    console.error(e);
    process.exitCode = 2;
  } finally {
    try { await srv?.stop(); } catch (e) { console.error(e.message.split('\n')[0]); }
    rmTemp(importDir);
    rmTemp(exportDir);
  }
}

await main();
