// Exports in a real browser: a platform admin previews an ERP GeoPackage
// batch (the BD TOPO columns and the validated rows), asks for it, sees it
// written without reloading the page and downloads its file, whose bytes
// hash to the SHA-256 shown; an address batch in BAL 1.4 has one file per
// commune; a batch being written shows its progress bar, then its failure;
// a contributor is refused the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, psql, makeTemp, rmTemp, ROOT, SLOW } from '../api/harness.mjs';
import { FAST_ARGON2, Client, addOrg, addUser } from '../api/accounts.mjs';
import { assertFitsPhone, launch, navLinks, signedInTab } from './browser.mjs';

const FORM_ERP = JSON.parse(fs.readFileSync(path.join(ROOT, 'forms', 'erp.json'), 'utf8'));
const BDTOPO = FORM_ERP.fields.map((f) => f.export?.bdtopo).filter(Boolean);
const ERPS = ['Médiathèque José Cabanis', 'Gymnase Compans-Caffarelli', 'Salle Mermoz'];
const FORMAT_LABELS = ['GeoPackage (BD TOPO)', 'GeoJSON', 'CSV (noms BD TOPO)', 'CSV (noms Shapefile)',
  'Transactions IGN (Espace collaboratif)'];
const WAIT = 30_000 * SLOW;

let srv;
let exportDir;
let browser;
let u;			// the accounts
const pages = {};	// one signed-in tab per account
const errors = [];	// script errors, CSP violations
const failures = [];	// API answers >= 400: [who, method, path, status]

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// Points of Toulouse 90 m apart (ERP look-alikes are sought within 50 m).
const spot = (i) => ({ type: 'Point', coordinates: [Number((1.42 + i * 0.0009).toFixed(5)), 43.58] });

function pointIn(code) {
  const [x, y] = psql(srv.db, `SELECT round(ST_X(p)::numeric, 6), round(ST_Y(p)::numeric, 6) FROM
    (SELECT ST_PointOnSurface(geom) p FROM ref_zones WHERE kind = 'commune' AND code = '${code}') q`).split('|').map(Number);
  assert.ok(Number.isFinite(x) && Number.isFinite(y), `no outline for ${code}`);
  return { type: 'Point', coordinates: [x, y] };
}

// The agent submits a record, the platform admin validates it at once.
async function validated(agent, admin, g, attributes, geometry) {
  const r = await agent.req('POST', `/api/v1/guichets/${g}/submissions`, { attributes, geometry, submit: true, confirm_warnings: true });
  assert.equal(r.status, 201, `create ${g}: ${r.text}`);
  const v = await admin.req('POST', `/api/v1/guichets/${g}/submissions/${r.json.id}/transitions`, { action: 'validate' });
  assert.equal(v.status, 200, `validate ${g} ${r.json.id}: ${v.text}`);
  assert.equal(v.json.state, 'validated');
  return r.json.id;
}

before(async () => {
  exportDir = makeTemp('guichet-exports-');
  srv = await startServer({ env: { ...FAST_ARGON2, GUICHET_EXPORT_DIR: exportDir }, refdata: true });
  const db = srv.db;
  const metropole = addOrg(db, { name: 'Toulouse Métropole', kind: 'epci', communes: '31555,31069' });
  const openig = addOrg(db, { name: 'OPenIG', kind: 'openig', departements: '31,34' });
  u = {
    agent: addUser(db, { email: 'agent@metropole.test', name: 'Agent de la métropole', org: metropole, role: 'contributor' }),
    admin: addUser(db, { email: 'admin@openig.test', name: 'Administratrice OPenIG', org: openig, role: 'admin' }),
  };
  const agent = new Client(srv.base);
  await agent.login(u.agent.email, u.agent.password);
  const admin = new Client(srv.base);
  await admin.login(u.admin.email, u.admin.password);
  for (const [i, libelle] of ERPS.entries()) {
    await validated(agent, admin, 'erp', { libelle, categorie: '2', type_principal: 'L', capacite_d_accueil_du_public: 800 + i }, spot(i * 4));
  }
  await validated(agent, admin, 'adresse', { voie_nom: 'Rue du Taur', numero: 12, position: 'entrée' }, spot(20));
  await validated(agent, admin, 'adresse', { voie_nom: 'Rue du Taur', numero: 14, position: 'entrée' }, spot(24));
  await validated(agent, admin, 'adresse', { voie_nom: 'Avenue du Parc', numero: 3, position: 'entrée' }, pointIn('31069'));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  rmTemp(exportDir);
});

