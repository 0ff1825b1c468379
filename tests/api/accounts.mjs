// Helpers for the account suites: a small HTTP client that keeps one
// session (cookie + CSRF token) like a browser tab, and a fixture of
// organisations and users made with the CLI in a test database.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { BIN, ROOT, SLOW, guichetEnv, assertNoSanitizerReport } from './harness.mjs';

// Cheap Argon2 limits for tests (the rehash test changes them on purpose).
export const FAST_ARGON2 = { GUICHET_ARGON2_OPSLIMIT: 1, GUICHET_ARGON2_MEMLIMIT_KIB: 8192 };

export class Client {
  constructor(base) {
    this.base = base;
    this.cookie = null;
    this.csrf = null;
    this.seen = [];	// every response body, to search for leaked secrets
  }

  async req(method, path, body, { csrf = true, headers = {} } = {}) {
    const h = { Accept: 'application/json' };
    // A Buffer is a file (an import): sent as it is.
    const file = body instanceof Uint8Array;
    if (body !== undefined) h['Content-Type'] = file ? 'application/octet-stream' : 'application/json';
    Object.assign(h, headers);
    if (this.cookie) h.Cookie = this.cookie;
    if (csrf && this.csrf && !['GET', 'HEAD'].includes(method)) h['X-CSRF-Token'] = this.csrf;
    const res = await fetch(this.base + path, {
      method, headers: h, body: body === undefined ? undefined : file ? body : JSON.stringify(body),
    });
    const text = await res.text();
    this.seen.push(text, JSON.stringify([...res.headers]));
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) {
      const v = /guichet_session=([^;]*)/.exec(setCookie)?.[1];
      this.cookie = v ? `guichet_session=${v}` : null;
    }
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, json, text, setCookie };
  }

  async login(email, password) {
    const r = await this.req('POST', '/api/v1/session', { email, password });
    assert.equal(r.status, 200, `login ${email}: ${r.text}`);
    this.csrf = r.json.csrf_token;
    return r;
  }
}

export class TokenClient extends Client {
  constructor(base, token) {
    super(base);
    this.token = token;
  }

  req(method, path, body, opts = {}) {
    return super.req(method, path, body, { ...opts, headers: { Authorization: `Bearer ${this.token}`, ...(opts.headers ?? {}) } });
  }
}

export function password() {
  return `Pw-${randomBytes(12).toString('base64url')}`;
}

function cli(args, env, input) {
  const r = spawnSync(BIN, args, { cwd: ROOT, env: guichetEnv(env), input, encoding: 'utf8', timeout: 60_000 * SLOW });
  assertNoSanitizerReport(r.stderr ?? '', `guichet ${args.join(' ')}`);
  assert.equal(r.status, 0, `guichet ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export function addOrg(db, { name, kind, departements, communes, siren }) {
  const args = ['org', 'add', '--name', name, '--kind', kind];
  if (departements) args.push('--departements', departements);
  if (communes) args.push('--communes', communes);
  if (siren) args.push('--siren', siren);
  const out = cli(args, { PGDATABASE: db });
  return Number(/organisation (\d+)/.exec(out)[1]);
}

export function addUser(db, { email, name = email, org, role, pw = password(), service = false, departements, communes }) {
  const args = ['user', 'add', '--email', email, '--name', name, '--org', String(org), '--role', role];
  if (service) args.push('--service');
  if (departements) args.push('--departements', departements);
  if (communes) args.push('--communes', communes);
  const out = cli(args, { PGDATABASE: db, ...FAST_ARGON2 }, service ? '' : `${pw}\n`);
  return { id: Number(/user (\d+)/.exec(out)[1]), email, password: pw, org, role };
}

// Two communes' organisations (inside: Toulouse, outside: Montpellier) with
// one account of each role in the first, an org admin in the second, and a
// platform admin.
export function fixture(db) {
  const home = addOrg(db, { name: 'Commune de Toulouse', kind: 'commune', communes: '31555' });
  const away = addOrg(db, { name: 'Commune de Montpellier', kind: 'commune', communes: '34172' });
  const platform = addOrg(db, { name: 'OPenIG', kind: 'openig', departements: '31,34' });
  const u = {
    contributor: addUser(db, { email: 'agent@toulouse.test', org: home, role: 'contributor' }),
    reviewer: addUser(db, { email: 'relecteur@toulouse.test', org: home, role: 'reviewer' }),
    org_admin: addUser(db, { email: 'admin@toulouse.test', org: home, role: 'org_admin' }),
    away_admin: addUser(db, { email: 'admin@montpellier.test', org: away, role: 'org_admin' }),
    admin: addUser(db, { email: 'admin@openig.test', org: platform, role: 'admin' }),
  };
  return { home, away, platform, users: u };
}
