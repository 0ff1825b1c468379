// The embeddable map and the open-data page in a real browser. The map
// (/widget) is framed by a page of another origin (a tiny server of this
// file on localhost, the guichet on 127.0.0.1): it shows exactly the
// validated objects of the territory asked (not those of the neighbour,
// not those waiting for review), fits them, opens a popup per object whose
// name is text (never markup), fits a 320 px wide frame, and neither sends
// nor receives a cookie; past 20,000 objects it stops and says so. A server
// whose widget_frame_ancestors names one origin is framed by it and refused
// by any other. The « Données ouvertes » page makes the <iframe> snippet
// from a theme, a territory checked like the server checks it and a size,
// previews it, and copies it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, psql, freePort, SLOW } from '../api/harness.mjs';
import { FAST_ARGON2, Client, addOrg, addUser } from '../api/accounts.mjs';
import { assertFitsPhone, launch, navLinks, signedInTab } from './browser.mjs';

const WAIT = 20_000 * SLOW;
const TAGS = 'Salle <b>tags</b> & « Cie »';
const ERP_LABEL = 'Établissements recevant du public (ERP)';

let srv;		// the guichet (widget_frame_ancestors: the default, *)
let strict;		// a second server on the same database: one ancestor only
let browser;
let u;
const hosts = [];	// the partners' sites: {server, base}
const uids = {};	// name → public id of the published objects
const errors = [];	// script errors
const failures = [];	// API answers >= 400 of the signed-in tab

// n points inside commune code, 0.3 km or more from its border (fixed seed).
function pointsIn(code, n) {
  const rows = psql(srv.db, `SELECT round(ST_X(p)::numeric, 6) || ' ' || round(ST_Y(p)::numeric, 6) FROM
    (SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(geom, -0.003), ${n}, 7))).geom p FROM ref_zones
     WHERE kind = 'commune' AND code = '${code}') q`).split('\n').filter(Boolean);
  assert.equal(rows.length, n, `points in ${code}`);
  return rows.map((l) => ({ type: 'Point', coordinates: l.split(' ').map(Number) }));
}

