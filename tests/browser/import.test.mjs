// Imports in a real browser: the agent of the Commune de Toulouse puts a
// CSV of ERP into the guichet — the file goes up with its progress (a file
// too large and one unreadable are refused in French), the columns are
// mapped beside the first rows (the suggested mapping kept but for two
// fields, the values of the lists mapped, one typed in), the mapping's
// errors are shown beside what they name; the dry run's report counts the
// lines and lists their problems in French, filtered and page by page; the
// lines without errors are recorded (the SDIS 31 reviewer finds them in its
// queue), then the batch is undone; an import a reviewer already acted on
// is reopened from the list and cannot be undone. An authority gets the
// « Valider directement » box; a check in progress shows its progress.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, psql, pointsIn, makeTemp, rmTemp, waitFor, SLOW } from '../api/harness.mjs';
import { FAST_ARGON2, Client, addOrg, addUser } from '../api/accounts.mjs';
import { assertFitsPhone, launch, navLinks, signedInTab } from './browser.mjs';

const MAX_BYTES = 3 * 1024 * 1024;	// the server's import_max_bytes here
const WAIT = 30_000 * SLOW;
const HEADER = ['Nom', 'Catégorie', 'Type', "Capacité d'accueil du public", 'X', 'Y', 'Remarque'];
const LIBELLE = "Nom de l'établissement";

let srv;
let dir;
let browser;
let u;			// the accounts
const pages = {};	// one signed-in tab per account
const errors = [];	// script errors, CSP violations
const failures = [];	// API answers >= 400: [who, method, path, status]
const imports = {};	// ids of the imports made: main, reviewed, watched
let csv;		// the main file
let quartiers;		// its valid lines beyond the first ones

// A point as Lambert-93 X and Y (EPSG:2154), as a French base gives them.
function lambert93(p) {
  const [lon, lat] = p.coordinates;
  return psql(srv.db, `SELECT round(ST_X(q)::numeric, 2) || ' ' || round(ST_Y(q)::numeric, 2) FROM
    (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(${lon}, ${lat}), 4326), 2154) q) t`).split(' ');
}

const line = (values) => values.join(';');

// 23 lines: the first five make the sample (two values of the Catégorie
// column, "5e" to map and "4" as it is; "Salle" and "Magasin" for the
// type), then a type only the rest of the file has (Gymnase, typed in), one
// never mapped (Piscine), a place in Blagnac (outside the agent's
// territory), a line without coordinates, and 14 plain rooms.
function mainCsv() {
  const pts = pointsIn(srv.db, '31555', 20).map(lambert93);
  const [blagnac] = pointsIn(srv.db, '31069', 1).map(lambert93);
  quartiers = Array.from({ length: 14 }, (_, i) => `Salle de quartier ${i + 1}`);
  const rows = [
    ['Salle Bleue', '5e', 'Salle', 80, ...pts[0], ''],
    ['Boutique du Capitole', '5e', 'Magasin', 50, ...pts[1], 'vitrine'],
    ['', '5e', 'Salle', 40, ...pts[2], 'nom perdu'],
    ['Salle des fêtes', '4', 'Salle', 500, ...pts[3], ''],
    ['Salle Bleue', '5e', 'Salle', 80, ...pts[0], 'doublon'],
    ['Gymnase Compans', '5e', 'Gymnase', 150, ...pts[4], ''],
    ['Piscine Nakache', '5e', 'Piscine', 120, ...pts[5], ''],
    ['Médiathèque de Blagnac', '5e', 'Salle', 90, ...blagnac, ''],
    ['Salle sans position', '5e', 'Salle', 70, '', '', ''],
    ...quartiers.map((n, i) => [n, '5e', 'Salle', 60, ...pts[6 + i], '']),
  ];
  return `${[HEADER, ...rows].map(line).join('\r\n')}\r\n`;
}

before(async () => {
  dir = makeTemp('guichet-import-browser-');
  srv = await startServer({ env: { ...FAST_ARGON2, GUICHET_IMPORT_DIR: dir, GUICHET_IMPORT_MAX_BYTES: MAX_BYTES }, refdata: true });
  const db = srv.db;
  const toulouse = addOrg(db, { name: 'Commune de Toulouse', kind: 'commune', communes: '31555' });
  const sdis31 = addOrg(db, { name: 'SDIS 31 (Haute-Garonne)', kind: 'sdis', departements: '31' });
  u = {
    agent: addUser(db, { email: 'agent@toulouse.test', name: 'Agent de Toulouse', org: toulouse, role: 'contributor' }),
    sdis31: addUser(db, { email: 'relecteur@sdis31.test', name: 'Relecteur SDIS 31', org: sdis31, role: 'reviewer' }),
  };
  csv = mainCsv();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  rmTemp(dir);
});

// The signed-in tab of an account (made on first use).
async function tab(who) {
  pages[who] ??= await signedInTab(browser, srv.base, who, u[who], { errors, failures, acceptDownloads: true });
  return pages[who];
}

async function client(who) {
  const c = new Client(srv.base);
  await c.login(u[who].email, u[who].password);
  return c;
}