// The signed-in tab of an account (made on first use).
async function tab(who) {
  pages[who] ??= await signedInTab(browser, srv.base, who, u[who], { errors, failures, viewport: { width: 1200, height: 900 }, acceptDownloads: true });
  return pages[who];
}

async function openExports(p) {
  await p.goto(`${srv.base}/exports.html`);
  await p.locator('#lots tbody tr').first().waitFor();
}

const optionTexts = (p, id) => p.locator(`#${id} option`).allTextContents();

// Asks for the batch the form describes; returns its row once written.
async function askAndWait(p) {
  await p.getByRole('button', { name: 'Demander le lot' }).click();
  await p.locator('#form-export .message.ok').waitFor();
  const id = Number(/Lot n° (\d+)/.exec(await p.locator('#form-export .message').textContent())[1]);
  const row = p.locator(`#lots tbody tr[data-id="${id}"]`);
  await row.waitFor();
  const first = await row.getAttribute('data-state');
  // No reload: the page polls while the batch waits or is being written.
  await p.locator(`#lots tbody tr[data-id="${id}"][data-state="done"]`).waitFor({ timeout: WAIT });
  return { id, row, first };
}

// Downloads a file by its link; checks its bytes against the hash shown.
async function downloadChecked(p, item) {
  const link = item.locator('a');
  const href = await link.getAttribute('href');
  const shown = (await item.locator('code.sha256').textContent()).trim();
  assert.match(shown, /^[0-9a-f]{64}$/);
  assert.equal(await item.locator('summary code').textContent(), `${shown.slice(0, 12)}…`);
  const [download] = await Promise.all([p.waitForEvent('download'), link.click()]);
  assert.equal(download.suggestedFilename(), await link.textContent());
  const bytes = fs.readFileSync(await download.path());
  assert.equal(sha256(bytes), shown);
  // The same address answers 200 with the bytes and the hash as ETag.
  const res = await p.context().request.get(srv.base + href);
  assert.equal(res.status(), 200);
  assert.equal(res.headers().etag, `"${shown}"`);
  assert.equal(sha256(await res.body()), shown);
  return bytes;
}

test('the admin has the Exports link and card; a contributor neither, and is refused the page', async () => {
  const a = await tab('admin');
  const links = await navLinks(a);
  assert.ok(links.indexOf('Exports') > links.indexOf('Mon organisation'), links.join(', '));
  assert.equal(links.indexOf('Exports') + 1, links.indexOf('Administration'), links.join(', '));
  assert.ok((await a.locator('#raccourcis strong').allTextContents()).includes('Exports'));

  const c = await tab('agent');
  assert.ok(!(await navLinks(c)).includes('Exports'));
  assert.ok(!(await c.locator('#raccourcis strong').allTextContents()).includes('Exports'));
  await c.goto(`${srv.base}/exports.html`);
  await c.getByRole('heading', { name: 'Accès refusé' }).waitFor();
  assert.match(await c.locator('main .message.ko').textContent(), /Votre rôle ne permet pas/);
  assert.equal(await c.locator('#form-export').count(), 0);
  assert.equal(await c.locator('#lots').count(), 0);
  // The API refuses it too.
  const r = await c.context().request.get(`${srv.base}/api/v1/exports`);
  assert.equal(r.status(), 403);
});

test('only the formats of the guichet are offered', async () => {
  const p = await tab('admin');
  await openExports(p);
  assert.equal(await p.locator('#lots tbody').textContent(), 'Aucun lot demandé.');
  assert.deepEqual(await optionTexts(p, 'e-guichet'), ['ERP', 'Équipements', 'Adresses']);
  assert.deepEqual(await optionTexts(p, 'e-format'), FORMAT_LABELS);
  await p.locator('#e-guichet').selectOption('adresse');
  assert.deepEqual(await optionTexts(p, 'e-format'), ['BAL 1.4 (un fichier par commune)']);
  await p.locator('#e-guichet').selectOption('equipco');
  assert.deepEqual(await optionTexts(p, 'e-format'), FORMAT_LABELS);
  await p.locator('#e-guichet').selectOption('erp');
  assert.equal(await p.getByLabel('Depuis le dernier lot').isChecked(), true);
  assert.equal(await p.getByLabel('Tout ce qui est validé').isChecked(), false);
});