function square([x, y], d = 0.002) {
  return { type: 'Polygon', coordinates: [[[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]] };
}

async function submitted(agent, g, attributes, geometry) {
  const r = await agent.req('POST', `/api/v1/guichets/${g}/submissions`, { attributes, geometry, submit: true, confirm_warnings: true });
  assert.equal(r.status, 201, `create ${g}: ${r.text}`);
  return r.json.id;
}

// The agent submits, the platform admin validates.
async function validated(agent, admin, g, attributes, geometry) {
  const id = await submitted(agent, g, attributes, geometry);
  const v = await admin.req('POST', `/api/v1/guichets/${g}/submissions/${id}/transitions`, { action: 'validate' });
  assert.equal(v.status, 200, `validate ${g} ${id}: ${v.text}`);
  assert.equal(v.json.state, 'validated');
  return id;
}

const erp = (libelle, i = 0) => ({ libelle, categorie: '2', type_principal: 'L', capacite_d_accueil_du_public: 800 + i });

// A partner's site on another origin: /?src=…&w=…&h=… is a page framing src.
async function partnerSite() {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    const q = new URL(req.url, 'http://localhost').searchParams;
    const esc = (s) => String(s ?? '').replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Site partenaire</title></head>
<body><h1>Site partenaire</h1><iframe id="carte" src="${esc(q.get('src'))}" width="${esc(q.get('w') ?? 320)}"
height="${esc(q.get('h') ?? 480)}" title="Carte des données ouvertes"></iframe></body></html>`);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const host = { server, base: `http://localhost:${port}` };
  hosts.push(host);
  return host;
}

before(async () => {
  srv = await startServer({ env: { ...FAST_ARGON2 }, refdata: true });
  const db = srv.db;
  const openig = addOrg(db, { name: 'OPenIG', kind: 'openig', departements: '31,34' });
  u = {
    agent: addUser(db, { email: 'agent@openig.test', name: 'Agent OPenIG', org: openig, role: 'contributor' }),
    admin: addUser(db, { email: 'admin@openig.test', name: 'Administratrice OPenIG', org: openig, role: 'admin' }),
  };
  const agent = new Client(srv.base);
  await agent.login(u.agent.email, u.agent.password);
  const admin = new Client(srv.base);
  await admin.login(u.admin.email, u.admin.password);

  // Haute-Garonne: three ERP in Toulouse, one in Blagnac, one waiting for review.
  const toulouse = pointsIn('31555', 6);
  const names31 = ['Médiathèque José Cabanis', TAGS, 'Gymnase Compans-Caffarelli'];
  for (const [i, name] of names31.entries()) await validated(agent, admin, 'erp', erp(name, i), toulouse[i]);
  await validated(agent, admin, 'erp', erp('Salle des fêtes de Blagnac'), pointsIn('31069', 1)[0]);
  await submitted(agent, 'erp', erp('Salle en cours d’instruction'), toulouse[3]);
  // Hérault: two ERP in Montpellier.
  for (const [i, p] of pointsIn('34172', 2).entries()) await validated(agent, admin, 'erp', erp(`Salle de Montpellier ${i + 1}`, i), p);
  // Equipments in Toulouse: an outline and a point.
  await validated(agent, admin, 'equipco', { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade Ernest-Wallon' },
    square(toulouse[4].coordinates));
  await validated(agent, admin, 'equipco', { categorie: 'Culture et loisirs', nature: 'Musée', toponyme: 'Musée des Augustins' },
    toulouse[5]);

  for (const g of ['erp', 'equipco']) {
    const fc = await (await fetch(`${srv.base}/ogc/collections/${g}/items?limit=100`)).json();
    for (const f of fc.features) uids[f.properties.libelle ?? f.properties.toponyme] = f.id;
  }
  assert.equal(Object.keys(uids).length, 8, Object.keys(uids).join(', '));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const h of hosts) await new Promise((resolve) => h.server.close(resolve));
  await strict?.stop();
  await srv?.stop();
});

// A fresh browser (no cookie) on a partner's page framing the widget.
async function framed(host, widget, { width = 320, height = 480 } = {}) {
  const context = await browser.newContext({ viewport: { width: 800, height: 700 } });
  const p = await context.newPage();
  p.on('pageerror', (e) => errors.push(`partner ${p.url()}: ${e.message}`));
  const answers = [];
  p.on('response', (r) => answers.push(r));
  const src = widget.startsWith('http') ? widget : `${srv.base}${widget}`;
  await p.goto(`${host.base}/?${new URLSearchParams({ src, w: width, h: height })}`);
  return { p, context, answers, frame: p.frameLocator('#carte') };
}

// The frame once its data is drawn (or found missing): its state.
async function settled(frame) {
  await frame.locator('body:not([data-etat="chargement"])').waitFor({ timeout: WAIT });
  return frame.locator('body').getAttribute('data-etat');
}

const drawn = (frame) => frame.locator('.leaflet-overlay-pane path.leaflet-interactive');

test('the widget framed by another site shows exactly the validated objects of territory 31', async () => {
  const host = await partnerSite();
  const { context, answers, frame } = await framed(host, '/widget?theme=erp&territory=31');
  assert.equal(await settled(frame), 'pret');
  assert.equal(await frame.locator('h1').textContent(), 'ERP — Haute-Garonne (31)');
  assert.equal(await frame.locator('h1').getAttribute('title'), `${ERP_LABEL} — Haute-Garonne (31)`);
  assert.equal(await frame.locator('h1').evaluate((h) => h.scrollWidth <= h.clientWidth), true, 'the title fits 320 px');
  // The four of Haute-Garonne: neither Montpellier's nor the one under review.
  const want = ['Médiathèque José Cabanis', TAGS, 'Gymnase Compans-Caffarelli', 'Salle des fêtes de Blagnac'];
  assert.equal(await drawn(frame).count(), want.length);
  const ids = await drawn(frame).evaluateAll((ps) => ps.map((e) => e.getAttribute('data-id')));
  assert.deepEqual(ids.sort(), want.map((n) => uids[n]).sort());
  assert.equal(await frame.locator('#resume').textContent(), '4 objets');
  assert.equal(await frame.locator('#note').isHidden(), true);
  // The département's outline, not clickable, and the map fitted to the objects inside it.
  assert.equal(await frame.locator('path.contour-territoire').count(), 1);
  assert.equal(await frame.locator('path.contour-territoire.leaflet-interactive').count(), 0);
  const view = await frame.locator('html').evaluate(() => ({ width: innerWidth, height: innerHeight }));
  assert.deepEqual(view, { width: 320, height: 480 });
  const map = await frame.locator('#carte').evaluate((e) => e.getBoundingClientRect().toJSON());
  for (const box of await drawn(frame).evaluateAll((ps) => ps.map((e) => e.getBoundingClientRect().toJSON()))) {
    assert.ok(box.left >= map.left && box.right <= map.right && box.top >= map.top && box.bottom <= map.bottom,
      `marker ${JSON.stringify(box)} outside the map ${JSON.stringify(map)}`);
  }

  // A popup names the object as text (the name holds tags) with its form's labels.
  await frame.locator(`path[data-id="${uids[TAGS]}"]`).click();
  const popup = frame.locator('.leaflet-popup-content');
  await popup.waitFor();
  assert.equal(await popup.locator('h2').textContent(), TAGS);
  assert.equal(await popup.locator('b').count(), 0);
  const dts = await popup.locator('dt').allTextContents();
  const dds = await popup.locator('dd').allTextContents();
  const fiche = Object.fromEntries(dts.map((k, i) => [k, dds[i]]));
  assert.equal(fiche['Catégorie'], '2e catégorie — de 701 à 1 500 personnes');
  assert.equal(fiche['Type principal'], "L — Salles d'audition, de conférences, de réunions, de spectacles ou à usage multiple");
  assert.equal(fiche["Capacité d'accueil du public"], '801');
  assert.equal(fiche['Producteur'], 'OPenIG');
  assert.ok(fiche['Validé le'], dts.join(', '));
  assert.ok(!('Nom de l\'établissement' in fiche), 'the name is the title, not a line');
  // The popup fits the 320 px frame, the map panned to show it whole.
  await frame.locator('body').evaluate((b) => new Promise((resolve, reject) => {
    const t0 = Date.now();
    const check = () => {
      const r = b.querySelector('.leaflet-popup').getBoundingClientRect();
      const m = b.querySelector('#carte').getBoundingClientRect();
      if (r.left >= m.left && r.right <= m.right && r.top >= m.top && r.bottom <= m.bottom) resolve();
      else if (Date.now() - t0 > 5000) reject(new Error(`popup ${JSON.stringify(r)} outside the map ${JSON.stringify(m)}`));
      else setTimeout(check, 50);
    };
    check();
  }));

  // Nothing overflows the 320 px frame; the credit opens the portal elsewhere.
  const overflow = await frame.locator('html').evaluate((h) => h.scrollWidth - h.clientWidth);
  assert.ok(overflow <= 0, `the widget overflows by ${overflow}px at 320 px`);
  const credit = frame.locator('.credit a');
  assert.equal(await credit.getAttribute('target'), '_blank');
  assert.equal(await credit.getAttribute('rel'), 'noopener');
  assert.equal(await credit.evaluate((a) => a.href), `${srv.base}/`);
  assert.ok(await credit.isVisible());

  // No cookie either way: none set, none in the jar.
  const ours = answers.filter((r) => r.url().startsWith(srv.base));
  const paths = ours.map((r) => new URL(r.url()).pathname);
  for (const used of ['/widget', '/ogc/collections/erp/items', '/api/v1/forms/erp', '/api/v1/ui-config', '/api/v1/ref/zones']) {
    assert.ok(paths.includes(used), `${used} in ${paths.join(', ')}`);
  }
  for (const r of ours) {
    assert.equal((await r.allHeaders())['set-cookie'], undefined, `Set-Cookie on ${r.url()}`);
    assert.equal((await r.request().allHeaders()).cookie, undefined, `Cookie sent to ${r.url()}`);
  }
  assert.deepEqual(await context.cookies(), []);
  // The page may be framed anywhere (the default), by no other header than its CSP.
  const page = ours.find((r) => new URL(r.url()).pathname === '/widget');
  const h = await page.allHeaders();
  assert.match(h['content-security-policy'], /frame-ancestors \*/);
  assert.equal(h['x-frame-options'], undefined);
  await context.close();
});

test('a commune shows its own objects; a list opens the same popups from the keyboard', async () => {
  const host = hosts[0];
  const { context, frame } = await framed(host, '/widget?theme=erp&territory=31555', { width: 360, height: 420 });
  assert.equal(await settled(frame), 'pret');
  assert.equal(await drawn(frame).count(), 3);
  assert.match(await frame.locator('h1').textContent(), / — Toulouse \(31555\)$/);
  const button = frame.locator('#voir-liste');
  assert.equal(await button.textContent(), 'Liste');
  await button.click();
  assert.equal(await button.getAttribute('aria-expanded'), 'true');
  const items = frame.locator('#liste-objets button');
  assert.deepEqual(await items.allTextContents(), ['Gymnase Compans-Caffarelli', 'Médiathèque José Cabanis', TAGS]);
  await items.nth(2).press('Enter');
  assert.equal(await frame.locator('#liste').isHidden(), true);
  const title = frame.locator('.leaflet-popup-content h2');
  await title.waitFor();
  assert.equal(await title.textContent(), TAGS);
  assert.equal(await title.evaluate((e) => document.activeElement === e), true);
  await context.close();
});

test('outlines are drawn as polygons, points as circles', async () => {
  const { context, frame } = await framed(hosts[0], '/widget?theme=equipco&territory=31555', { width: 480, height: 480 });
  assert.equal(await settled(frame), 'pret');
  const d = await drawn(frame).evaluateAll((ps) => Object.fromEntries(ps.map((e) => [e.getAttribute('data-id'), e.getAttribute('d')])));
  assert.equal(Object.keys(d).length, 2);
  assert.match(d[uids['Stade Ernest-Wallon']], /^M[\d. -]+(L[\d. -]+){3,}z$/);	// four corners, closed
  assert.match(d[uids['Musée des Augustins']], /a7,7 0 1,0/);		// a circle of radius 7
  await frame.locator(`path[data-id="${uids['Stade Ernest-Wallon']}"]`).click();
  const popup = frame.locator('.leaflet-popup-content');
  await popup.waitFor();
  assert.equal(await popup.locator('h2').textContent(), 'Stade Ernest-Wallon');
  assert.match(await popup.textContent(), /CatégorieSport/);
  await context.close();
});

test('a theme with nothing in the territory says so and shows the territory', async () => {
  const { context, frame } = await framed(hosts[0], '/widget?theme=adresses&territory=34');
  assert.equal(await settled(frame), 'vide');
  assert.equal(await frame.locator('#etat').textContent(),
    'Aucun objet validé pour « Adresses » sur ce territoire (Hérault (34)).');
  assert.equal(await frame.locator('#resume').textContent(), 'Aucun objet');
  assert.equal(await drawn(frame).count(), 0);
  assert.equal(await frame.locator('path.contour-territoire').count(), 1);
  assert.equal(await frame.getByRole('button', { name: 'Liste' }).isHidden(), true);
  // Hérault fills the map: its outline spans most of the frame.
  const box = await frame.locator('path.contour-territoire').evaluate((e) => e.getBoundingClientRect().toJSON());
  assert.ok(box.width > 320 * 0.6 || box.height > 400 * 0.6, JSON.stringify(box));
  await context.close();
});

test('a server that names its ancestors is framed by them only', async () => {
  const allowed = hosts[0];
  const other = await partnerSite();
  strict = await startServer({ db: srv.db, env: { ...FAST_ARGON2, GUICHET_WIDGET_FRAME_ANCESTORS: allowed.base } });
  const widget = `${strict.base}/widget?theme=erp&territory=34`;

  const ok = await framed(allowed, widget);
  assert.equal(await settled(ok.frame), 'pret');
  assert.equal(await drawn(ok.frame).count(), 2);
  const h = await ok.answers.find((r) => r.url() === widget).allHeaders();
  assert.match(h['content-security-policy'], new RegExp(`frame-ancestors 'self' ${allowed.base};`));
  await ok.context.close();

  const ko = await framed(other, widget);
  const refused = [];
  ko.p.on('console', (m) => refused.push(m.text()));
  await ko.p.reload();
  const frame = ko.p.frames().find((f) => f !== ko.p.mainFrame());
  await frame.waitForLoadState('load');
  // The browser shows its error page in place of the widget.
  assert.match(frame.url(), /^chrome-error:/);
  assert.equal(await ko.frame.locator('#carte').count(), 0);
  assert.ok(refused.some((t) => /frame-ancestors/.test(t)), refused.join('\n'));
  // … and it reports the violation to the server.
  await strict.waitForLog(/csp-violation.*"violated-directive":"frame-ancestors"/);
  await ko.context.close();
});

test('past 20,000 objects the widget stops, says so, and draws them on a canvas', async () => {
  // 20,050 validated addresses in Toulouse, written straight into the table.
  const n = 20_050;
  psql(srv.db, `INSERT INTO submissions (guichet, state, attributes, geom, label, insee_commune, departement,
      author_id, organisation_id, decided_at)
    SELECT 'adresse', 'validated', jsonb_build_object('commune_insee', '31555', 'voie_nom', 'Rue n° ' || i,
      'numero', i, 'position', 'entrée'), ST_SetSRID(ST_MakePoint(1.40 + (i % 150) * 0.0004, 43.56 + (i / 150) * 0.0004), 4326),
      'Rue n° ' || i, '31555', '31', ${u.agent.id}, o.id, now()
    FROM generate_series(1, ${n}) i, (SELECT organisation_id AS id FROM users WHERE id = ${u.agent.id}) o`);
  const { context, answers, frame } = await framed(hosts[0], '/widget?theme=adresses&territory=31');
  await frame.locator('body:not([data-etat="chargement"])').waitFor({ timeout: 3 * WAIT });
  assert.equal(await frame.locator('body').getAttribute('data-etat'), 'pret');
  assert.match(await frame.locator('#resume').textContent(), /^20\s000 objets$/);
  assert.match(await frame.locator('#note').textContent(),
    /^Seuls les 20\s000 premiers objets sur 20\s050 sont affichés : choisissez un territoire plus petit/);
  assert.ok(await frame.locator('#note').isVisible());
  const pages = answers.filter((r) => new URL(r.url()).pathname === '/ogc/collections/adresses/items');
  assert.equal(pages.length, 20);
  // One canvas, no element per object.
  assert.equal(await frame.locator('.leaflet-overlay-pane canvas').count(), 1);
  assert.equal(await drawn(frame).count(), 0);
  // The list holds the first thousand by name; an address is named by its number and street.
  await frame.locator('#voir-liste').click();
  assert.match(await frame.locator('#liste-note').textContent(), /^Les 1\s000 premiers objets par ordre alphabétique\.$/);
  const items = frame.locator('#liste-objets button');
  assert.equal(await items.count(), 1000);
  assert.equal(await items.first().textContent(), '1 Rue n° 1');
  await items.first().click();
  const popup = frame.locator('.leaflet-popup-content');
  await popup.waitFor();
  assert.equal(await popup.locator('h2').textContent(), '1 Rue n° 1');
  const dts = await popup.locator('dt').allTextContents();
  assert.equal(await popup.locator('dd').nth(dts.indexOf('Position')).textContent(), 'Entrée');
  assert.ok(!dts.includes('Numéro'), dts.join(', '));
  await context.close();
});

// --- the open-data page --------------------------------------------------------

async function visitor(viewport = { width: 1100, height: 900 }) {
  const context = await browser.newContext({ viewport, permissions: ['clipboard-read', 'clipboard-write'] });
  const p = await context.newPage();
  p.on('pageerror', (e) => errors.push(`visitor ${p.url()}: ${e.message}`));
  p.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      errors.push(`visitor ${p.url()}: ${m.text()}`);
    }
  });
  return { context, p };
}