async function until(c, id, states) {
  return waitFor(async () => {
    const g = await c.req('GET', `/api/v1/imports/${id}`);
    return states.includes(g.json.state) ? g.json : null;
  }, { timeoutMs: WAIT, what: `import ${id} ${states.join('|')}` });
}

const file = (name, text) => ({ name, mimeType: 'text/csv', buffer: Buffer.from(text) });
const importState = (id) => psql(srv.db, `SELECT state FROM imports WHERE id = ${id}`);
const fieldSelect = (p, name) => p.locator(`#m-liste select[data-field="${name}"]`);
const valueSelect = (p, field, source) => p.locator(`#m-valeurs select[data-field="${field}"][data-source="${source}"]`);
const rowTexts = (p) => p.locator('#lignes tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));

async function openPage(p, query = '') {
  await p.goto(`${srv.base}/import.html${query}`);
  await p.locator('#imports tbody tr').first().waitFor();
}

async function chooseAndUpload(p, guichet, f) {
  await p.getByLabel('Guichet').selectOption(guichet);
  await p.getByLabel('Fichier (CSV, GeoJSON ou GeoPackage)').setInputFiles(f);
  await p.getByRole('button', { name: 'Déposer le fichier' }).click();
}

// --- navigation -------------------------------------------------------------------

test('the page is in everyone’s navigation, after « Mes saisies », and on the home page', async () => {
  const p = await tab('agent');
  const links = await navLinks(p);
  assert.equal(links.indexOf('Importer un fichier'), links.indexOf('Mes saisies') + 1, links.join(', '));
  assert.ok((await p.locator('#raccourcis strong').allTextContents()).includes('Importer un fichier'));
  await p.getByRole('link', { name: 'Importer un fichier' }).first().click();
  await p.getByRole('heading', { level: 1, name: 'Importer un fichier' }).waitFor();
  assert.equal(await p.locator('#nav a[aria-current="page"]').textContent(), 'Importer un fichier');
  await p.locator('#imports tbody tr').first().waitFor();
  assert.equal(await p.locator('#imports tbody').textContent(), 'Aucun import pour l’instant.');
  assert.deepEqual(await p.locator('#d-guichet option').allTextContents(), ['ERP', 'Équipements', 'Adresses']);
  assert.ok(await p.locator('#correspondance').isHidden());
  assert.ok(await p.locator('#rapport').isHidden());
});

// --- the upload -----------------------------------------------------------------------

test('a file missing, too large or unreadable is refused in French, beside the file', async () => {
  const p = await tab('agent');
  await openPage(p);
  const fm = p.locator('#form-depot');
  await p.getByRole('button', { name: 'Déposer le fichier' }).click();
  assert.equal(await fm.locator('.erreur-champ').textContent(), 'Choisissez le fichier à importer.');
  assert.equal(await p.locator('#d-fichier').getAttribute('aria-invalid'), 'true');

  // The server's limit is told, and a larger file refused before it is sent.
  assert.equal(await p.locator('#d-taille-max').textContent(), ' Taille maximale : 3 Mo.');
  await chooseAndUpload(p, 'erp', { name: 'enorme.csv', mimeType: 'text/csv', buffer: Buffer.alloc(MAX_BYTES + 512 * 1024, 'a') });
  assert.equal(await fm.locator('.erreur-champ').textContent(),
    'Ce fichier (3,5 Mo) dépasse la taille maximale acceptée (3 Mo) : découpez-le en plusieurs fichiers.');
  assert.equal(await p.locator('#d-fichier').getAttribute('aria-invalid'), 'true');

  await chooseAndUpload(p, 'erp', { name: 'carte.gpkg', mimeType: 'application/geopackage+sqlite3', buffer: Buffer.from('pas une base SQLite') });
  await fm.locator('.erreur-champ').waitFor({ timeout: WAIT });
  assert.ok((await fm.locator('.erreur-champ').textContent()).length > 0);
  assert.equal(await p.locator('#d-fichier').getAttribute('aria-invalid'), 'true');
  assert.ok(await p.locator('#import').isHidden());
  assert.equal(psql(srv.db, 'SELECT count(*) FROM imports'), '0');
});

test('a large file goes up with its progress told as it goes', async () => {
  const p = await tab('agent');
  await openPage(p);
  // A slow line (2 Mbit/s up), so that the progress is seen: about 2 s.
  const cdp = await p.context().newCDPSession(p);
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
  const told = [];
  await p.exposeFunction('noteProgress', (t) => told.push(t));
  await p.evaluate(() => new MutationObserver(() => window.noteProgress(document.getElementById('d-etat').textContent))
    .observe(document.getElementById('d-etat'), { childList: true, characterData: true, subtree: true }));
  const big = `${line(HEADER)}\r\n${'Salle;5;L;10;574000;6280000;'.padEnd(200, 'x').concat('\r\n').repeat(2500)}`;
  await chooseAndUpload(p, 'erp', file('gros.csv', big));
  await p.locator('#import').waitFor({ timeout: WAIT });
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const percents = told.map((t) => /^Envoi : (\d+) %/.exec(t)?.[1]).filter(Boolean).map(Number);
  assert.ok(percents.length >= 2, told.join(' | '));
  assert.ok(percents.some((x) => x > 0 && x < 100), told.join(' | '));
  assert.deepEqual([...percents].sort((a, b) => a - b), percents, 'the progress only grows');
  assert.equal(told.at(-1).replace(/\d+/, 'N'), 'Fichier déposé : import n° N.');
  assert.equal(await p.locator('#d-progression').evaluate((b) => b.value), 100);
  imports.big = Number(new URL(p.url()).searchParams.get('id'));
  assert.equal(importState(imports.big), 'uploaded');
  // Not wanted after all: cancelled before anything was recorded.
  await p.getByRole('button', { name: 'Annuler cet import' }).click();
  await p.getByText('L’import sera abandonné. Rien n’a encore été enregistré').waitFor();
  await p.getByRole('button', { name: 'Confirmer l\'annulation' }).click();
  await p.locator('#message-import.ok').waitFor();
  assert.equal(await p.locator('#message-import').textContent(), 'Import annulé.');
  assert.equal(await p.locator('#import-etat').getAttribute('data-state'), 'cancelled');
  assert.equal(importState(imports.big), 'cancelled');
  assert.ok(await p.getByRole('button', { name: 'Annuler cet import' }).isHidden());
  assert.ok(await p.getByRole('button', { name: 'Vérifier' }).isHidden());
});

test('the CSV is uploaded: its import opens, with its own address', async () => {
  const p = await tab('agent');
  await openPage(p);
  await chooseAndUpload(p, 'erp', file('etablissements.csv', csv));
  await p.locator('#import').waitFor();
  imports.main = Number(new URL(p.url()).searchParams.get('id'));
  assert.ok(imports.main > 0);
  assert.equal(await p.locator('#import-titre').textContent(), `Import n° ${imports.main} — etablissements.csv`);
  assert.equal(await p.evaluate(() => document.activeElement?.id), 'import-titre');
  const facts = await p.locator('#import-fiche dd').allTextContents();
  assert.equal(facts[0], 'ERP');
  assert.match(facts[1], /^etablissements\.csv \(CSV, UTF-8, séparateur « ; », \d+(,\d)? Ko\)$/);
  assert.equal(facts[3], 'Déposé');
  assert.match(await p.locator('#message-import').textContent(), /^Fichier déposé \(.*\) : faites correspondre ses colonnes/);
  assert.ok(await p.locator('#depot').isHidden());
  // The list has it, marked as the one shown.
  await p.locator(`#imports tbody tr[data-id="${imports.main}"][aria-current="true"]`).waitFor();
});

// --- the mapping -------------------------------------------------------------------

test('the mapping shows the first rows, the required fields first, and what the server suggests', async () => {
  const p = await tab('agent');
  assert.deepEqual(await p.locator('#apercu thead th').allTextContents(), HEADER);
  assert.equal(await p.locator('#apercu tbody tr').count(), 5);
  assert.deepEqual((await p.locator('#apercu tbody tr').first().locator('td').allTextContents()).slice(0, 4),
    ['Salle Bleue', '5e', 'Salle', '80']);
  assert.equal(await p.locator('#apercu-info').textContent(), '7 colonnes ; les 5 premières lignes du fichier.');

  const labels = await p.locator('#m-liste label').allTextContents();
  assert.deepEqual(labels.slice(0, 3), [`${LIBELLE} (obligatoire)`, 'Catégorie (obligatoire)', 'Type principal (obligatoire)']);
  assert.equal(await p.locator('#m-liste label.requis').count(), 3);
  assert.equal(labels[3], 'Types secondaires');
  // Suggested from the names: the category, the capacity, X and Y.
  assert.equal(await fieldSelect(p, 'categorie').inputValue(), 'Catégorie');
  assert.equal(await fieldSelect(p, 'capacite_d_accueil_du_public').inputValue(), "Capacité d'accueil du public");
  assert.equal(await fieldSelect(p, 'libelle').inputValue(), '');
  assert.equal(await fieldSelect(p, 'type_principal').inputValue(), '');
  assert.equal(await p.locator('#m-champ-categorie-exemple').textContent(), 'Dans l’aperçu : « 5e », « 4 »');
  assert.equal(await p.locator('#m-champ-libelle-exemple').textContent(),
    'Aucune colonne : ce champ obligatoire manquera à chaque ligne.');
  assert.equal(await p.getByLabel('Deux colonnes X et Y en Lambert-93 (EPSG:2154)').isChecked(), true);
  assert.equal(await p.getByLabel('Colonne X', { exact: true }).inputValue(), 'X');
  assert.equal(await p.getByLabel('Colonne Y', { exact: true }).inputValue(), 'Y');
  assert.equal(await p.getByLabel('Les géométries du fichier').count(), 0, 'a CSV has no geometries of its own');
  // The category is mapped: its values are to map; "5e" is not one of the form's.
  assert.deepEqual(await p.locator('#m-valeurs caption').allTextContents(), ['Catégorie — colonne « Catégorie »']);
  assert.deepEqual(await p.locator('#m-valeurs tbody th').allTextContents(), ['5e', '4']);
  assert.equal(await p.locator('#m-valeurs tr.valeur-inconnue th').textContent(), '5e');
  assert.equal(await valueSelect(p, 'categorie', '4').locator('option:checked').textContent(), 'Telle quelle');
  assert.equal(await valueSelect(p, 'categorie', '5e').locator('option:checked').textContent(), 'À choisir (sinon, erreur)');
  // A commune is no authority for ERP: no « Valider directement ».
  assert.ok(await p.getByLabel('Valider directement').isHidden());
});

test('the agent maps the name and the type, and the values of both lists, one typed in', async () => {
  const p = await tab('agent');
  await p.getByLabel(LIBELLE).selectOption('Nom');
  assert.equal(await p.locator('#m-champ-libelle-exemple').textContent(),
    'Dans l’aperçu : « Salle Bleue », « Boutique du Capitole », « Salle des fêtes »');
  await fieldSelect(p, 'type_principal').selectOption('Type');
  assert.deepEqual(await p.locator('#m-valeurs caption').allTextContents(),
    ['Catégorie — colonne « Catégorie »', 'Type principal — colonne « Type »']);
  await p.getByLabel('Catégorie : valeur du formulaire pour « 5e »').selectOption('5');
  await p.getByLabel('Type principal : valeur du formulaire pour « Salle »').selectOption('L');
  await p.getByLabel('Type principal : valeur du formulaire pour « Magasin »').selectOption({ label: 'M — Magasins de vente, centres commerciaux' });
  // "Gymnase" is further down the file: typed in, Enter adds it and its choice gets the focus.
  await p.getByLabel('Autre valeur du fichier pour « Type principal »').fill('Gymnase');
  await p.getByLabel('Autre valeur du fichier pour « Type principal »').press('Enter');
  const gym = p.getByLabel('Type principal : valeur du formulaire pour « Gymnase »');
  await gym.waitFor();
  assert.equal(await gym.evaluate((s) => s === document.activeElement), true);
  await gym.selectOption('X');
  assert.equal(await p.locator('#correspondance').isVisible(), true);
});

test('the mapping’s errors are shown beside what they name', async () => {
  const p = await tab('agent');
  const fm = p.locator('#form-correspondance');
  // A source of geometry without its columns: said before asking the server.
  await p.getByLabel('Longitude et latitude en degrés (WGS 84)').check();
  assert.ok(await p.getByLabel('Colonne X', { exact: true }).isHidden());
  await p.getByRole('button', { name: 'Enregistrer la correspondance' }).click();
  const lon = p.getByLabel('Colonne de la longitude');
  assert.equal(await lon.getAttribute('aria-invalid'), 'true');
  assert.equal(await fm.locator('.erreur-champ').textContent(), 'Choisissez la colonne de la longitude.');
  assert.equal(await lon.evaluate((s) => s === document.activeElement), true);
  await p.getByLabel('Deux colonnes X et Y en Lambert-93 (EPSG:2154)').check();
  assert.equal(await p.getByLabel('Colonne X', { exact: true }).inputValue(), 'X');

  // A column the file lacks (a page altered by hand): the server's 400, in the fields' box.
  await p.getByLabel(LIBELLE).evaluate((s) => s.append(new Option('Colonne fantôme', 'Colonne fantôme')));
  await p.getByLabel(LIBELLE).selectOption('Colonne fantôme');
  await p.getByRole('button', { name: 'Enregistrer la correspondance' }).click();
  const err = p.locator('#m-champs .erreur-champ');
  await err.waitFor();
  assert.equal(await err.textContent(), "« mapping » nomme une colonne qui n'est pas dans le fichier.");
  assert.equal(await err.getAttribute('role'), 'alert');
  assert.equal(await p.locator('#m-champs').getAttribute('aria-describedby'), 'erreur-mapping');
  await p.getByLabel(LIBELLE).selectOption('Nom');

  // Validation asked for by a commune (the box shown by hand): the 403, beside the box.
  await p.locator('#m-valider-bloc').evaluate((d) => { d.hidden = false; });
  await p.getByLabel('Valider directement').check();
  await p.getByRole('button', { name: 'Enregistrer la correspondance' }).click();
  const refused = p.locator('#m-valider-bloc .erreur-champ');
  await refused.waitFor();
  assert.equal(await refused.textContent(), 'Seule une autorité compétente du guichet peut importer des objets validés.');
  assert.match(await p.getByLabel('Valider directement').getAttribute('aria-describedby'), /^erreur-validate /);
  await p.getByLabel('Valider directement').uncheck();
  assert.equal(psql(srv.db, `SELECT mapping->>'libelle' IS NULL FROM imports WHERE id = ${imports.main}`), 't', 'nothing saved yet');
});

test('the mapping is saved as shown', async () => {
  const p = await tab('agent');
  await p.getByRole('button', { name: 'Enregistrer la correspondance' }).click();
  await p.locator('#form-correspondance .message.ok').waitFor();
  assert.equal(await p.locator('#form-correspondance .message').textContent(), 'Correspondance enregistrée.');
  assert.equal(await p.locator('#form-correspondance .erreur-champ').count(), 0);
  const saved = JSON.parse(psql(srv.db, `SELECT json_build_object('mapping', mapping, 'geometry', geometry,
    'value_map', value_map, 'validate', validate) FROM imports WHERE id = ${imports.main}`));
  assert.deepEqual(saved.mapping, { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type',
    capacite_d_accueil_du_public: "Capacité d'accueil du public" });
  assert.deepEqual(saved.geometry, { kind: 'xy', x: 'X', y: 'Y' });
  assert.deepEqual(saved.value_map, { categorie: { '5e': '5' }, type_principal: { Salle: 'L', Magasin: 'M', Gymnase: 'X' } });
  assert.equal(saved.validate, false);
  // Read back as saved: the typed value is still there, with its choice.
  assert.deepEqual(await p.locator('#m-valeurs tbody th').allTextContents(), ['5e', '4', 'Salle', 'Magasin', 'Gymnase']);
  assert.equal(await valueSelect(p, 'type_principal', 'Gymnase').inputValue(), 'X');
  assert.ok(await p.getByLabel('Valider directement').isHidden());
});

// --- the report ----------------------------------------------------------------------

test('« Vérifier » runs the dry run; the report counts the lines and lists them in French', async () => {
  const p = await tab('agent');
  await p.getByRole('button', { name: 'Vérifier' }).click();
  await p.locator('#rapport-etat', { hasText: 'Vérification terminée : 23 lignes lues.' }).waitFor({ timeout: WAIT });
  assert.equal(await p.locator('#rapport-etat').getAttribute('role'), 'status');
  assert.equal(await p.locator('#import-etat').getAttribute('data-state'), 'checked');
  assert.deepEqual(await p.locator('#bilan li').allTextContents(), ['17 valides', '1 avec avertissement', '5 en erreur']);
  assert.equal(await p.locator('#import-lignes').textContent(), '17 valides, 1 avec avertissement, 5 en erreur');

  // All the lines, 20 a page.
  assert.equal(await p.locator('#lignes-etat').textContent(), 'Lignes 1 à 20 sur 23.');
  let rows = await rowTexts(p);
  assert.equal(rows.length, 20);
  assert.deepEqual(rows[0], ['2', 'Valide', 'Salle Bleue', '31555', '—']);
  assert.ok(await p.getByRole('button', { name: 'Lignes précédentes' }).isHidden());
  await p.getByRole('button', { name: 'Lignes suivantes' }).click();
  await p.locator('#lignes-etat', { hasText: 'Lignes 21 à 23 sur 23.' }).waitFor();
  rows = await rowTexts(p);
  assert.deepEqual(rows.map((r) => r[2]), quartiers.slice(-3));
  assert.ok(await p.getByRole('button', { name: 'Lignes suivantes' }).isHidden());

  // The errors, each with its field's label and the message of the form's rules.
  await p.getByLabel('Lignes affichées').selectOption('error');
  await p.locator('#lignes-etat', { hasText: 'Lignes 1 à 5 sur 5.' }).waitFor();
  rows = await rowTexts(p);
  assert.deepEqual(rows.map((r) => r.slice(0, 4)), [
    ['4', 'Erreur', '—', '31555'],
    ['5', 'Erreur', 'Salle des fêtes', '31555'],
    ['8', 'Erreur', 'Piscine Nakache', '31555'],
    ['9', 'Erreur', 'Médiathèque de Blagnac', '31069'],
    ['10', 'Erreur', 'Salle sans position', '—'],
  ]);
  assert.equal(rows[0][4], `${LIBELLE} : « ${LIBELLE} » est obligatoire.`);
  assert.match(rows[1][4], /^Catégorie : La catégorie 4 admet au plus 300 personnes, or la capacité d'accueil du public est de 500\.$/);
  assert.equal(rows[2][4], "Type principal : « Type principal » : « Piscine » n'est pas une valeur de la liste.");
  assert.equal(rows[3][4], 'Commune (code INSEE) : Cette commune est hors du territoire du compte qui importe.');
  assert.equal(rows[4][4], 'Géométrie : La ligne du fichier ne donne pas de géométrie (sa position est vide).');
  // The warning: a look-alike of an earlier line of the same file.
  await p.getByLabel('Lignes affichées').selectOption('warning');
  await p.locator('#lignes-etat', { hasText: 'Lignes 1 à 1 sur 1.' }).waitFor();
  assert.deepEqual(await rowTexts(p), [['6', 'Avertissement', 'Salle Bleue', '31555',
    'Avertissement — Géométrie : Cette ligne ressemble à la ligne 2 du même fichier.']]);
  await p.getByLabel('Lignes affichées').selectOption('');
  await p.locator('#lignes-etat', { hasText: 'Lignes 1 à 20 sur 23.' }).waitFor();
});

test('the report downloads as CSV', async () => {
  const p = await tab('agent');
  const link = p.getByRole('link', { name: 'Télécharger le rapport (CSV)' });
  assert.equal(await link.getAttribute('href'), `/api/v1/imports/${imports.main}/report.csv`);
  const [download] = await Promise.all([p.waitForEvent('download'), link.click()]);
  assert.equal(download.suggestedFilename(), `import-${imports.main}-rapport.csv`);
  const text = fs.readFileSync(await download.path(), 'utf8');
  const lines = text.replace(/^\uFEFF/, '').trim().split('\r\n');
  assert.equal(lines[0], 'ligne;statut;niveau;champ;code;message;nom');
  assert.ok(lines.includes('4;error;erreur;libelle;field_required;« Nom de l\'établissement » est obligatoire.;'), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('6;warning;avertissement;geometry;duplicate_in_file;')), lines.join('\n'));
});

// --- commit and cancel ------------------------------------------------------------------

test('« Enregistrer les 18 lignes sans erreur » asks first, then records them for the reviewers', async () => {
  const p = await tab('agent');
  const button = p.getByRole('button', { name: 'Enregistrer les 18 lignes sans erreur' });
  assert.match(await p.locator('#enregistrement-info').textContent(),
    /^Les 18 lignes sans erreur \(dont 1 avec avertissement\) peuvent être enregistrées en une fois, comme saisies soumises aux relecteurs ; les 5 lignes en erreur ne le seront pas\.$/);
  await button.click();
  assert.equal(await button.getAttribute('aria-expanded'), 'true');
  assert.equal(await p.evaluate(() => document.activeElement?.id), 'confirmer-enregistrement');
  assert.match(await p.locator('#confirmation-enregistrement-texte').textContent(), /^18 saisies seront créées et soumises aux relecteurs/);
  await p.getByRole('button', { name: 'Ne pas enregistrer' }).click();
  assert.ok(await p.locator('#confirmation-enregistrement').isHidden());
  assert.equal(await p.evaluate(() => document.activeElement?.textContent), 'Enregistrer les 18 lignes sans erreur');
  assert.equal(importState(imports.main), 'checked');

  await button.click();
  await p.getByRole('button', { name: 'Confirmer l\'enregistrement' }).click();
  await p.locator('#import-etat[data-state="committed"]').waitFor({ timeout: WAIT });
  assert.equal(await p.locator('#enregistrement-etat').textContent(), '18 saisies enregistrées, soumises aux relecteurs. Voir mes saisies');
  assert.equal(await p.locator('#enregistrement-etat a').getAttribute('href'), '/saisies.html?guichet=erp');
  assert.equal(psql(srv.db, `SELECT count(*) || ':' || string_agg(DISTINCT state, ',') FROM submissions WHERE import_id = ${imports.main}`),
    '18:submitted');
  // The report's names now lead to the records; the mapping no longer changes.
  const first = p.locator('#lignes tbody tr').first().locator('td').nth(2).locator('a');
  assert.match(await first.getAttribute('href'), /^\/saisie\.html\?guichet=erp&id=\d+$/);
  assert.equal(await p.getByLabel(LIBELLE).isDisabled(), true);
  assert.ok(await p.getByRole('button', { name: 'Vérifier' }).isHidden());
  assert.equal(await p.locator(`#imports tbody tr[data-id="${imports.main}"] td`).nth(3).textContent(), 'Enregistré');
});

test('the SDIS 31 reviewer is notified once of the batch, and its link opens the queue filtered on it', async () => {
  const r = await tab('sdis31');
  await r.goto(`${srv.base}/notifications.html`);
  const note = r.locator(`a[href="/moderation.html?guichet=erp&import=${imports.main}"]`);
  await note.waitFor();
  assert.equal(await note.count(), 1);
  assert.equal(await note.textContent(), 'Ouvrir les saisies du lot');
  await note.click();
  await r.waitForURL(/\/moderation\.html\?/);
  await r.locator('#file tbody tr').first().waitFor();
  assert.equal(await r.getByLabel('Lot d\'import (n°)').inputValue(), String(imports.main));
  assert.equal(await r.locator('#total').textContent(), '18 saisies');
  const names = await r.locator('#file tbody tr td:nth-child(4)').allTextContents();
  for (const n of ['Salle Bleue', 'Boutique du Capitole', 'Gymnase Compans', 'Salle de quartier 14']) assert.ok(names.includes(n), names.join(', '));
  assert.ok(!names.includes('Piscine Nakache'));
});

test('« Annuler cet import » asks first, then withdraws the records: the queue is empty again', async () => {
  const p = await tab('agent');
  await p.getByRole('button', { name: 'Annuler cet import' }).click();
  assert.match(await p.locator('#confirmation-annulation-texte').textContent(), /^Les 18 saisies enregistrées par cet import seront retirées/);
  await p.getByRole('button', { name: 'Garder l\'import' }).click();
  assert.ok(await p.locator('#confirmation-annulation').isHidden());
  await p.getByRole('button', { name: 'Annuler cet import' }).click();
  await p.getByRole('button', { name: 'Confirmer l\'annulation' }).click();
  await p.locator('#message-import.ok').waitFor();
  assert.equal(await p.locator('#message-import').textContent(), 'Import annulé : ses 18 saisies ont été retirées.');
  assert.equal(await p.locator('#import-etat').getAttribute('data-state'), 'cancelled');
  assert.match(await p.locator('#enregistrement-etat').textContent(), /^18 saisies avaient été enregistrées ; l’import est annulé, elles sont retirées\./);
  assert.equal(psql(srv.db, `SELECT string_agg(DISTINCT state, ',') FROM submissions WHERE import_id = ${imports.main}`), 'withdrawn');
  assert.ok(await p.getByRole('button', { name: 'Annuler cet import' }).isHidden());

  const r = await tab('sdis31');
  await r.reload();
  await r.locator('#file tbody tr').first().waitFor();
  assert.equal(await r.locator('#total').textContent(), 'Aucune saisie ne correspond.');
});

test('an import a reviewer acted on is reopened from the list, and its cancellation refused in French', async () => {
  // Made, checked and recorded through the API; the reviewer comments on one record.
  const agent = await client('agent');
  const pts = pointsIn(srv.db, '31555', 2);
  const text = ['libelle;categorie;type_principal;longitude;latitude',
    ...pts.map((pt, i) => `Théâtre ${i + 1};5;L;${pt.coordinates[0]};${pt.coordinates[1]}`)].join('\n');
  const up = await agent.req('POST', '/api/v1/imports?guichet=erp&filename=theatres.csv', Buffer.from(text));
  assert.equal(up.status, 201, up.text);
  imports.reviewed = up.json.id;
  assert.equal((await agent.req('POST', `/api/v1/imports/${up.json.id}/check`)).status, 202);
  await until(agent, up.json.id, ['checked']);
  assert.equal((await agent.req('POST', `/api/v1/imports/${up.json.id}/commit`)).status, 202);
  await until(agent, up.json.id, ['committed']);
  const sid = psql(srv.db, `SELECT min(id) FROM submissions WHERE import_id = ${up.json.id}`);
  const reviewer = await client('sdis31');
  const c = await reviewer.req('POST', `/api/v1/guichets/erp/submissions/${sid}/comments`, { body: 'Vu au registre de sécurité.' });
  assert.equal(c.status, 201, c.text);

  const p = await tab('agent');
  await openPage(p);
  const rows = p.locator('#imports tbody tr');
  assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.id)),
    [imports.reviewed, imports.main, imports.big].map(String));
  const row = p.locator(`#imports tbody tr[data-id="${imports.reviewed}"]`);
  assert.deepEqual((await row.locator('td').allTextContents()).slice(1, 5),
    ['ERP', 'theatres.csv', 'Enregistré', '2 valides, 0 avec avertissement, 0 en erreur, 2 enregistrées']);
  await row.getByRole('link', { name: 'theatres.csv' }).click();
  await p.waitForURL(`**/import.html?id=${imports.reviewed}`);
  await p.locator('#import-etat[data-state="committed"]').waitFor();
  assert.equal(await p.locator('#enregistrement-etat').textContent(), '2 saisies enregistrées, soumises aux relecteurs. Voir mes saisies');
  assert.deepEqual(await p.locator('#bilan li').allTextContents(), ['2 valides', '0 avec avertissement', '0 en erreur']);
  await p.getByRole('button', { name: 'Annuler cet import' }).click();
  await p.getByRole('button', { name: 'Confirmer l\'annulation' }).click();
  await p.locator('#message-import.ko').waitFor();
  assert.equal(await p.locator('#message-import').textContent(), 'Cet import ne peut plus être annulé : un relecteur a déjà agi sur '
    + 'l’une de ses saisies. Retirez ou corrigez les saisies une à une depuis « Mes saisies ».');
  assert.equal(importState(imports.reviewed), 'committed');
  assert.equal(await p.locator('#import-etat').getAttribute('data-state'), 'committed');
});

