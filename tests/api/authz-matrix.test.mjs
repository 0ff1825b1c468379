// The authorisation matrix: every route of the route table (read from
// `guichet routes`) × every role × inside or outside the account's
// organisation, against the status expected. A route missing from the
// expectations below fails the test, so no new route can escape the matrix.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, runGuichet, makeTemp, rmTemp, waitFor } from './harness.mjs';
import { Client, FAST_ARGON2, addUser, fixture } from './accounts.mjs';

const ROLES = ['anon', 'contributor', 'reviewer', 'org_admin', 'admin'];
let n = 0;
const uniq = () => `${Date.now().toString(36)}${(n++).toString(36)}`;

// For each route: the status per role (a number, or {inside, outside} for
// routes naming an organisation, a member or a token), the path parameter
// per place, and a body that passes validation.
const E = {
  'GET /healthz': { expect: 200 },
  // Open data: public, whoever asks (path: the concrete path asked for).
  'GET /ogc': { expect: 200 },
  'GET /ogc/conformance': { expect: 200 },
  'GET /ogc/api': { expect: 200 },
  'GET /ogc/collections': { expect: 200 },
  'GET /ogc/collections/{collectionId}': { expect: 200, path: '/ogc/collections/erp' },
  'GET /ogc/collections/{collectionId}/queryables': { expect: 200, path: '/ogc/collections/adresses/queryables' },
  'GET /ogc/collections/{collectionId}/items': { expect: 200, path: '/ogc/collections/equipco/items' },
  'GET /ogc/collections/{collectionId}/items/{featureId}': {
    expect: 404, path: '/ogc/collections/erp/items/00000000-0000-4000-8000-000000000000',
  },
  'GET /widget': { expect: 200, query: '?theme=erp&territory=31' },
  'GET /api/v1/openapi.json': { expect: 200 },
  'POST /csp-report': { expect: 204, type: 'application/csp-report', body: () => ({ 'csp-report': { 'violated-directive': 'img-src' } }) },
  'POST /api/v1/session': { expect: 401, body: () => ({ email: 'personne@nulle-part.test', password: 'wrong-password' }) },
  'GET /api/v1/session': { expect: { anon: 401, else: 200 } },
  'DELETE /api/v1/session': { expect: { anon: 401, else: 204 }, fresh: true },
  'POST /api/v1/account/password': {
    // Passing authorisation means reaching the password check: 400, not 401/403.
    expect: { anon: 401, else: 400 }, body: () => ({ current_password: 'not-the-password', new_password: 'Another-long-password' }),
  },
  'GET /api/v1/account/tokens': { expect: { anon: 401, else: 200 } },
  'POST /api/v1/account/tokens': { expect: { anon: 401, else: 201 }, body: () => ({ name: `m${uniq()}`, scopes: ['read'] }) },
  'DELETE /api/v1/account/tokens/{id}': {
    id: (ctx, role, place) => (place === 'inside' ? ctx.newToken(role) : ctx.tokenOfOther),
    expect: { anon: 401, else: { inside: 204, outside: 404 } },
  },
  'POST /api/v1/password-reset': { expect: 202, body: () => ({ email: 'personne@nulle-part.test' }) },
  'POST /api/v1/password-reset/confirm': { expect: 400, body: () => ({ token: 'x'.repeat(43), password: 'Another-long-password' }) },
  'POST /api/v1/invitations/inspect': { expect: 400, body: () => ({ token: 'x'.repeat(43) }) },
  'POST /api/v1/invitations/accept': { expect: 400, body: () => ({ token: 'x'.repeat(43), password: 'Another-long-password' }) },
  'GET /api/v1/organisation-kinds': { expect: 200 },
  'GET /api/v1/organisations': { expect: { anon: 401, admin: 200, else: 403 } },
  'POST /api/v1/organisations': {
    expect: { anon: 401, admin: 201, else: 403 }, body: () => ({ name: `Org ${uniq()}`, kind: 'association', communes: ['31555'] }),
  },
  'GET /api/v1/organisations/{id}': { id: 'org', expect: { anon: 401, org_admin: { inside: 200, outside: 403 }, admin: 200, else: 403 } },
  'PATCH /api/v1/organisations/{id}': {
    id: 'org', expect: { anon: 401, admin: 200, else: 403 }, body: () => ({ active: true }),
  },
  'GET /api/v1/organisations/{id}/members': { id: 'org', expect: { anon: 401, org_admin: { inside: 200, outside: 403 }, admin: 200, else: 403 } },
  'GET /api/v1/organisations/{id}/events': { id: 'org', expect: { anon: 401, org_admin: { inside: 200, outside: 403 }, admin: 200, else: 403 } },
  'POST /api/v1/organisations/{id}/invitations': {
    id: 'org',
    expect: { anon: 401, org_admin: { inside: 201, outside: 403 }, admin: 201, else: 403 },
    body: () => ({ email: `i${uniq()}@matrice.test`, display_name: 'Invité', role: 'contributor' }),
  },
  'POST /api/v1/organisations/{id}/service-accounts': {
    id: 'org',
    expect: { anon: 401, admin: 201, else: 403 },
    body: () => ({ email: `s${uniq()}@matrice.test`, display_name: 'Service', role: 'contributor' }),
  },
  'PATCH /api/v1/users/{id}': {
    id: (ctx, role, place) => (place === 'inside' ? ctx.fx.users.contributor.id : ctx.fx.users.away_admin.id),
    expect: { anon: 401, org_admin: { inside: 200, outside: 403 }, admin: 200, else: 403 },
    body: () => ({ display_name: 'Agent' }),
  },
  'GET /api/v1/forms/{guichet}': { expect: 200 },
  'GET /api/v1/ui-config': { expect: 200 },
  'GET /api/v1/ref/zones': { expect: 200, query: '?kind=departement&code=31' },
  'GET /api/v1/guichets/{guichet}/submissions': { expect: { anon: 401, else: 200 } },
  'POST /api/v1/guichets/{guichet}/submissions': {
    expect: { anon: 401, else: 201 }, body: () => ({ attributes: { libelle: `Brouillon ${uniq()}` } }),
  },
  'GET /api/v1/guichets/{guichet}/submissions/{id}': {
    // Authors read theirs; another organisation's is 404 to all but platform admins.
    id: (ctx, role, place) => (place === 'inside' ? ctx.newDraft(role) : ctx.draftOfOther),
    expect: { anon: 401, admin: 200, else: { inside: 200, outside: 404 } },
  },
  'PATCH /api/v1/guichets/{guichet}/submissions/{id}': {
    id: (ctx, role, place) => (place === 'inside' ? ctx.newDraft(role) : ctx.draftOfOther),
    expect: { anon: 401, else: { inside: 200, outside: 404 } },
    body: () => ({ attributes: { libelle: 'Modifié' } }),
  },
  // Moderation. Inside: one's own draft (the author reads and withdraws
  // it); outside: another organisation's draft, 404 but to platform admins.
  'GET /api/v1/workflow': { expect: 200 },
  'POST /api/v1/guichets/{guichet}/submissions/{id}/transitions': {
    id: (ctx, role, place) => (place === 'inside' ? ctx.newDraft(role) : ctx.draftOfOther),
    // (A platform admin sees the other's draft but is not its author: 409.)
    expect: { anon: 401, admin: { inside: 200, outside: 409 }, else: { inside: 200, outside: 404 } },
    body: () => ({ action: 'withdraw' }),
  },
  'POST /api/v1/guichets/{guichet}/submissions/{id}/assignment': {
    // An address sent in Toulouse (inside: the commune's reviewers are
    // competent) or in Montpellier (outside).
    guichet: 'adresse',
    id: (ctx, role, place) => ctx.newAddress(place),
    expect: { anon: 401, contributor: 403, admin: 200, else: { inside: 200, outside: 404 } },
    body: () => ({ user_id: null }),
  },
  'GET /api/v1/guichets/{guichet}/submissions/{id}/versions': {
    id: (ctx, role, place) => (place === 'inside' ? ctx.newDraft(role) : ctx.draftOfOther),
    expect: { anon: 401, admin: 200, else: { inside: 200, outside: 404 } },
  },
  'GET /api/v1/guichets/{guichet}/submissions/{id}/diff': {
    id: (ctx, role, place) => (place === 'inside' ? ctx.newDraft(role) : ctx.draftOfOther),
    query: '?from=1',
    expect: { anon: 401, admin: 200, else: { inside: 200, outside: 404 } },
  },
  'GET /api/v1/guichets/{guichet}/submissions/{id}/events': {
    id: (ctx, role, place) => (place === 'inside' ? ctx.newDraft(role) : ctx.draftOfOther),
    expect: { anon: 401, admin: 200, else: { inside: 200, outside: 404 } },
  },
  'GET /api/v1/guichets/{guichet}/submissions/{id}/comments': {
    id: (ctx, role, place) => (place === 'inside' ? ctx.newDraft(role) : ctx.draftOfOther),
    expect: { anon: 401, admin: 200, else: { inside: 200, outside: 404 } },
  },
  'POST /api/v1/guichets/{guichet}/submissions/{id}/comments': {
    id: (ctx, role, place) => (place === 'inside' ? ctx.newDraft(role) : ctx.draftOfOther),
    expect: { anon: 401, admin: 201, else: { inside: 201, outside: 404 } },
    body: () => ({ body: 'Bonjour' }),
  },
  'POST /api/v1/guichets/{guichet}/decisions': {
    // Unknown ids: each is answered 404 in the results.
    expect: { anon: 401, contributor: 403, else: 200 }, body: () => ({ ids: [987654], action: 'validate' }),
  },
  'GET /api/v1/queue': { expect: { anon: 401, contributor: 403, else: 200 } },
  'GET /api/v1/dashboard': { expect: { anon: 401, else: 200 } },
  'GET /api/v1/notifications': { expect: { anon: 401, else: 200 } },
  'POST /api/v1/notifications/read': { expect: { anon: 401, else: 204 }, body: () => ({ all: true }) },
  'GET /api/v1/account/notifications': { expect: { anon: 401, else: 200 } },
  'PATCH /api/v1/account/notifications': { expect: { anon: 401, else: 200 }, body: () => ({ notify: 'immediate' }) },
  // Exports: platform admins only (ACT_EXPORT). Full snapshots, so that
  // asking again never meets a batch of the same series.
  'POST /api/v1/exports': {
    expect: { anon: 401, admin: 202, else: 403 }, body: () => ({ guichet: 'erp', format: 'csv', mode: 'full' }),
  },
  'GET /api/v1/exports': { expect: { anon: 401, admin: 200, else: 403 } },
  'POST /api/v1/exports/preview': {
    expect: { anon: 401, admin: 200, else: 403 }, body: () => ({ guichet: 'erp', format: 'csv' }),
  },
  'GET /api/v1/exports/{id}': { id: (ctx) => ctx.batch.id, expect: { anon: 401, admin: 200, else: 403 } },
  'GET /api/v1/exports/{id}/files/{name}': {
    id: (ctx) => ctx.batch.id, name: (ctx) => ctx.batch.files[0].name, expect: { anon: 401, admin: 200, else: 403 },
  },
  // Imports: anyone who submits; an import is its organisation's (the platform's admins see all).
  'POST /api/v1/imports': {
    expect: { anon: 401, else: 201 }, query: '?guichet=erp&filename=salles.csv', body: () => Buffer.from('nom;commune\nSalle;31555\n'),
  },
  'GET /api/v1/imports': { expect: { anon: 401, else: 200 } },
  'GET /api/v1/imports/{id}': {
    id: (ctx, role, place) => ctx.newImport(place), expect: { anon: 401, admin: 200, else: { inside: 200, outside: 404 } },
  },
  'PATCH /api/v1/imports/{id}': {
    id: (ctx, role, place) => ctx.newImport(place),
    expect: { anon: 401, admin: 200, else: { inside: 200, outside: 404 } },
    body: () => ({ mapping: { libelle: 'nom' } }),
  },
  'POST /api/v1/imports/{id}/check': {
    id: (ctx, role, place) => ctx.newImport(place), expect: { anon: 401, admin: 202, else: { inside: 202, outside: 404 } },
  },
  // Before its check an import cannot be committed (409 once allowed); it can be cancelled.
  'POST /api/v1/imports/{id}/commit': {
    id: (ctx, role, place) => ctx.newImport(place), expect: { anon: 401, admin: 409, else: { inside: 409, outside: 404 } },
  },
  'POST /api/v1/imports/{id}/cancel': {
    id: (ctx, role, place) => ctx.newImport(place), expect: { anon: 401, admin: 200, else: { inside: 200, outside: 404 } },
  },
  'GET /api/v1/imports/{id}/rows': {
    id: (ctx, role, place) => ctx.newImport(place), expect: { anon: 401, admin: 200, else: { inside: 200, outside: 404 } },
  },
  'GET /api/v1/imports/{id}/report.csv': {
    id: (ctx, role, place) => ctx.newImport(place), expect: { anon: 401, admin: 200, else: { inside: 200, outside: 404 } },
  },
  'POST /api/v1/users/{id}/tokens': {
    id: (ctx, role, place) => (place === 'inside' ? ctx.serviceHome : ctx.serviceAway),
    expect: { anon: 401, admin: 201, else: 403 },
    body: () => ({ name: `t${uniq()}`, scopes: ['read'] }),
  },
};