const expectedSnippet = (theme, label, territory, w, h) =>
  `<iframe src="${srv.base}/widget?theme=${theme}&amp;territory=${territory}" title="Carte : ${label}, territoire ${territory}" ` +
  `width="${w}" height="${h}" loading="lazy"></iframe>`;

test('a visitor reads what is published and where, from the navigation', async () => {
  const { context, p } = await visitor();
  await p.goto(`${srv.base}/`);
  await p.locator('#connexion').waitFor();
  assert.deepEqual(await navLinks(p), ['Accueil', 'Données ouvertes']);
  await p.getByRole('link', { name: 'Données ouvertes' }).click();
  await p.getByRole('heading', { level: 1, name: 'Données ouvertes' }).waitFor();
  assert.equal(await p.locator('#nav a[aria-current="page"]').textContent(), 'Données ouvertes');
  await p.locator('#jeux > li').nth(2).waitFor();
  assert.deepEqual(await p.locator('#jeux > li h3').allTextContents(), [ERP_LABEL, 'Équipements collectifs', 'Adresses']);
  assert.match(await p.locator('#licence').textContent(), /^Licence : Licence Ouverte 2\.0 \(Etalab\)/);
  // Every address given answers.
  const hrefs = await p.locator('main a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  for (const want of ['/ogc', '/ogc/collections?f=html', '/ogc/api', '/ogc/collections?f=jsonld', '/api/v1/openapi.json']) {
    assert.ok(hrefs.includes(want), `${want} in ${hrefs.join(', ')}`);
  }
  for (const href of hrefs.filter((x) => x.startsWith('/'))) {
    const r = await context.request.get(srv.base + href);
    assert.equal(r.status(), 200, href);
  }
  await context.close();
});