test('an unknown import number is said so', async () => {
  const p = await tab('agent');
  await p.goto(`${srv.base}/import.html?id=999999`);
  await p.locator('#form-depot .message.ko').waitFor();
  assert.equal(await p.locator('#form-depot .message').textContent(), 'L’import n° 999999 n’existe pas, ou il n’est pas de votre organisation.');
  assert.ok(await p.locator('#import').isHidden());
});

test('a check in progress shows its progress in a live region, then its outcome, without a reload', async () => {
  const agent = await client('agent');
  const up = await agent.req('POST', '/api/v1/imports?guichet=erp&filename=suivi.csv', Buffer.from('libelle;categorie\nA;5\n'));
  assert.equal(up.status, 201, up.text);
  imports.watched = up.json.id;
  // A dry run a worker holds (a fresh heartbeat: no other takes it over).
  psql(srv.db, `UPDATE imports SET state = 'checking', progress = 4, attempts = 1, heartbeat_at = now() WHERE id = ${imports.watched}`);
  const p = await tab('agent');
  await p.goto(`${srv.base}/import.html?id=${imports.watched}`);
  const status = p.locator('#rapport-etat');
  await status.filter({ hasText: 'Vérification en cours : 4 lignes vérifiées…' }).waitFor();
  assert.equal(await status.getAttribute('aria-live'), 'polite');
  assert.ok(await p.locator('#rapport-progression').isVisible());
  assert.equal(await p.getByLabel(LIBELLE).isDisabled(), true);
  psql(srv.db, `UPDATE imports SET progress = 9, heartbeat_at = now() WHERE id = ${imports.watched}`);
  await status.filter({ hasText: 'Vérification en cours : 9 lignes vérifiées…' }).waitFor({ timeout: 5000 * SLOW });
  psql(srv.db, `UPDATE imports SET state = 'failed', error = 'le fichier a disparu du serveur' WHERE id = ${imports.watched}`);
  await p.locator('#import-etat[data-state="failed"]').waitFor({ timeout: 5000 * SLOW });
  assert.equal(await status.textContent(), 'La vérification ou l’enregistrement a échoué : le fichier a disparu du serveur. Vous pouvez relancer « Vérifier ».');
  assert.ok(await p.locator('#rapport-progression').isHidden());
  assert.equal(await p.getByLabel(LIBELLE).isDisabled(), false, 'the mapping may change again');
  assert.ok(await p.getByRole('button', { name: 'Vérifier' }).isVisible());
});