function expected(spec, role, place) {
  let e = spec.expect;
  if (typeof e === 'object') e = role in e ? e[role] : e.else;
  if (typeof e === 'object') e = e[place];
  return e;
}

let srv;
let exportDir;
const ctx = {};

before(async () => {
  exportDir = makeTemp('guichet-matrix-exports-');
  srv = await startServer({ env: { ...FAST_ARGON2, GUICHET_EXPORT_DIR: exportDir } });
  ctx.fx = fixture(srv.db);
  ctx.serviceHome = addUser(srv.db, { email: 'service@toulouse.test', org: ctx.fx.home, role: 'contributor', service: true }).id;
  ctx.serviceAway = addUser(srv.db, { email: 'service@montpellier.test', org: ctx.fx.away, role: 'contributor', service: true }).id;
  ctx.clients = { anon: new Client(srv.base) };
  for (const role of ROLES.slice(1)) {
    ctx.clients[role] = new Client(srv.base);
    await ctx.clients[role].login(ctx.fx.users[role].email, ctx.fx.users[role].password);
  }
  const other = new Client(srv.base);
  await other.login(ctx.fx.users.away_admin.email, ctx.fx.users.away_admin.password);
  ctx.tokenOfOther = (await other.req('POST', '/api/v1/account/tokens', { name: 'autre', scopes: ['read'] })).json.id;
  ctx.draftOfOther = (await other.req('POST', '/api/v1/guichets/erp/submissions', { attributes: { libelle: 'Autre' } })).json.id;
  ctx.newDraft = async (role) => (await ctx.clients[role].req('POST', '/api/v1/guichets/erp/submissions', { attributes: { libelle: `B${uniq()}` } })).json.id;
  // A submitted address: in Toulouse by its contributor, or in Montpellier by its org admin.
  let numero = 0;
  ctx.newAddress = async (place) => {
    const [c, commune, point] = place === 'inside' ? [ctx.clients.contributor, '31555', 'POINT(1.4430 43.6060)']
      : [other, '34172', 'POINT(3.8767 43.6108)'];
    const r = await c.req('POST', '/api/v1/guichets/adresse/submissions', { attributes: { voie_nom: 'Rue du Taur',
      numero: ++numero, position: 'entrée', commune_insee: commune }, geometry: point, submit: true, confirm_warnings: true });
    assert.equal(r.status, 201, r.text);
    return r.json.id;
  };
  // A written export batch (of no object), for the routes that name one.
  const q = await ctx.clients.admin.req('POST', '/api/v1/exports', { guichet: 'erp', format: 'geojson', mode: 'full' });
  assert.equal(q.status, 202, q.text);
  ctx.batch = await waitFor(async () => {
    const b = (await ctx.clients.admin.req('GET', `/api/v1/exports/${q.json.id}`)).json;
    return b.state === 'done' ? b : null;
  }, { what: 'the export batch' });
  ctx.newImport = async (place) => {
    const c = place === 'inside' ? ctx.clients.contributor : other;
    const r = await c.req('POST', '/api/v1/imports?guichet=erp&filename=salles.csv', Buffer.from('nom;commune\nSalle;31555\n'));
    assert.equal(r.status, 201, r.text);
    return r.json.id;
  };
  ctx.newToken = async (role) => (await ctx.clients[role].req('POST', '/api/v1/account/tokens', { name: `x${uniq()}`, scopes: ['read'] })).json.id;
});