test('the snippet generator previews the map and gives the code to paste', async () => {
  const { context, p } = await visitor();
  await p.goto(`${srv.base}/donnees.html`);
  await p.locator('#jeux > li').first().waitFor();
  assert.deepEqual(await p.locator('#w-theme option').allTextContents(), [ERP_LABEL, 'Équipements collectifs', 'Adresses']);
  await p.getByLabel('Thème').selectOption({ label: ERP_LABEL });
  await p.getByLabel('Territoire').fill('31');
  await p.getByLabel('Largeur (pixels)').fill('500');
  await p.getByLabel('Hauteur (pixels)').fill('400');
  await p.getByRole('button', { name: 'Générer le code' }).click();
  const code = p.getByLabel('Code à coller dans votre page');
  await code.waitFor();
  const want = expectedSnippet('erp', ERP_LABEL, '31', 500, 400);
  assert.equal(await code.inputValue(), want);
  assert.equal(await code.getAttribute('readonly'), '');
  // The preview is the widget itself, at the size chosen.
  const iframe = p.locator('#apercu iframe');
  assert.equal(await iframe.getAttribute('src'), `${srv.base}/widget?theme=erp&territory=31`);
  assert.deepEqual([await iframe.getAttribute('width'), await iframe.getAttribute('height')], ['500', '400']);
  const preview = p.frameLocator('#apercu iframe');
  assert.equal(await settled(preview), 'pret');
  assert.equal(await drawn(preview).count(), 4);
  // Copy puts the same text on the clipboard.
  await p.getByRole('button', { name: 'Copier' }).click();
  await p.locator('#copie.ok').waitFor();
  assert.equal(await p.evaluate(() => navigator.clipboard.readText()), want);

  // A change follows at once: a commune, lower case and spaces forgiven.
  await p.getByLabel('Thème').selectOption('equipco');
  await p.getByLabel('Territoire').fill(' 31555 ');
  await p.getByLabel('Territoire').press('Tab');
  await p.waitForFunction(() => document.getElementById('w-code').value.includes('31555'));
  assert.equal(await code.inputValue(), expectedSnippet('equipco', 'Équipements collectifs', '31555', 500, 400));
  assert.equal(await p.getByLabel('Territoire').inputValue(), '31555');
  assert.equal(await settled(preview), 'pret');
  assert.equal(await drawn(preview).count(), 2);
  await p.getByLabel('Territoire').fill('2a');
  await p.getByRole('button', { name: 'Générer le code' }).click();
  assert.equal(await code.inputValue(), expectedSnippet('equipco', 'Équipements collectifs', '2A', 500, 400));
  await context.close();
});

