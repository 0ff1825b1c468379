// Accounts: login and sessions, CSRF, throttling, expiry, password change,
// API tokens and their scopes, invitations, password reset, delegation to
// organisation admins, account events, and no password ever leaked.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, psql } from './harness.mjs';
import { Client, TokenClient, FAST_ARGON2, addUser, fixture, password } from './accounts.mjs';

let srv;
let fx;
const clients = [];
function client() {
  const c = new Client(srv.base);
  clients.push(c);
  return c;
}
function sql(q) {
  return psql(srv.db, q);
}
// The link a mail in the outbox carries for to.
function mailedToken(to, page) {
  const body = sql(`SELECT body FROM outbox WHERE to_addr = '${to}' ORDER BY id DESC LIMIT 1`);
  const m = new RegExp(`/${page}\\.html#jeton=([A-Za-z0-9_-]+)`).exec(body);
  assert.ok(m, `no ${page} link in the mail to ${to}: ${body}`);
  return m[1];
}

before(async () => {
  srv = await startServer({ env: { ...FAST_ARGON2, GUICHET_MAIL_LOG: 'yes' } });
  fx = fixture(srv.db);
});

after(async () => {
  const { stderr } = await srv.stop();
  // Last check: no password used anywhere in this file reached a log or a response.
  const passwords = [...Object.values(fx.users).map((u) => u.password), ...usedPasswords];
  const everything = stderr + clients.map((c) => c.seen.join('\n')).join('\n');
  for (const p of passwords) assert.ok(!everything.includes(p), `a password appears in the logs or a response`);
});
const usedPasswords = [];

