// Decisions taken in parallel by several reviewers on distinct records all
// succeed: writers queue for the event chain instead of failing to
// serialize on its head (audit_begin), and the chain stays intact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, psql, runGuichet } from './harness.mjs';
import { Client, FAST_ARGON2, addOrg, addUser } from './accounts.mjs';
let srv;
before(async () => { srv = await startServer({ env: { ...FAST_ARGON2 }, refdata: true }); });
after(async () => { await srv?.stop(); });
test('64 decisions by 8 reviewers at once: all taken, one chain', async () => {
  const db = srv.db;
  const tls = addOrg(db, { name: 'Commune de Toulouse', kind: 'commune', communes: '31555' });
  const ddt = addOrg(db, { name: 'DDT 31', kind: 'ddt', departements: '31' });
  const ua = addUser(db, { email: 'a@t.test', org: tls, role: 'contributor' });
  const revs = [];
  for (let i = 0; i < 8; i++) {
    const u = addUser(db, { email: `r${i}@d.test`, org: ddt, role: 'reviewer' });
    const c = new Client(srv.base); await c.login(u.email, u.password); revs.push(c);
  }
  const a = new Client(srv.base); await a.login(ua.email, ua.password);
  const ids = [];
  for (let i = 0; i < 64; i++) {
    const r = await a.req('POST', '/api/v1/guichets/erp/submissions', { attributes: { libelle: `ERP ${i} zz${i}q`, categorie: '5', type_principal: 'M', capacite_d_accueil_du_public: 10 }, geometry: { type: 'Point', coordinates: [1.40 + i * 0.001, 43.60] }, submit: true, confirm_warnings: true });
    assert.equal(r.status, 201, r.text);
    ids.push(r.json.id);
  }
  const res = await Promise.all(ids.map((id, i) => revs[i % 8].req('POST', `/api/v1/guichets/erp/submissions/${id}/transitions`, { action: 'request_changes', comment: 'x' })));
  const st = {};
  for (const r of res) st[r.status] = (st[r.status] ?? 0) + 1;
  assert.deepEqual(st, { 200: 64 });
  assert.equal(Number(psql(db, "SELECT count(*) FROM reviews WHERE decision = 'request_changes'")), 64);
  const v = runGuichet(['audit', 'verify'], { PGDATABASE: db });
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /^intact: 128 event/);
});