test('a bad territory or size is refused beside its field, in French, like the server would', async () => {
  const { context, p } = await visitor();
  await p.goto(`${srv.base}/donnees.html`);
  await p.locator('#jeux > li').first().waitFor();
  const territoire = p.getByLabel('Territoire');
  const generer = p.getByRole('button', { name: 'Générer le code' });
  for (const bad of ['3', '20', '96', '977', '3155', '315555', '31A55', '97711']) {
    await territoire.fill(bad);
    await generer.click();
    const msg = p.locator('#w-territoire-erreur');
    await msg.waitFor();
    assert.match(await msg.textContent(), /^Code de territoire invalide : un département/, bad);
    assert.equal(await territoire.getAttribute('aria-invalid'), 'true', bad);
    assert.equal(await p.locator('#resultat').isHidden(), true, bad);
    // The server refuses it too (but for 96: it takes 96 to 99, which are no département).
    const r = await context.request.get(`${srv.base}/widget?theme=erp&territory=${bad}`);
    if (bad !== '96') assert.equal(r.status(), 400, bad);
  }
  for (const good of ['2B', '974', '97411', '01', '95']) {
    await territoire.fill(good);
    await generer.click();
    await p.locator('#resultat:not([hidden])').waitFor();
    assert.equal(await p.locator('.erreur-champ').count(), 0, good);
    const r = await context.request.get(`${srv.base}/widget?theme=erp&territory=${good}`);
    assert.equal(r.status(), 200, good);
  }
  await territoire.fill('31');
  await p.getByLabel('Largeur (pixels)').fill('100');
  await generer.click();
  assert.equal(await p.locator('#w-largeur-erreur').textContent(), 'La largeur doit être un nombre entier de 280 à 2000 pixels.');
  await p.getByLabel('Largeur (pixels)').fill('600');
  await p.getByLabel('Hauteur (pixels)').fill('12.5');
  await generer.click();
  assert.equal(await p.locator('#w-hauteur-erreur').textContent(), 'La hauteur doit être un nombre entier de 200 à 2000 pixels.');
  await context.close();
});

