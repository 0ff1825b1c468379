// Amending and deleting validated objects in a real browser: a field agent
// of Toulouse opens a validated ERP (read-only, with « Proposer une
// modification » and « Demander la suppression »), proposes a new capacity;
// the SDIS 31 reviewer sees the request's banner and the comparison with the
// object, validates, the DDT 31 validates too, and the object takes the new
// value. Then the agent asks for its deletion (confirmed on the page), both
// authorities validate, and the object is « Supprimé ». Also: a proposal made
// on an object changed meanwhile is refused with a reload link, another
// account of the commune reads the object without its thread, and a deletion
// request left in draft is sent as it is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, psql } from '../api/harness.mjs';
import { FAST_ARGON2, Client, addOrg, addUser } from '../api/accounts.mjs';
import { assertFitsPhone, launch, signedInTab } from './browser.mjs';

let srv;
let browser;
let u;			// the accounts
const pages = {};	// one signed-in tab per account
const clients = {};	// one API client per account (setup only)
const errors = [];	// script errors, CSP violations
const failures = [];	// API answers >= 400: [who, method, path, status]
let obj;		// the validated ERP of the scenario
let version;		// its version when validated
let amendment;		// the modification request
let deletion;		// the deletion request
let other;		// another validated ERP (stale proposal, deletion draft)

const NAME = 'Salle des fêtes du Busca';
const CAPACITE = "Capacité d'accueil du public";
const ATTRS = { libelle: NAME, categorie: '2', type_principal: 'L', capacite_d_accueil_du_public: 1156 };