describe('login and session', () => {
  test('login answers the identity and a CSRF token, and sets a HttpOnly SameSite=Lax cookie', async () => {
    const c = client();
    const r = await c.login(fx.users.contributor.email, fx.users.contributor.password);
    assert.equal(r.json.user.email, fx.users.contributor.email);
    assert.equal(r.json.user.role, 'contributor');
    assert.deepEqual(r.json.user.territory.communes, ['31555']);
    assert.match(r.json.csrf_token, /^[A-Za-z0-9_-]{43}$/);
    assert.match(r.setCookie, /^guichet_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
    assert.doesNotMatch(r.setCookie, /Secure/);
    assert.equal(r.json.password_hash, undefined);
  });

  test('the e-mail address is case-insensitive', async () => {
    await client().login(fx.users.contributor.email.toUpperCase(), fx.users.contributor.password);
  });

  test('GET /api/v1/session: 401 without a cookie, the identity with one', async () => {
    const c = client();
    assert.equal((await c.req('GET', '/api/v1/session')).status, 401);
    await c.login(fx.users.reviewer.email, fx.users.reviewer.password);
    const r = await c.req('GET', '/api/v1/session');
    assert.equal(r.status, 200);
    assert.equal(r.json.user.role, 'reviewer');
    assert.equal(r.json.via, 'session');
    assert.equal(r.json.csrf_token, c.csrf);
  });

  test('only a hash of the session token is stored', async () => {
    const c = client();
    await c.login(fx.users.reviewer.email, fx.users.reviewer.password);
    const token = c.cookie.split('=')[1];
    assert.equal(sql(`SELECT count(*) FROM sessions WHERE token_hash = '${token}'`), '0');
    assert.equal(sql(`SELECT count(*) FROM sessions WHERE token_hash = encode(sha256('${token}'), 'hex')`), '1');
  });

  test('every login gets a new token', async () => {
    const a = client();
    const b = client();
    await a.login(fx.users.reviewer.email, fx.users.reviewer.password);
    await b.login(fx.users.reviewer.email, fx.users.reviewer.password);
    assert.notEqual(a.cookie, b.cookie);
    assert.notEqual(a.csrf, b.csrf);
  });

  test('a wrong password and an unknown address get the same answer', async () => {
    const c = client();
    const wrong = await c.req('POST', '/api/v1/session', { email: fx.users.reviewer.email, password: 'not the right one' });
    const unknown = await c.req('POST', '/api/v1/session', { email: 'nobody@nowhere.test', password: 'not the right one' });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(wrong.text, unknown.text);
    assert.equal(wrong.json.error.code, 'invalid_credentials');
    assert.equal(wrong.setCookie, null);
  });

  test('bad bodies name their field', async () => {
    const c = client();
    let r = await c.req('POST', '/api/v1/session', { password: 'x' });
    assert.equal(r.status, 400);
    assert.deepEqual([r.json.error.code, r.json.error.field], ['param_missing', 'email']);
    r = await c.req('POST', '/api/v1/session', { email: 'pas-une-adresse', password: 'x' });
    assert.deepEqual([r.status, r.json.error.field], [400, 'email']);
    r = await c.req('POST', '/api/v1/session', { email: 'a@b.test', password: 42 });
    assert.deepEqual([r.status, r.json.error.field], [400, 'password']);
    r = await c.req('POST', '/api/v1/session', ['not', 'an', 'object']);
    assert.deepEqual([r.status, r.json.error.code], [400, 'invalid_json']);
  });

  test('logout revokes the session and clears the cookie', async () => {
    const c = client();
    await c.login(fx.users.reviewer.email, fx.users.reviewer.password);
    const saved = c.cookie;
    const r = await c.req('DELETE', '/api/v1/session');
    assert.equal(r.status, 204);
    assert.match(r.setCookie, /guichet_session=; .*Max-Age=0/);
    c.cookie = saved;
    assert.equal((await c.req('GET', '/api/v1/session')).status, 401);
  });

  test('an idle session expires', async () => {
    const c = client();
    await c.login(fx.users.reviewer.email, fx.users.reviewer.password);
    const token = c.cookie.split('=')[1];
    sql(`UPDATE sessions SET last_seen_at = now() - interval '121 minutes' WHERE token_hash = encode(sha256('${token}'), 'hex')`);
    assert.equal((await c.req('GET', '/api/v1/session')).status, 401);
  });

  test('a session expires at its absolute limit even when used', async () => {
    const c = client();
    await c.login(fx.users.reviewer.email, fx.users.reviewer.password);
    const token = c.cookie.split('=')[1];
    sql(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = encode(sha256('${token}'), 'hex')`);
    assert.equal((await c.req('GET', '/api/v1/session')).status, 401);
  });

  test('a disabled organisation cannot log in', async () => {
    const u = addUser(srv.db, { email: 'agent@ferme.test', org: fx.away, role: 'contributor' });
    sql(`UPDATE organisations SET active = false WHERE id = ${fx.away}`);
    try {
      const r = await client().req('POST', '/api/v1/session', { email: u.email, password: u.password });
      assert.equal(r.status, 401);
    } finally {
      sql(`UPDATE organisations SET active = true WHERE id = ${fx.away}`);
    }
  });
});

describe('CSRF', () => {
  let c;
  before(async () => {
    c = client();
    await c.login(fx.users.org_admin.email, fx.users.org_admin.password);
  });

  test('a state-changing request with the cookie and no CSRF header is refused', async () => {
    const r = await c.req('POST', '/api/v1/account/tokens', { name: 'x', scopes: ['read'] }, { csrf: false });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'csrf_failed');
  });

  test('a wrong CSRF header is refused', async () => {
    const r = await c.req('POST', '/api/v1/account/tokens', { name: 'x', scopes: ['read'] },
      { csrf: false, headers: { 'X-CSRF-Token': 'A'.repeat(43) } });
    assert.equal(r.status, 403);
  });

  test('another session’s CSRF token is refused', async () => {
    const other = client();
    await other.login(fx.users.reviewer.email, fx.users.reviewer.password);
    const r = await c.req('DELETE', '/api/v1/session', undefined, { csrf: false, headers: { 'X-CSRF-Token': other.csrf } });
    assert.equal(r.status, 403);
  });

  test('with the right header it passes; reads need none', async () => {
    assert.equal((await c.req('POST', '/api/v1/account/tokens', { name: 'csrf-ok', scopes: ['read'] })).status, 201);
    assert.equal((await c.req('GET', '/api/v1/account/tokens', undefined, { csrf: false })).status, 200);
  });
});

describe('throttling', () => {
  test('after 5 failures an account waits, with 429 and Retry-After, even with the right password', async () => {
    const u = addUser(srv.db, { email: 'cible@toulouse.test', org: fx.home, role: 'contributor' });
    const c = client();
    for (let i = 0; i < 5; i++) {
      const r = await c.req('POST', '/api/v1/session', { email: u.email, password: `wrong-${i}-password` });
      assert.equal(r.status, 401);
    }
    const r = await c.req('POST', '/api/v1/session', { email: u.email, password: u.password });
    assert.equal(r.status, 429);
    assert.equal(r.json.error.code, 'too_many_attempts');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    usedPasswords.push(u.password);
  });

  test('delays grow with further failures', async () => {
    const email = 'cible@toulouse.test';
    const before1 = Number(sql(`SELECT extract(epoch FROM blocked_until - last_failure_at) FROM login_throttle WHERE key = 'account:${email}'`));
    sql(`UPDATE login_throttle SET blocked_until = now() - interval '1 second' WHERE key = 'account:${email}'`);
    const r = await client().req('POST', '/api/v1/session', { email, password: 'still-wrong-password' });
    assert.equal(r.status, 401);
    const after1 = Number(sql(`SELECT extract(epoch FROM blocked_until - last_failure_at) FROM login_throttle WHERE key = 'account:${email}'`));
    assert.ok(after1 > before1, `${after1} > ${before1}`);
  });

  test('one address trying many accounts is slowed down too', async () => {
    const c = client();
    let last;
    for (let i = 0; i < 21; i++) {
      last = await c.req('POST', '/api/v1/session', { email: `inconnu${i}@ailleurs.test`, password: 'wrong-password-x' });
      if (last.status === 429) break;
    }
    assert.equal(last.status, 429);
    assert.ok(Number(last.headers.get('retry-after')) >= 1);
    sql("DELETE FROM login_throttle WHERE key LIKE 'address:%'");
  });
});

describe('password change', () => {
  let u;
  let c;
  let other;
  before(async () => {
    u = addUser(srv.db, { email: 'change@toulouse.test', org: fx.home, role: 'contributor' });
    c = client();
    other = client();
    await c.login(u.email, u.password);
    await other.login(u.email, u.password);
  });

  test('a wrong current password names its field', async () => {
    const r = await c.req('POST', '/api/v1/account/password', { current_password: 'wrong-password-1', new_password: password() });
    assert.deepEqual([r.status, r.json.error.code, r.json.error.field], [400, 'wrong_password', 'current_password']);
  });

  test('a short password, or the e-mail address, is refused', async () => {
    let r = await c.req('POST', '/api/v1/account/password', { current_password: u.password, new_password: 'court' });
    assert.deepEqual([r.status, r.json.error.code, r.json.error.field], [400, 'weak_password', 'new_password']);
    r = await c.req('POST', '/api/v1/account/password', { current_password: u.password, new_password: u.email.toUpperCase() });
    assert.deepEqual([r.status, r.json.error.code], [400, 'weak_password']);
  });

  test('a change revokes the other sessions, keeps this one, and the old password stops working', async () => {
    const pw = password();
    usedPasswords.push(pw, u.password);
    const r = await c.req('POST', '/api/v1/account/password', { current_password: u.password, new_password: pw });
    assert.equal(r.status, 200);
    assert.equal((await c.req('GET', '/api/v1/session')).status, 200);
    assert.equal((await other.req('GET', '/api/v1/session')).status, 401);
    assert.equal((await client().req('POST', '/api/v1/session', { email: u.email, password: u.password })).status, 401);
    await client().login(u.email, pw);
  });
});

describe('API tokens', () => {
  let c;
  let token;
  before(async () => {
    c = client();
    await c.login(fx.users.org_admin.email, fx.users.org_admin.password);
  });

  test('a token is shown once, stored as a hash, and listed without its value', async () => {
    const r = await c.req('POST', '/api/v1/account/tokens', { name: 'SIG de la ville', scopes: ['read', 'admin'], expires_days: 30 });
    assert.equal(r.status, 201);
    token = r.json.token;
    assert.match(token, /^gch_[A-Za-z0-9_-]{43}$/);
    const list = await c.req('GET', '/api/v1/account/tokens');
    assert.ok(list.json.tokens.some((t) => t.name === 'SIG de la ville' && t.prefix === token.slice(0, 8)));
    assert.ok(!list.text.includes(token));
    assert.equal(sql(`SELECT count(*) FROM api_tokens WHERE token_hash = encode(sha256('${token}'), 'hex')`), '1');
  });

  test('Bearer authenticates, is CSRF-exempt and records its last use', async () => {
    const t = new TokenClient(srv.base, token);
    const r = await t.req('GET', '/api/v1/session');
    assert.equal(r.status, 200);
    assert.equal(r.json.via, 'token');
    assert.deepEqual(r.json.scopes, ['read', 'admin']);
    assert.equal(r.json.csrf_token, undefined);
    assert.notEqual(sql(`SELECT last_used_at IS NOT NULL FROM api_tokens WHERE token_hash = encode(sha256('${token}'), 'hex')`), 'f');
    const inv = await t.req('POST', `/api/v1/organisations/${fx.home}/invitations`,
      { email: 'par-jeton@toulouse.test', display_name: 'Par jeton', role: 'contributor' });
    assert.equal(inv.status, 201);
  });

  test('a token cannot manage the account', async () => {
    const t = new TokenClient(srv.base, token);
    const r = await t.req('POST', '/api/v1/account/tokens', { name: 'x', scopes: ['read'] });
    assert.deepEqual([r.status, r.json.error.code], [403, 'token_not_allowed']);
  });

  test('scopes limit a token', async () => {
    const r = await c.req('POST', '/api/v1/account/tokens', { name: 'lecture', scopes: ['read'] });
    const t = new TokenClient(srv.base, r.json.token);
    const m = await t.req('GET', `/api/v1/organisations/${fx.home}/members`);
    assert.deepEqual([m.status, m.json.error.code], [403, 'scope_missing']);
  });

  test('a role cannot give scopes above itself', async () => {
    const a = client();
    await a.login(fx.users.contributor.email, fx.users.contributor.password);
    const r = await a.req('POST', '/api/v1/account/tokens', { name: 'x', scopes: ['review'] });
    assert.deepEqual([r.status, r.json.error.code, r.json.error.field], [400, 'scope_not_allowed', 'scopes']);
    const bad = await a.req('POST', '/api/v1/account/tokens', { name: 'x', scopes: ['root'] });
    assert.deepEqual([bad.status, bad.json.error.field], [400, 'scopes']);
  });

  test('a revoked, expired or unknown token gets 401', async () => {
    const r = await c.req('POST', '/api/v1/account/tokens', { name: 'éphémère', scopes: ['read'] });
    const t = new TokenClient(srv.base, r.json.token);
    assert.equal((await t.req('GET', '/api/v1/session')).status, 200);
    assert.equal((await c.req('DELETE', `/api/v1/account/tokens/${r.json.id}`)).status, 204);
    const after = await t.req('GET', '/api/v1/session');
    assert.deepEqual([after.status, after.json.error.code], [401, 'invalid_token']);
    assert.equal((await c.req('DELETE', `/api/v1/account/tokens/${r.json.id}`)).status, 404);
    sql(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = encode(sha256('${token}'), 'hex')`);
    assert.equal((await new TokenClient(srv.base, token).req('GET', '/api/v1/session')).status, 401);
    assert.equal((await new TokenClient(srv.base, 'gch_nope').req('GET', '/healthz')).status, 401);
    const basic = await client().req('GET', '/api/v1/session', undefined, { headers: { Authorization: 'Basic eDp5' } });
    assert.equal(basic.status, 401);
  });

  test('one cannot revoke another user’s token', async () => {
    const other = client();
    await other.login(fx.users.reviewer.email, fx.users.reviewer.password);
    const r = await other.req('POST', '/api/v1/account/tokens', { name: 'à moi', scopes: ['read'] });
    assert.equal((await c.req('DELETE', `/api/v1/account/tokens/${r.json.id}`)).status, 404);
    assert.equal((await new TokenClient(srv.base, r.json.token).req('GET', '/api/v1/session')).status, 200);
  });

  test('an admin gives tokens to service accounts only', async () => {
    const a = client();
    await a.login(fx.users.admin.email, fx.users.admin.password);
    const svc = await a.req('POST', `/api/v1/organisations/${fx.home}/service-accounts`,
      { email: 'sig@toulouse.test', display_name: 'SIG Toulouse', role: 'contributor' });
    assert.equal(svc.status, 201);
    assert.equal(svc.json.is_service, true);
    const t = await a.req('POST', `/api/v1/users/${svc.json.id}/tokens`, { name: 'flux', scopes: ['read', 'submit'] });
    assert.equal(t.status, 201);
    const who = await new TokenClient(srv.base, t.json.token).req('GET', '/api/v1/session');
    assert.equal(who.json.user.email, 'sig@toulouse.test');
    const person = await a.req('POST', `/api/v1/users/${fx.users.reviewer.id}/tokens`, { name: 'x', scopes: ['read'] });
    assert.deepEqual([person.status, person.json.error.code], [409, 'not_service_account']);
    const too = await a.req('POST', `/api/v1/users/${svc.json.id}/tokens`, { name: 'x', scopes: ['review'] });
    assert.equal(too.status, 400);
    const login = await client().req('POST', '/api/v1/session', { email: 'sig@toulouse.test', password: 'whatever-password' });
    assert.equal(login.status, 401);
  });
});

describe('invitations and delegation', () => {
  let admin;
  before(async () => {
    admin = client();
    await admin.login(fx.users.org_admin.email, fx.users.org_admin.password);
  });

  test('an org admin invites a member: a mail in the outbox, an invited account', async () => {
    const r = await admin.req('POST', `/api/v1/organisations/${fx.home}/invitations`,
      { email: 'nouvel.agent@toulouse.test', display_name: 'Nouvel agent', role: 'contributor' });
    assert.equal(r.status, 201);
    assert.equal(r.json.invited, true);
    assert.equal(r.json.organisation_id, fx.home);
    assert.match(srv.stderr(), /mail to <nouvel\.agent@toulouse\.test>: Invitation/);
  });

  test('the invitation shows who is invited, then sets the password and logs in, once', async () => {
    const token = mailedToken('nouvel.agent@toulouse.test', 'invitation');
    const c = client();
    const info = await c.req('POST', '/api/v1/invitations/inspect', { token });
    assert.deepEqual([info.status, info.json.organisation, info.json.role], [200, 'Commune de Toulouse', 'contributor']);
    const weak = await c.req('POST', '/api/v1/invitations/accept', { token, password: 'court' });
    assert.deepEqual([weak.status, weak.json.error.field], [400, 'password']);
    const pw = password();
    usedPasswords.push(pw);
    const ok = await c.req('POST', '/api/v1/invitations/accept', { token, password: pw });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.user.email, 'nouvel.agent@toulouse.test');
    c.csrf = ok.json.csrf_token;
    assert.equal((await c.req('GET', '/api/v1/session')).status, 200);
    const again = await client().req('POST', '/api/v1/invitations/accept', { token, password: password() });
    assert.deepEqual([again.status, again.json.error.code, again.json.error.field], [400, 'token_invalid', 'token']);
    await client().login('nouvel.agent@toulouse.test', pw);
  });

  test('an expired invitation is refused', async () => {
    await admin.req('POST', `/api/v1/organisations/${fx.home}/invitations`,
      { email: 'tard@toulouse.test', display_name: 'Trop tard', role: 'contributor' });
    const token = mailedToken('tard@toulouse.test', 'invitation');
    sql("UPDATE one_time_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'invitation'");
    const r = await client().req('POST', '/api/v1/invitations/accept', { token, password: password() });
    assert.deepEqual([r.status, r.json.error.code], [400, 'token_invalid']);
  });

  test('an address already taken is a conflict on its field', async () => {
    const r = await admin.req('POST', `/api/v1/organisations/${fx.home}/invitations`,
      { email: fx.users.reviewer.email.toUpperCase(), display_name: 'Doublon', role: 'contributor' });
    assert.deepEqual([r.status, r.json.error.code, r.json.error.field], [409, 'email_taken', 'email']);
  });

  test('an org admin cannot invite into another organisation', async () => {
    const r = await admin.req('POST', `/api/v1/organisations/${fx.away}/invitations`,
      { email: 'intrus@montpellier.test', display_name: 'Intrus', role: 'contributor' });
    assert.deepEqual([r.status, r.json.error.code], [403, 'other_organisation']);
  });

  test('an org admin cannot make admins', async () => {
    const r = await admin.req('POST', `/api/v1/organisations/${fx.home}/invitations`,
      { email: 'chef@toulouse.test', display_name: 'Chef', role: 'admin' });
    assert.deepEqual([r.status, r.json.error.code, r.json.error.field], [403, 'role_too_high', 'role']);
  });

  test('a member’s territory must lie inside the organisation’s', async () => {
    const r = await admin.req('POST', `/api/v1/organisations/${fx.home}/invitations`,
      { email: 'loin@toulouse.test', display_name: 'Loin', role: 'contributor', communes: ['34172'] });
    assert.deepEqual([r.status, r.json.error.code], [400, 'outside_territory']);
    const bad = await admin.req('POST', `/api/v1/organisations/${fx.home}/invitations`,
      { email: 'loin@toulouse.test', display_name: 'Loin', role: 'contributor', communes: ['3155'] });
    assert.deepEqual([bad.status, bad.json.error.field], [400, 'communes']);
  });

  test('an org admin changes a member’s role and territory, recorded as events', async () => {
    const m = addUser(srv.db, { email: 'promu@toulouse.test', org: fx.home, role: 'contributor' });
    let r = await admin.req('PATCH', `/api/v1/users/${m.id}`, { role: 'reviewer' });
    assert.deepEqual([r.status, r.json.role], [200, 'reviewer']);
    r = await admin.req('PATCH', `/api/v1/users/${m.id}`, { communes: ['31555'], departements: [] });
    assert.deepEqual(r.json.communes, ['31555']);
    r = await admin.req('PATCH', `/api/v1/users/${m.id}`, { communes: null, departements: null });
    assert.equal(r.json.communes, null);
    const kinds = sql(`SELECT string_agg(kind, ',' ORDER BY id) FROM account_events WHERE user_id = ${m.id} AND actor_id = ${fx.users.org_admin.id}`);
    assert.equal(kinds, 'role_changed,territory_changed,territory_changed');
  });

  test('disabling a member ends its sessions at once', async () => {
    const m = addUser(srv.db, { email: 'depart@toulouse.test', org: fx.home, role: 'contributor' });
    const c = client();
    await c.login(m.email, m.password);
    usedPasswords.push(m.password);
    assert.equal((await admin.req('PATCH', `/api/v1/users/${m.id}`, { active: false })).status, 200);
    assert.equal((await c.req('GET', '/api/v1/session')).status, 401);
    assert.equal((await client().req('POST', '/api/v1/session', { email: m.email, password: m.password })).status, 401);
  });

  test('an org admin cannot lock itself out, nor touch another organisation’s members', async () => {
    let r = await admin.req('PATCH', `/api/v1/users/${fx.users.org_admin.id}`, { role: 'contributor' });
    assert.deepEqual([r.status, r.json.error.code], [409, 'self_lockout']);
    r = await admin.req('PATCH', `/api/v1/users/${fx.users.away_admin.id}`, { display_name: 'Piraté' });
    assert.deepEqual([r.status, r.json.error.code], [403, 'other_organisation']);
    r = await admin.req('PATCH', `/api/v1/users/${fx.users.admin.id}`, { display_name: 'Piraté' });
    assert.equal(r.status, 403);
  });

  test('the organisation’s journal lists account events with actor and address', async () => {
    const r = await admin.req('GET', `/api/v1/organisations/${fx.home}/events`);
    assert.equal(r.status, 200);
    const kinds = new Set(r.json.events.map((e) => e.kind));
    for (const k of ['login', 'login_failed', 'logout', 'password_changed', 'user_invited', 'invitation_accepted',
      'role_changed', 'user_disabled', 'token_created', 'token_revoked']) {
      assert.ok(kinds.has(k), `no ${k} event`);
    }
    const login = r.json.events.find((e) => e.kind === 'login');
    assert.equal(login.client_addr, '127.0.0.1');
    assert.ok(login.actor);
  });
});