test('the admin previews an ERP GeoPackage batch: BD TOPO columns and the validated rows', async () => {
  const p = await tab('admin');
  await openExports(p);
  await p.locator('#e-guichet').selectOption('erp');
  await p.getByLabel('Format').selectOption({ label: 'GeoPackage (BD TOPO)' });
  await p.getByLabel('Départements (facultatif)').fill('31');
  assert.equal(await p.locator('#apercu').isHidden(), true);
  await p.getByRole('button', { name: 'Aperçu' }).click();
  await p.locator('#apercu:not([hidden])').waitFor();
  const headers = await p.locator('#apercu-table thead th').allTextContents();
  assert.equal(headers[0], 'WKT');
  for (const c of BDTOPO) assert.ok(headers.includes(c), `${c} in ${headers.join(', ')}`);
  const rows = p.locator('#apercu-table tbody tr');
  assert.equal(await rows.count(), ERPS.length);
  const libelles = await p.locator(`#apercu-table tbody tr td:nth-child(${headers.indexOf('libelle') + 1})`).allTextContents();
  assert.deepEqual([...libelles].sort(), [...ERPS].sort());
  assert.match(await rows.first().locator('td').first().textContent(), /^POINT/);
  assert.match(await p.locator('#apercu-info').textContent(), /^Les 3 lignes du lot/);
  // The table scrolls sideways inside its box, not the page.
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page overflows by ${overflow}px`);
  // A change of the form hides a preview that no longer matches it.
  await p.getByLabel('Tout ce qui est validé').check();
  assert.equal(await p.locator('#apercu').isHidden(), true);
  await p.getByLabel('Depuis le dernier lot').check();
});

test('the admin asks for it, sees it written and downloads its file', async () => {
  const p = await tab('admin');
  const { id, row, first } = await askAndWait(p);
  assert.ok(['queued', 'running', 'done'].includes(first), first);
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[0], String(id));
  assert.equal(cells[1], 'ERP');
  assert.equal(cells[2], 'GeoPackage (BD TOPO)');
  assert.equal(cells[3], 'Depuis le dernier lot');
  assert.equal(cells[4], 'départements 31');
  assert.equal(cells[5], 'Terminé');
  assert.equal(cells[6], '3 créations, 0 modification, 0 suppression');
  assert.match(cells[7], /\d.*par Administratrice OPenIG$/);
  const items = row.locator('td.fichiers li');
  assert.equal(await items.count(), 1);
  const item = items.first();
  assert.match(await item.locator('a').textContent(), /^erp_increment_lot\d+\.gpkg$/);
  assert.match(await item.locator('.taille').textContent(), /^\(\d+(,\d)? (Ko|Mo), 3 lignes\)$/);
  const bytes = await downloadChecked(p, item);
  assert.equal(bytes.subarray(0, 16).toString('latin1'), 'SQLite format 3\0');
  assert.equal(psql(srv.db, `SELECT state || '|' || total || '|' || progress FROM export_batches WHERE id = ${id}`), 'done|3|3');
  // The same list after a reload, filtered by guichet.
  await p.goto(`${srv.base}/exports.html?guichet=adresse`);
  await p.locator('#lots tbody tr').first().waitFor();
  assert.equal(await p.locator(`#lots tbody tr[data-id="${id}"]`).count(), 0);
  await p.locator('#l-guichet').selectOption('erp');
  await p.locator(`#lots tbody tr[data-id="${id}"]`).waitFor();
  assert.match(p.url(), /\?guichet=erp$/);
});

