// The three guichets in a real browser: a field agent of Toulouse fills
// each form and places its geometry on the map (a point by a click, an
// outline by clicks), sees field errors beside their fields, confirms a
// look-alike warning, and the stored rows are what was entered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, psql } from '../api/harness.mjs';
import { FAST_ARGON2, fixture } from '../api/accounts.mjs';
import { launch, login } from './browser.mjs';

let srv;
let fx;
let browser;
let page;
const errors = [];

before(async () => {
  srv = await startServer({ env: { ...FAST_ARGON2 }, refdata: true });
  fx = fixture(srv.db);
  browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  await login(page, srv.base, fx.users.contributor.email, fx.users.contributor.password);
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

async function openForm(guichet) {
  await page.goto(`${srv.base}/saisie.html?guichet=${guichet}`);
  await page.locator('#champs .champ').first().waitFor();
  await page.locator('#carte.leaflet-container').waitFor();
  await page.waitForLoadState('networkidle');
}

// Clicks the map at (dx, dy) pixels from its centre; returns the point's text.
async function clickMap(dx = 0, dy = 0) {
  const box = await page.locator('#carte').boundingBox();
  await page.mouse.click(box.x + box.width / 2 + dx, box.y + box.height / 2 + dy);
}

async function submitted() {
  await page.locator('#form-saisie .message.ok').waitFor();
  const text = await page.locator('#form-saisie .message').textContent();
  return Number(/n° (\d+)/.exec(text)[1]);
}

test('an ERP: a point by a click, the form from its definition, stored as entered', async () => {
  await openForm('erp');
  await clickMap();
  assert.match(await page.locator('#coordonnees').textContent(), /^Point : 43\.\d+ N, 1\.\d+ E$/);
  await page.getByLabel("Nom de l'établissement").fill('Médiathèque José Cabanis');
  await page.getByLabel('Catégorie', { exact: true }).selectOption('2');
  await page.getByLabel('Type principal').selectOption('S');
  await page.getByLabel("Capacité d'accueil du public").fill('900');
  await page.getByLabel('Établissement public').selectOption('true');
  // Accommodation does not apply to type S: the field is hidden.
  assert.equal(await page.locator('[data-field="capacite_d_hebergement"]').isHidden(), true);
  await page.getByRole('button', { name: 'Soumettre' }).click();
  const id = await submitted();
  const row = psql(srv.db, `SELECT state, attributes->>'libelle', attributes->>'categorie', attributes->>'type_principal',
    attributes->>'capacite_d_accueil_du_public', attributes->>'public', insee_commune, GeometryType(geom) FROM submissions WHERE id = ${id}`);
  assert.equal(row, 'submitted|Médiathèque José Cabanis|2|S|900|true|31555|POINT');
});

test('field errors show beside their fields, and nothing is stored', async () => {
  const before1 = psql(srv.db, 'SELECT count(*) FROM submissions');
  await openForm('erp');
  await clickMap(30, 10);
  await page.getByLabel("Nom de l'établissement").fill('Salle Nougaro');
  await page.getByLabel('Catégorie', { exact: true }).selectOption('4');
  await page.getByLabel('Type principal').selectOption('L');
  await page.getByLabel("Capacité d'accueil du public").fill('400');
  await page.getByLabel('Numéro SIRET').fill('12345678901234');
  await page.getByRole('button', { name: 'Soumettre' }).click();
  await page.locator('[data-field="categorie"] .erreur-champ').waitFor();
  assert.match(await page.locator('[data-field="categorie"] .erreur-champ').textContent(), /catégorie 4 admet au plus 300/);
  assert.match(await page.locator('[data-field="numero_siret"] .erreur-champ').textContent(), /clé de contrôle/);
  assert.equal(await page.getByLabel('Numéro SIRET').getAttribute('aria-invalid'), 'true');
  assert.equal(psql(srv.db, 'SELECT count(*) FROM submissions'), before1);
});

test('a look-alike nearby is shown as a remark to confirm before it is submitted', async () => {
  await openForm('erp');
  await clickMap();
  await page.getByLabel("Nom de l'établissement").fill('Mediatheque Jose Cabanis');
  await page.getByLabel('Catégorie', { exact: true }).selectOption('2');
  await page.getByLabel('Type principal').selectOption('S');
  await page.getByLabel("Capacité d'accueil du public").fill('900');
  await page.getByRole('button', { name: 'Soumettre' }).click();
  await page.locator('#remarques').waitFor();
  assert.match(await page.locator('#liste-remarques').textContent(), /Médiathèque José Cabanis/);
  await page.getByLabel("J'ai vérifié ces remarques et je maintiens la saisie").check();
  await page.getByRole('button', { name: 'Soumettre' }).click();
  const id = await submitted();
  assert.equal(psql(srv.db, `SELECT warnings->0->>'code' FROM submissions WHERE id = ${id}`), 'duplicate_nearby');
});

test('an équipement: an outline drawn by clicks, a nature suggested by its category', async () => {
  await openForm('equipco');
  await page.getByRole('button', { name: 'Dessiner un contour' }).click();
  await clickMap(-40, -40);
  await clickMap(40, -40);
  await clickMap(40, 40);
  await clickMap(-40, 40);
  await page.getByRole('button', { name: 'Fermer le contour' }).click();
  await page.getByLabel('Catégorie', { exact: true }).selectOption('Administratif ou militaire');
  const options = await page.locator('#champ-nature-liste option').evaluateAll((os) => os.map((o) => o.value));
  assert.ok(options.includes('Mairie'));
  await page.getByLabel('Nature').fill('Mairie');
  await page.getByLabel('Nom', { exact: true }).fill('Capitole de Toulouse');
  await page.getByRole('button', { name: 'Soumettre' }).click();
  const id = await submitted();
  const row = psql(srv.db, `SELECT attributes->>'nature', attributes->>'toponyme', GeometryType(geom), ST_NPoints(geom), insee_commune FROM submissions WHERE id = ${id}`);
  assert.equal(row, 'Mairie|Capitole de Toulouse|POLYGON|5|31555');
});

test('an address: saved as a draft, then completed and submitted', async () => {
  await openForm('adresse');
  await clickMap(-20, 20);
  await page.getByLabel('Voie ou lieu-dit').fill('Rue du Taur');
  await page.getByLabel('Numéro', { exact: true }).fill('12');
  await page.getByRole('button', { name: 'Enregistrer le brouillon' }).click();
  await page.locator('#form-saisie .message.ok').waitFor();
  assert.match(await page.locator('#form-saisie .message').textContent(), /^Brouillon n° \d+ enregistré\.$/);
  await page.getByLabel('Position').selectOption('entrée');
  await page.getByRole('button', { name: 'Soumettre' }).click();
  const id = await submitted();
  const row = psql(srv.db, `SELECT state, attributes->>'voie_nom', attributes->>'numero', attributes->>'position', attributes->>'commune_insee', version FROM submissions WHERE id = ${id}`);
  assert.equal(row, 'submitted|Rue du Taur|12|entrée|31555|2');
  await page.goto(`${srv.base}/saisies.html?guichet=adresse`);
  await page.locator('#saisies tbody tr', { hasText: 'Rue du Taur' }).waitFor();
  assert.match(await page.locator('#saisies tbody tr', { hasText: 'Rue du Taur' }).textContent(), /Soumise/);
});

test('the entry page fits a 360 px wide phone', async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  const p = await context.newPage();
  await login(p, srv.base, fx.users.contributor.email, fx.users.contributor.password);
  await p.goto(`${srv.base}/saisie.html?guichet=equipco`);
  await p.locator('#champs .champ').first().waitFor();
  await p.waitForLoadState('networkidle');
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `overflows by ${overflow}px`);
  await context.close();
});

test('no script error on the way', () => {
  assert.deepEqual(errors, []);
});