describe('password reset', () => {
  test('an unknown address gets the same 202 and no mail', async () => {
    const before1 = sql('SELECT count(*) FROM outbox');
    const r = await client().req('POST', '/api/v1/password-reset', { email: 'personne@nulle-part.test' });
    assert.equal(r.status, 202);
    assert.equal(sql('SELECT count(*) FROM outbox'), before1);
  });

  test('a known address gets a link that sets a new password once and ends the sessions', async () => {
    const u = addUser(srv.db, { email: 'oubli@toulouse.test', org: fx.home, role: 'contributor' });
    usedPasswords.push(u.password);
    const c = client();
    await c.login(u.email, u.password);
    const r = await client().req('POST', '/api/v1/password-reset', { email: u.email });
    assert.equal(r.status, 202);
    const token = mailedToken(u.email, 'mot-de-passe');
    const pw = password();
    usedPasswords.push(pw);
    assert.equal((await client().req('POST', '/api/v1/password-reset/confirm', { token, password: pw })).status, 200);
    assert.equal((await c.req('GET', '/api/v1/session')).status, 401);
    await client().login(u.email, pw);
    const again = await client().req('POST', '/api/v1/password-reset/confirm', { token, password: password() });
    assert.deepEqual([again.status, again.json.error.code], [400, 'token_invalid']);
  });
});