test('signed in, the page is in the navigation and the preview still sends no cookie', async () => {
  const p = await signedInTab(browser, srv.base, 'agent', u.agent, { errors, failures });
  assert.equal((await navLinks(p)).at(-1), 'Données ouvertes');
  assert.ok((await p.locator('#raccourcis strong').allTextContents()).includes('Données ouvertes'));
  assert.ok((await p.context().cookies()).some((c) => c.name === 'guichet_session'));
  const sent = [];
  p.on('request', (r) => { if (r.frame() !== p.mainFrame()) sent.push(r); });
  await p.goto(`${srv.base}/donnees.html`);
  await p.getByLabel('Territoire').fill('34');
  await p.getByRole('button', { name: 'Générer le code' }).click();
  assert.equal(await settled(p.frameLocator('#apercu iframe')), 'pret');
  const fetched = sent.filter((r) => /^\/(ogc|api)\//.test(new URL(r.url()).pathname));
  assert.ok(fetched.length >= 4, fetched.map((r) => r.url()).join(', '));
  for (const r of fetched) assert.equal((await r.allHeaders()).cookie, undefined, `Cookie sent to ${r.url()}`);
  await p.context().close();
});

test('the open-data page fits a 360 px wide phone, preview included', async () => {
  await assertFitsPhone(browser, srv.base, u.agent, ['/donnees.html'], errors, '#jeux > li');
  const { context, p } = await visitor({ width: 360, height: 740 });
  await p.goto(`${srv.base}/donnees.html`);
  await p.getByLabel('Territoire').fill('31');
  await p.getByRole('button', { name: 'Générer le code' }).click();
  assert.equal(await settled(p.frameLocator('#apercu iframe')), 'pret');
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page overflows by ${overflow}px at 360 px`);
  await context.close();
});

test('no script error, no unexpected API error, no CSP violation on the guichet', () => {
  assert.deepEqual(errors, []);
  assert.deepEqual(failures.filter(([, m, path, status]) => !(m === 'GET' && path === '/api/v1/session' && status === 401)), []);
  assert.doesNotMatch(srv.stderr(), /csp-violation/);
});