test('an authority whose sign-off suffices gets « Valider directement »; the SDIS alone on ERP does not', async () => {
  // ERP needs the SDIS and the DDT(M) both: no validating alone.
  const sdis = await tab('sdis31');
  await openPage(sdis);
  const erp = pointsIn(srv.db, '31555', 1);
  await chooseAndUpload(sdis, 'erp', file('sdis.csv', `libelle;categorie;type_principal;lon;lat\r\nCinéma Utopia;5;L;${erp[0].coordinates.join(';')}\r\n`));
  await sdis.locator('#import').waitFor();
  assert.ok(await sdis.getByLabel('Valider directement').isHidden());
  // Addresses: the commune is their authority, alone.
  const p = await tab('agent');
  await openPage(p);
  const pts = pointsIn(srv.db, '31555', 1);
  await chooseAndUpload(p, 'adresse', file('adresses.csv', `commune_insee;voie_nom;numero;position;lon;lat\r\n31555;Rue du Taur;12;entrée;${pts[0].coordinates.join(';')}\r\n`));
  await p.locator('#import').waitFor();
  const id = Number(new URL(p.url()).searchParams.get('id'));
  assert.equal(await p.getByLabel('Longitude et latitude en degrés (WGS 84)').isChecked(), true);
  assert.ok(await p.getByLabel('Valider directement').isVisible());
  await p.getByLabel('Valider directement').check();
  await p.getByRole('button', { name: 'Vérifier' }).click();
  await p.getByRole('button', { name: 'Enregistrer la ligne sans erreur' }).waitFor({ timeout: WAIT });
  assert.equal(psql(srv.db, `SELECT validate FROM imports WHERE id = ${id}`), 't');
  assert.match(await p.locator('#enregistrement-info').textContent(), /comme objets validés\.$/);
  assert.equal(await p.getByLabel('Valider directement').isChecked(), true);
  // A mapping changed after the check: no recording of a report that no longer matches it.
  await fieldSelect(p, 'lieudit_complement_nom').selectOption('voie_nom');
  assert.equal(await p.getByRole('button', { name: 'Enregistrer la ligne sans erreur' }).isDisabled(), true);
  assert.match(await p.locator('#enregistrement-etat').textContent(), /^La correspondance a changé : enregistrez-la et vérifiez/);
  await p.getByRole('button', { name: 'Enregistrer la correspondance' }).click();
  await p.locator('#import-etat[data-state="uploaded"]').waitFor();
  assert.equal(await p.locator('#rapport-etat').textContent(),
    'La correspondance a changé depuis la dernière vérification : lancez « Vérifier » pour refaire le rapport.');
  assert.ok(await p.locator('#rapport-corps').isHidden());
  assert.ok(await p.locator('#enregistrement').isHidden());
  assert.equal(await p.locator('#form-correspondance .message').textContent(),
    'Correspondance enregistrée. Lancez « Vérifier » pour refaire le rapport avec elle.');
  // The list is the organisation's own: the SDIS's import is not in it.
  const listed = await p.locator('#imports tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  assert.ok(listed.includes(String(id)));
  assert.ok(!listed.includes(new URL(sdis.url()).searchParams.get('id')));
});

test('the page fits a 360 px wide phone, empty and with an import open', async () => {
  await assertFitsPhone(browser, srv.base, u.agent, ['/import.html'], errors, '#imports tbody tr');
  await assertFitsPhone(browser, srv.base, u.agent, [`/import.html?id=${imports.main}`], errors, '#lignes tbody tr');
});

test('no script error, no CSP violation, no unexpected API error', () => {
  assert.deepEqual(errors, []);
  const expected = ([who, m, p, status]) =>
    (m === 'GET' && p === '/api/v1/session' && status === 401)		// the home page before login
    || (who === 'agent' && m === 'POST' && p.startsWith('/api/v1/imports?') && [413, 422].includes(status))	// refused files
    || (who === 'agent' && m === 'PATCH' && p === `/api/v1/imports/${imports.main}` && [400, 403].includes(status))	// altered pages
    || (who === 'agent' && m === 'POST' && p === `/api/v1/imports/${imports.reviewed}/cancel` && status === 409)
    || (who === 'agent' && m === 'GET' && p === '/api/v1/imports/999999' && status === 404);
  assert.deepEqual(failures.filter((f) => !expected(f)), []);
  assert.doesNotMatch(srv.stderr(), /csp-violation/);
});