describe('organisations (platform admin)', () => {
  let a;
  before(async () => {
    a = client();
    await a.login(fx.users.admin.email, fx.users.admin.password);
  });

  test('creates an organisation with its territory and a valid SIREN', async () => {
    const r = await a.req('POST', '/api/v1/organisations',
      { name: 'SDIS 31', kind: 'sdis', departements: ['31'], siren: '283100014' });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json.departements, ['31']);
  });

  test('refuses a bad SIREN, a duplicate name, an unknown kind, a bad code', async () => {
    let r = await a.req('POST', '/api/v1/organisations', { name: 'X', kind: 'sdis', siren: '123456789' });
    assert.equal(r.status, 400);
    r = await a.req('POST', '/api/v1/organisations', { name: 'Mauvais SIREN', kind: 'sdis', siren: '283100015' });
    assert.deepEqual([r.status, r.json.error.code, r.json.error.field], [400, 'siren_invalid', 'siren']);
    r = await a.req('POST', '/api/v1/organisations', { name: 'sdis 31', kind: 'sdis' });
    assert.deepEqual([r.status, r.json.error.code, r.json.error.field], [409, 'name_taken', 'name']);
    r = await a.req('POST', '/api/v1/organisations', { name: 'Inconnue', kind: 'guilde' });
    assert.deepEqual([r.status, r.json.error.code, r.json.error.field], [400, 'kind_unknown', 'kind']);
    r = await a.req('POST', '/api/v1/organisations', { name: 'Corse', kind: 'sdis', departements: ['20'] });
    assert.deepEqual([r.status, r.json.error.field], [400, 'departements']);
  });

  test('updates and disables an organisation', async () => {
    const o = await a.req('POST', '/api/v1/organisations', { name: 'Association test', kind: 'association', communes: ['31555'] });
    let r = await a.req('PATCH', `/api/v1/organisations/${o.json.id}`, { name: 'Association renommée', active: false });
    assert.deepEqual([r.status, r.json.name, r.json.active], [200, 'Association renommée', false]);
    r = await a.req('PATCH', '/api/v1/organisations/999999', { active: false });
    assert.equal(r.status, 404);
  });
});