before(async () => {
  srv = await startServer({ env: { ...FAST_ARGON2 }, refdata: true });
  const db = srv.db;
  const toulouse = addOrg(db, { name: 'Commune de Toulouse', kind: 'commune', communes: '31555' });
  const sdis31 = addOrg(db, { name: 'SDIS 31 (Haute-Garonne)', kind: 'sdis', departements: '31' });
  const ddt31 = addOrg(db, { name: 'DDT 31 (Haute-Garonne)', kind: 'ddt', departements: '31' });
  const openig = addOrg(db, { name: 'OPenIG', kind: 'openig', departements: '31,34' });
  u = {
    agent: addUser(db, { email: 'agent@toulouse.test', name: 'Agent de Toulouse', org: toulouse, role: 'contributor' }),
    agent2: addUser(db, { email: 'agent2@toulouse.test', name: 'Autre agent de Toulouse', org: toulouse, role: 'contributor' }),
    sdis31: addUser(db, { email: 'relecteur@sdis31.test', name: 'Relecteur SDIS 31', org: sdis31, role: 'reviewer' }),
    ddt31: addUser(db, { email: 'relecteur@ddt31.test', name: 'Relecteur DDT 31', org: ddt31, role: 'reviewer' }),
    admin: addUser(db, { email: 'admin@openig.test', name: 'Administrateur OPenIG', org: openig, role: 'admin' }),
  };
  browser = await launch();
  obj = await validatedByApi(ATTRS, [1.4440, 43.5800]);
  version = Number(psql(srv.db, `SELECT version FROM submissions WHERE id = ${obj}`));
  other = await validatedByApi({ ...ATTRS, libelle: 'Gymnase de Rangueil', capacite_d_accueil_du_public: 800 }, [1.4500, 43.5900]);
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

async function client(who) {
  if (!clients[who]) {
    clients[who] = new Client(srv.base);
    await clients[who].login(u[who].email, u[who].password);
  }
  return clients[who];
}

// An ERP written by the agent and validated at once by the platform admin.
async function validatedByApi(attributes, coordinates) {
  const c = await client('agent');
  const r = await c.req('POST', '/api/v1/guichets/erp/submissions', {
    attributes, geometry: { type: 'Point', coordinates }, submit: true, confirm_warnings: true,
  });
  assert.equal(r.status, 201, r.text);
  const v = await (await client('admin')).req('POST', `/api/v1/guichets/erp/submissions/${r.json.id}/transitions`, { action: 'validate' });
  assert.equal(v.status, 200, v.text);
  assert.equal(v.json.state, 'validated', v.text);
  return r.json.id;
}

// The signed-in tab of an account (made on first use).
async function tab(who) {
  pages[who] ??= await signedInTab(browser, srv.base, who, u[who], { errors, failures });
  return pages[who];
}

const row = (sql) => psql(srv.db, sql);
const capacity = (sid) => row(`SELECT attributes->>'capacite_d_accueil_du_public' FROM submissions WHERE id = ${sid}`);

async function openRecord(p, sid) {
  await p.goto(`${srv.base}/saisie.html?guichet=erp&id=${sid}`);
  await p.locator('#etat-saisie:not([hidden])').waitFor();
  await p.waitForLoadState('networkidle');
}

async function openReview(p, sid) {
  await p.goto(`${srv.base}/instruction.html?guichet=erp&id=${sid}`);
  await p.locator('#etat').waitFor();
  await p.locator('#carte.leaflet-container').waitFor();
  await p.waitForLoadState('networkidle');
}

async function decide(p, label) {
  await p.getByRole('button', { name: label, exact: true }).click();
  await p.locator('#form-decision .message.ok').waitFor();
  await p.waitForLoadState('networkidle');
}

const tableRows = (p, selector) => p.locator(`${selector} tbody tr`).evaluateAll((rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));

test('a validated object opens read-only, with a modification or a deletion to ask for', async () => {
  const p = await tab('agent');
  await openRecord(p, obj);
  assert.equal(await p.locator('#etat-saisie').textContent(), 'État : Validé');
  await p.getByRole('button', { name: 'Proposer une modification' }).waitFor();
  assert.equal(await p.getByRole('button', { name: 'Demander la suppression' }).isVisible(), true);
  assert.equal(await p.locator('#objet-titre').textContent(), `Objet validé n° ${obj} (version ${version})`);
  // The content, not editable, with no way to save it.
  assert.equal(await p.getByLabel("Nom de l'établissement").inputValue(), NAME);
  assert.equal(await p.getByLabel("Nom de l'établissement").isDisabled(), true);
  assert.equal(await p.getByLabel(CAPACITE).isDisabled(), true);
  assert.equal(await p.locator('#brouillon').isHidden(), true);
  assert.equal(await p.locator('#soumettre').isHidden(), true);
  assert.equal(await p.locator('.outils-carte').isHidden(), true);
  assert.equal(await p.locator('#confirmation-suppression').isHidden(), true);
  // A click on the map does not move it.
  const geometry = await p.locator('input[name="geometry"]').inputValue();
  const box = await p.locator('#carte').boundingBox();
  await p.mouse.click(box.x + box.width / 3, box.y + box.height / 3);
  assert.equal(await p.locator('input[name="geometry"]').inputValue(), geometry);
  assert.equal(await p.locator('#amendement').isHidden(), true);
});

test('another account of the commune, who only reads the object, sees it the same way', async () => {
  const p = await tab('agent2');
  await openRecord(p, obj);
  await p.getByRole('button', { name: 'Proposer une modification' }).waitFor();
  assert.equal(await p.getByLabel(CAPACITE).inputValue(), '1156');
  assert.equal(await p.locator('#fil').isHidden(), true);	// no thread for a reader
});

test('the agent proposes a modification of one field', async () => {
  const p = await tab('agent');
  await openRecord(p, obj);
  await p.getByRole('button', { name: 'Proposer une modification' }).click();
  await p.waitForURL(new RegExp(`saisie\\.html\\?guichet=erp&amends=${obj}$`));
  await p.locator('#amendement:not([hidden])').waitFor();
  await p.waitForLoadState('networkidle');
  assert.equal(await p.locator('#amendement .titre-bandeau').textContent(), `Modification de l'objet validé n° ${obj} (version ${version})`);
  assert.equal(await p.locator('#amendement a').getAttribute('href'), `/saisie.html?guichet=erp&id=${obj}`);
  // The form, filled with the object and editable.
  assert.equal(await p.getByLabel("Nom de l'établissement").inputValue(), NAME);
  assert.equal(await p.getByLabel('Catégorie', { exact: true }).inputValue(), '2');
  assert.equal(await p.getByLabel(CAPACITE).inputValue(), '1156');
  assert.match(await p.locator('#coordonnees').textContent(), /^Point : 43\.58\d* N, 1\.444\d* E$/);
  assert.equal(await p.getByLabel(CAPACITE).isEditable(), true);

  await p.getByLabel(CAPACITE).fill('1200');
  await p.getByRole('button', { name: 'Soumettre', exact: true }).click();
  await p.locator('#form-saisie .message.ok').waitFor();
  const text = await p.locator('#form-saisie .message').textContent();
  assert.match(text, /^Demande de modification n° \d+ soumise/);
  amendment = Number(/n° (\d+)/.exec(text)[1]);
  assert.notEqual(amendment, obj);
  assert.equal(row(`SELECT operation || '|' || target_id || '|' || target_version || '|' || state FROM submissions WHERE id = ${amendment}`),
    `modify|${obj}|${version}|submitted`);
  assert.equal(capacity(amendment), '1200');
  assert.equal(capacity(obj), '1156', 'the object waits for the reviewers');
  // The page is now the request's, which names its object.
  assert.match(p.url(), new RegExp(`\\?guichet=erp&id=${amendment}$`));
  assert.equal(await p.locator('#amendement .titre-bandeau').textContent(), `Demande de modification de l'objet n° ${obj}`);
  assert.equal(await p.locator('#etat-saisie').textContent(), 'État : Soumis');
});

test('a proposal on an object changed meanwhile is refused, with a link to reload it', async () => {
  const p = await tab('agent');
  await p.goto(`${srv.base}/saisie.html?guichet=erp&amends=${other}`);
  await p.locator('#amendement:not([hidden])').waitFor();
  await p.waitForLoadState('networkidle');
  const v = Number(row(`SELECT version FROM submissions WHERE id = ${other}`));
  row(`UPDATE submissions SET version = version + 1 WHERE id = ${other}`);	// changed by someone else
  await p.getByLabel(CAPACITE).fill('850');
  await p.getByRole('button', { name: 'Soumettre', exact: true }).click();
  await p.locator('#form-saisie .message.ko').waitFor();
  assert.match(await p.locator('#form-saisie .message').textContent(), new RegExp(`L'objet n° ${other} a été modifié depuis que vous l'avez ouvert`));
  assert.equal(row(`SELECT count(*) FROM submissions WHERE target_id = ${other}`), '0');
  assert.ok(failures.some(([who, m, path, status]) => who === 'agent' && m === 'POST'
    && path === '/api/v1/guichets/erp/submissions' && status === 409));
  await p.getByRole('link', { name: 'Recharger l’objet et reprendre la modification' }).click();
  await p.locator('#amendement .titre-bandeau', { hasText: `(version ${v + 1})` }).waitFor();
  assert.equal(await p.getByLabel(CAPACITE).inputValue(), '800');
});

test('the SDIS 31 reviewer sees the banner and the comparison with the object, and validates', async () => {
  const p = await tab('sdis31');
  await openReview(p, amendment);
  assert.equal(await p.locator('#amendement .titre-bandeau').textContent(), `Demande de modification de l'objet n° ${obj}`);
  assert.equal(await p.locator('#amendement a').getAttribute('href'), `/instruction.html?guichet=erp&id=${obj}`);
  await p.locator('#comparaison:not([hidden])').waitFor();
  assert.deepEqual(await p.locator('#table-comparaison thead th').allTextContents(), ['Champ', 'Objet actuel', 'Modification proposée']);
  assert.deepEqual(await tableRows(p, '#table-comparaison'), [[CAPACITE, '1156', '1200']]);
  assert.equal(await p.locator('#comparaison-geometrie').textContent(), 'Géométrie inchangée.');
  assert.equal(await p.locator('#comparaison-alerte').isHidden(), true);
  await decide(p, 'Valider');
  assert.equal(capacity(obj), '1156', 'one authority of two: nothing applies yet');
});

test('the DDT 31 reviewer validates too: the object takes the new value', async () => {
  const p = await tab('ddt31');
  await openReview(p, amendment);
  await p.locator('#comparaison:not([hidden])').waitFor();
  await decide(p, 'Valider');
  assert.equal(await p.locator('#etat').textContent(), 'Validé');
  assert.equal(row(`SELECT state || '|' || version FROM submissions WHERE id = ${obj}`), `validated|${version + 1}`);
  assert.equal(capacity(obj), '1200');
  // Applied: the comparison is with the object as it was.
  await p.locator('#comparaison-titre', { hasText: 'appliquée' }).waitFor();
  assert.equal(await p.locator('#comparaison-titre').textContent(), `Modification appliquée à l’objet (version ${version} → ${version + 1})`);
  assert.deepEqual(await tableRows(p, '#table-comparaison'), [[CAPACITE, '1156', '1200']]);
});

test('the object shows the new value', async () => {
  const p = await tab('agent');
  await openRecord(p, obj);
  await p.getByRole('button', { name: 'Proposer une modification' }).waitFor();
  assert.equal(await p.getByLabel(CAPACITE).inputValue(), '1200');
  assert.equal(await p.locator('#objet-titre').textContent(), `Objet validé n° ${obj} (version ${version + 1})`);
  // The request itself: validated, read, naming its object.
  await openRecord(p, amendment);
  assert.equal(await p.locator('#amendement .titre-bandeau').textContent(), `Demande de modification de l'objet n° ${obj}`);
  assert.equal(await p.locator('#objet').isHidden(), true);
});

test('the agent asks for the deletion of the object, confirmed on the page', async () => {
  const p = await tab('agent');
  await openRecord(p, obj);
  const ask = p.getByRole('button', { name: 'Demander la suppression' });
  await ask.click();
  const confirm = p.getByRole('button', { name: 'Confirmer la demande de suppression' });
  await confirm.waitFor();
  assert.equal(await ask.getAttribute('aria-expanded'), 'true');
  assert.equal(await p.evaluate(() => document.activeElement?.id), 'confirmer-suppression');
  assert.equal(row(`SELECT count(*) FROM submissions WHERE target_id = ${obj} AND operation = 'delete'`), '0', 'nothing sent before the confirmation');
  await p.getByRole('button', { name: 'Annuler' }).click();
  assert.equal(await p.locator('#confirmation-suppression').isHidden(), true);
  await ask.click();
  await confirm.click();
  await p.waitForURL((url) => url.searchParams.get('id') && url.searchParams.get('id') !== String(obj));
  deletion = Number(new URL(p.url()).searchParams.get('id'));
  await p.locator('#amendement .titre-bandeau').waitFor();
  await p.waitForLoadState('networkidle');
  assert.equal(await p.locator('#amendement .titre-bandeau').textContent(), `Demande de suppression de l'objet n° ${obj}`);
  assert.equal(await p.locator('#etat-saisie').textContent(), 'État : Soumis');
  // The request carries the object as it is, and is not edited.
  assert.equal(await p.getByLabel(CAPACITE).inputValue(), '1200');
  assert.equal(await p.getByLabel(CAPACITE).isDisabled(), true);
  assert.equal(await p.locator('#brouillon').isHidden(), true);
  assert.equal(await p.locator('#soumettre').isHidden(), true);
  assert.equal(row(`SELECT operation || '|' || target_id || '|' || target_version || '|' || state FROM submissions WHERE id = ${deletion}`),
    `delete|${obj}|${version + 1}|submitted`);
  assert.equal(capacity(deletion), '1200');
});

test('both authorities validate the deletion: the object is « Supprimé »', async () => {
  for (const who of ['sdis31', 'ddt31']) {
    const p = await tab(who);
    await openReview(p, deletion);
    assert.equal(await p.locator('#amendement .titre-bandeau').textContent(), `Demande de suppression de l'objet n° ${obj}`);
    assert.equal(await p.locator('#comparaison').isHidden(), true);
    await decide(p, 'Valider');
  }
  assert.equal(row(`SELECT state FROM submissions WHERE id = ${obj}`), 'deleted');
  const p = await tab('agent');
  await openRecord(p, obj);
  assert.equal(await p.locator('#etat-saisie').textContent(), 'État : Supprimé');
  assert.equal(await p.locator('#objet').isHidden(), true);
  assert.equal(await p.getByLabel(CAPACITE).isDisabled(), true);
  assert.equal(await p.locator('#soumettre').isHidden(), true);
  // The reviewer's view of the object says so too.
  const r = await tab('sdis31');
  await openReview(r, obj);
  assert.equal(await r.locator('#etat').textContent(), 'Supprimé');
});

test('a deletion request left in draft is sent as it is, with « Soumettre »', async () => {
  const c = await client('agent');
  const r = await c.req('POST', '/api/v1/guichets/erp/submissions', { amends: other, operation: 'delete', attributes: {}, submit: false });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.state, 'draft', r.text);
  const p = await tab('agent');
  await openRecord(p, r.json.id);
  assert.equal(await p.locator('#amendement .titre-bandeau').textContent(), `Demande de suppression de l'objet n° ${other}`);
  assert.equal(await p.locator('#etat-saisie').textContent(), 'État : Brouillon');
  assert.equal(await p.getByLabel(CAPACITE).isDisabled(), true);
  assert.equal(await p.locator('#brouillon').isHidden(), true);
  await p.getByRole('button', { name: 'Soumettre', exact: true }).click();
  await p.locator('#form-saisie .message.ok').waitFor();
  assert.equal(await p.locator('#form-saisie .message').textContent(), `Demande de suppression n° ${r.json.id} soumise : elle est transmise aux relecteurs.`);
  assert.equal(await p.locator('#etat-saisie').textContent(), 'État : Soumis');
  assert.equal(row(`SELECT state || '|' || (attributes->>'capacite_d_accueil_du_public') FROM submissions WHERE id = ${r.json.id}`), 'submitted|800');
  assert.ok(!failures.some(([, m, path]) => m === 'PATCH' && path.endsWith(`/${r.json.id}`)), 'never edited');
});

test('the pages fit a 360 px wide phone', async () => {
  await assertFitsPhone(browser, srv.base, u.sdis31, [`/saisie.html?guichet=erp&id=${other}`,
    `/saisie.html?guichet=erp&amends=${other}`, `/instruction.html?guichet=erp&id=${amendment}`], errors);
});

test('no script error, no CSP violation, no unexpected API error', () => {
  assert.deepEqual(errors, []);
  const expected = ([who, m, path, status]) =>
    (m === 'GET' && path === '/api/v1/session' && status === 401)			// the home page before login
    || (who === 'agent' && m === 'POST' && path === '/api/v1/guichets/erp/submissions' && status === 409);	// the stale proposal
  assert.deepEqual(failures.filter((f) => !expected(f)), []);
  assert.doesNotMatch(srv.stderr(), /csp-violation/);
});