test('an address batch in BAL has one file per commune', async () => {
  const p = await tab('admin');
  await openExports(p);
  await p.locator('#e-guichet').selectOption('adresse');
  assert.equal(await p.locator('#e-format').inputValue(), 'bal');
  await p.getByLabel('Tout ce qui est validé').check();
  await p.getByRole('button', { name: 'Aperçu' }).click();
  await p.locator('#apercu:not([hidden])').waitFor();
  const headers = await p.locator('#apercu-table thead th').allTextContents();
  for (const c of ['cle_interop', 'commune_insee', 'voie_nom', 'numero', 'position', 'long', 'lat']) {
    assert.ok(headers.includes(c), `${c} in ${headers.join(', ')}`);
  }
  assert.equal(await p.locator('#apercu-table tbody tr').count(), 3);
  const { row } = await askAndWait(p);
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[1], 'Adresses');
  assert.equal(cells[2], 'BAL 1.4 (un fichier par commune)');
  assert.equal(cells[3], 'Tout ce qui est validé');
  assert.equal(cells[4], 'tout le territoire');
  assert.equal(cells[6], '3 créations, 0 modification, 0 suppression');
  const items = row.locator('td.fichiers li');
  assert.equal(await items.count(), 2);
  const names = await items.locator('a').allTextContents();
  assert.ok(names.every((n) => /^\d{8}_bal_\w+_[\w-]+\.csv$/.test(n)), names.join(', '));
  const toulouse = items.filter({ has: p.locator('a', { hasText: /toulouse/i }) });
  const blagnac = items.filter({ has: p.locator('a', { hasText: /blagnac/i }) });
  assert.match(await toulouse.locator('.taille').textContent(), /, 2 lignes\)$/);
  assert.match(await blagnac.locator('.taille').textContent(), /, 1 ligne\)$/);
  const text = (await downloadChecked(p, blagnac)).toString('utf8');
  const [head, line] = text.trim().split('\n');
  assert.ok(head.startsWith('cle_interop;commune_insee;'), head);
  assert.match(line, /;31069;/);
  assert.match(line, /Avenue du Parc/);
});

test('a batch being written shows its progress, then its failure, without a reload', async () => {
  const p = await tab('admin');
  // A batch a writer holds (fresh heartbeat: no worker takes it over).
  const id = Number(psql(srv.db, `INSERT INTO export_batches (guichet, format, mode, scope, after_seq, upto_seq,
    state, progress, total, attempts, created_by, started_at, heartbeat_at)
    VALUES ('equipco', 'geojson', 'full', guichet_scope('{}', '{}'), -1, 0, 'running', 4, 10, 1, ${u.admin.id}, now(), now())
    RETURNING id`).split('\n')[0]);
  await openExports(p);
  const row = p.locator(`#lots tbody tr[data-id="${id}"]`);
  await row.waitFor();
  assert.equal(await row.getAttribute('data-state'), 'running');
  assert.match(await row.locator('td.etat').textContent(), /^En cours/);
  const bar = row.getByRole('progressbar', { name: `Avancement du lot n° ${id}` });
  assert.equal(await bar.evaluate((b) => b.value), 4);
  assert.equal(await bar.evaluate((b) => b.max), 10);
  assert.equal(await row.locator('.avancement').textContent(), '4 / 10');
  assert.match(await p.locator('#lots-etat').textContent(), /dont 1 en préparation/);
  psql(srv.db, `UPDATE export_batches SET progress = 7 WHERE id = ${id}`);
  await p.locator(`#lots tbody tr[data-id="${id}"] .avancement`, { hasText: '7 / 10' }).waitFor({ timeout: 5000 * SLOW });
  psql(srv.db, `UPDATE export_batches SET state = 'failed', error = 'écriture : plus de place sur le disque', finished_at = now() WHERE id = ${id}`);
  await p.locator(`#lots tbody tr[data-id="${id}"][data-state="failed"]`).waitFor({ timeout: 5000 * SLOW });
  assert.equal(await row.locator('td.etat').textContent(), 'Échecécriture : plus de place sur le disque');
  assert.equal(await row.locator('.erreur-lot').textContent(), 'écriture : plus de place sur le disque');
  assert.equal(await row.locator('progress').count(), 0);
  assert.equal(await row.locator('td.fichiers').textContent(), '—');
  // Nothing waits any more: the page stops asking.
  const before = [];
  const listen = (r) => { if (new URL(r.url()).pathname === '/api/v1/exports') before.push(r.url()); };
  p.on('request', listen);
  await p.waitForTimeout(2500);
  p.off('request', listen);
  assert.deepEqual(before, []);
});

test('the exports page fits a 360 px wide phone', async () => {
  await assertFitsPhone(browser, srv.base, u.admin, ['/exports.html'], errors, '#lots tbody tr');
});

test('no script error, no CSP violation, no unexpected API error', () => {
  assert.deepEqual(errors, []);
  const expected = ([who, m, p, status]) =>
    (m === 'GET' && p === '/api/v1/session' && status === 401)		// the home page before login
    || (who === 'agent' && m === 'GET' && p === '/api/v1/exports' && status === 403);	// asked on purpose
  assert.deepEqual(failures.filter((f) => !expected(f)), []);
  assert.doesNotMatch(srv.stderr(), /csp-violation/);
});