describe('password hashes', () => {
  test('Argon2id, and rehashed at login when the limits change', async () => {
    const u = addUser(srv.db, { email: 'rehash@toulouse.test', org: fx.home, role: 'contributor' });
    usedPasswords.push(u.password);
    assert.match(sql(`SELECT password_hash FROM users WHERE id = ${u.id}`), /^\$argon2id\$v=19\$m=8192,t=1,/);
    const other = await startServer({ db: srv.db, migrate: false, env: { GUICHET_ARGON2_OPSLIMIT: 2, GUICHET_ARGON2_MEMLIMIT_KIB: 16384 } });
    try {
      const c = new Client(other.base);
      clients.push(c);
      await c.login(u.email, u.password);
      assert.match(sql(`SELECT password_hash FROM users WHERE id = ${u.id}`), /^\$argon2id\$v=19\$m=16384,t=2,/);
    } finally {
      await other.stop();
    }
  });
});

describe('hardening', () => {
  let admin;
  let oa;
  before(async () => {
    admin = client();
    await admin.login(fx.users.admin.email, fx.users.admin.password);
    oa = client();
    await oa.login(fx.users.org_admin.email, fx.users.org_admin.password);
  });

  test('patching an organisation keeps the territory it does not mention', async () => {
    const o = await admin.req('POST', '/api/v1/organisations', { name: 'EPCI test', kind: 'epci', communes: ['31555', '31069'] });
    const r = await admin.req('PATCH', `/api/v1/organisations/${o.json.id}`, { name: 'EPCI renommé' });
    assert.deepEqual(r.json.communes, ['31555', '31069']);
    const d = await admin.req('PATCH', `/api/v1/organisations/${o.json.id}`, { departements: ['31'] });
    assert.deepEqual([d.json.departements, d.json.communes], [['31'], ['31555', '31069']]);
  });

  test('patching one part of a member’s territory keeps the other; null clears only that part', async () => {
    const m = addUser(srv.db, { email: 'partiel@toulouse.test', org: fx.home, role: 'contributor', communes: '31555' });
    let r = await oa.req('PATCH', `/api/v1/users/${m.id}`, { departements: [] });
    assert.deepEqual([r.json.departements, r.json.communes], [[], ['31555']]);
    r = await oa.req('PATCH', `/api/v1/users/${m.id}`, { departements: null });
    assert.deepEqual([r.json.departements, r.json.communes], [null, ['31555']]);
  });

  test('an org admin cannot widen its own territory, and a token cannot touch its own account', async () => {
    const r = await oa.req('PATCH', `/api/v1/users/${fx.users.org_admin.id}`, { departements: null, communes: null });
    assert.deepEqual([r.status, r.json.error.code], [409, 'self_lockout']);
    const t = await oa.req('POST', '/api/v1/account/tokens', { name: 'soi', scopes: ['admin'] });
    const self = await new TokenClient(srv.base, t.json.token).req('PATCH', `/api/v1/users/${fx.users.org_admin.id}`, { display_name: 'Moi' });
    assert.deepEqual([self.status, self.json.error.code], [403, 'token_not_allowed']);
  });

  test('long accented names still give a CSRF token', async () => {
    const m = addUser(srv.db, { email: 'long@toulouse.test', org: fx.home, role: 'contributor' });
    usedPasswords.push(m.password);
    await oa.req('PATCH', `/api/v1/users/${m.id}`, { display_name: 'é'.repeat(120) });
    const c = client();
    const r = await c.login(m.email, m.password);
    assert.match(r.json.csrf_token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(r.json.user.display_name, 'é'.repeat(120));
  });

  test('attempts sent in parallel cannot slip past the throttle', async () => {
    const u = addUser(srv.db, { email: 'parallele@toulouse.test', org: fx.home, role: 'contributor' });
    usedPasswords.push(u.password);
    const c = client();
    const all = await Promise.all(Array.from({ length: 30 }, (_, i) =>
      c.req('POST', '/api/v1/session', { email: u.email, password: `wrong-password-${i}` })));
    const checked = all.filter((r) => r.status === 401).length;
    assert.ok(checked <= 5, `${checked} attempts were checked`);
    assert.equal(all.filter((r) => r.status === 429).length, 30 - checked);
    sql("DELETE FROM login_throttle WHERE key LIKE 'address:%'");
  });

  test('behind a trusted proxy the forwarded address is the one throttled and recorded', async () => {
    const proxied = await startServer({ db: srv.db, migrate: false, env: { ...FAST_ARGON2, GUICHET_TRUSTED_PROXIES: '127.0.0.1 ::1' } });
    try {
      const c = new Client(proxied.base);
      clients.push(c);
      const u = addUser(srv.db, { email: 'proxy@toulouse.test', org: fx.home, role: 'contributor' });
      usedPasswords.push(u.password);
      const r = await c.req('POST', '/api/v1/session', { email: u.email, password: u.password },
        { headers: { 'X-Forwarded-For': '192.0.2.66, 203.0.113.7' } });
      assert.equal(r.status, 200);
      assert.equal(sql(`SELECT host(client_addr) FROM account_events WHERE user_id = ${u.id} AND kind = 'login'`), '203.0.113.7');
      // Through a second trusted proxy, written as nginx writes the header
      // (", " between hops): that hop is passed over.
      const r2 = await c.req('POST', '/api/v1/session', { email: u.email, password: u.password },
        { headers: { 'X-Forwarded-For': '192.0.2.67, 203.0.113.77, 127.0.0.1' } });
      assert.equal(r2.status, 200);
      assert.equal(sql(`SELECT host(client_addr) FROM account_events WHERE user_id = ${u.id} AND kind = 'login'
        ORDER BY id DESC LIMIT 1`), '203.0.113.77');
      // 20 failures from one forwarded address do not block another one.
      for (let i = 0; i < 21; i++) {
        await c.req('POST', '/api/v1/session', { email: `x${i}@ailleurs.test`, password: 'wrong-password-1' },
          { headers: { 'X-Forwarded-For': '203.0.113.99' } });
      }
      const other = await c.req('POST', '/api/v1/session', { email: u.email, password: u.password },
        { headers: { 'X-Forwarded-For': '198.51.100.9' } });
      assert.equal(other.status, 200);
    } finally {
      await proxied.stop();
    }
    // Without trusted proxies, the header is not believed (on two nodes,
    // srv is behind nginx and trusts it: a lone node answers instead).
    const plain = srv.nodes.length > 1 ? await startServer({ db: srv.db, migrate: false, nodes: 1, env: FAST_ARGON2 }) : srv;
    try {
      const c = new Client(plain.base);
      clients.push(c);
      const u2 = addUser(srv.db, { email: 'noproxy@toulouse.test', org: fx.home, role: 'contributor' });
      usedPasswords.push(u2.password);
      await c.req('POST', '/api/v1/session', { email: u2.email, password: u2.password }, { headers: { 'X-Forwarded-For': '203.0.113.8' } });
      assert.equal(sql(`SELECT host(client_addr) FROM account_events WHERE user_id = ${u2.id} AND kind = 'login'`), '127.0.0.1');
    } finally {
      if (plain !== srv) await plain.stop();
    }
    sql("DELETE FROM login_throttle WHERE key LIKE 'address:%'");
  });

  test('using one reset link spends the others, and a reset revokes API tokens', async () => {
    const u = addUser(srv.db, { email: 'liens@toulouse.test', org: fx.home, role: 'contributor' });
    usedPasswords.push(u.password);
    const c = client();
    await c.login(u.email, u.password);
    const tok = await c.req('POST', '/api/v1/account/tokens', { name: 'avant', scopes: ['read'] });
    await client().req('POST', '/api/v1/password-reset', { email: u.email });
    const first = mailedToken(u.email, 'mot-de-passe');
    await client().req('POST', '/api/v1/password-reset', { email: u.email });
    const second = mailedToken(u.email, 'mot-de-passe');
    const pw = password();
    usedPasswords.push(pw);
    assert.equal((await client().req('POST', '/api/v1/password-reset/confirm', { token: second, password: pw })).status, 200);
    const again = await client().req('POST', '/api/v1/password-reset/confirm', { token: first, password: password() });
    assert.equal(again.status, 400);
    assert.equal((await new TokenClient(srv.base, tok.json.token).req('GET', '/api/v1/session')).status, 401);
  });

  test('control characters in an address are refused on their field', async () => {
    const r = await oa.req('POST', `/api/v1/organisations/${fx.home}/invitations`,
      { email: 'ctl\u0001x@toulouse.test', display_name: 'X', role: 'contributor' });
    assert.deepEqual([r.status, r.json.error.field], [400, 'email']);
  });

  test('a missing organisation is 404 for its members and journal', async () => {
    assert.equal((await admin.req('GET', '/api/v1/organisations/999999/members')).status, 404);
    assert.equal((await admin.req('GET', '/api/v1/organisations/999999/events')).status, 404);
  });

  test('disabling an organisation ends its members’ sessions and tokens', async () => {
    const o = await admin.req('POST', '/api/v1/organisations', { name: 'Commune éphémère', kind: 'commune', communes: ['31069'] });
    const m = addUser(srv.db, { email: 'membre@ephemere.test', org: o.json.id, role: 'contributor' });
    usedPasswords.push(m.password);
    const c = client();
    await c.login(m.email, m.password);
    const tok = await c.req('POST', '/api/v1/account/tokens', { name: 't', scopes: ['read'] });
    await admin.req('PATCH', `/api/v1/organisations/${o.json.id}`, { active: false });
    await admin.req('PATCH', `/api/v1/organisations/${o.json.id}`, { active: true });
    assert.equal((await c.req('GET', '/api/v1/session')).status, 401);
    assert.equal((await new TokenClient(srv.base, tok.json.token).req('GET', '/api/v1/session')).status, 401);
  });
});