after(async () => {
  await srv?.stop();
  rmTemp(exportDir);
});

const routes = JSON.parse(runGuichet(['routes']).stdout);

test('the route table is listed and every route has expectations', () => {
  assert.ok(routes.length > 10);
  const missing = routes.map((r) => `${r.method} ${r.path}`).filter((k) => !(k in E));
  assert.deepEqual(missing, [], 'routes without authorisation expectations');
  const stale = Object.keys(E).filter((k) => !routes.some((r) => `${r.method} ${r.path}` === k));
  assert.deepEqual(stale, [], 'expectations for routes that no longer exist');
});

for (const route of routes) {
  const key = `${route.method} ${route.path}`;
  const spec = E[key];
  if (!spec) continue;
  describe(key, () => {
    const places = route.path.includes('{id}') ? ['inside', 'outside'] : ['-'];
    // (Paths name the ERP guichet unless the spec names another; the three share their handlers.)
    for (const role of ROLES) {
      for (const place of places) {
        test(`${role}${place === '-' ? '' : ` ${place}`} → ${expected(spec, role, place)}`, async () => {
          let c = ctx.clients[role];
          if (spec.fresh && role !== 'anon') {
            c = new Client(srv.base);
            await c.login(ctx.fx.users[role].email, ctx.fx.users[role].password);
          }
          let path = (spec.path ?? route.path).replace('{guichet}', spec.guichet ?? 'erp');
          if (path.includes('{id}')) {
            let id;
            if (spec.id === 'org') id = place === 'inside' ? ctx.fx.home : ctx.fx.away;
            else id = await spec.id(ctx, role === 'anon' ? 'contributor' : role, place);
            path = path.replace('{id}', String(id));
          }
          if (spec.name) path = path.replace('{name}', spec.name(ctx));
          if (spec.query) path += spec.query;
          const body = spec.body ? spec.body() : undefined;
          const r = await c.req(route.method, path, body, spec.type ? { headers: { 'Content-Type': spec.type } } : {});
          assert.equal(r.status, expected(spec, role, place), `${route.method} ${path} as ${role}: ${r.text}`);
        });
      }
    }
  });
}
