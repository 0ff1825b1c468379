// Moderation in a real browser — the acceptance test of the issue: a field
// agent of Toulouse submits an ERP; the SDIS of Haute-Garonne sees it in
// its queue (the SDIS of Hérault neither sees nor opens it), asks for a
// change on one field; the agent sees the remark beside that field, fixes it
// and submits again; the SDIS sees what changed and validates; an ERP needs
// the DDT too (mode "all"), whose validation makes it "Validé". Then: a
// stale decision is refused and the page reloads, the queue validates a
// selection with one outcome per row, notifications are counted and marked
// read, and the dashboard shows the counts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, psql } from '../api/harness.mjs';
import { FAST_ARGON2, Client, addOrg, addUser } from '../api/accounts.mjs';
import { assertFitsPhone, launch, navLinks, signedInTab } from './browser.mjs';

let srv;
let browser;
let u;			// the accounts
const pages = {};	// one signed-in tab per account
const errors = [];	// script errors, CSP violations
const failures = [];	// API answers >= 400: [method, path, status]
let id;			// the ERP of the scenario

const NAME = 'Médiathèque Grand M';
const CAPACITE = "Capacité d'accueil du public";
const REMARK = "Le registre de sécurité indique 950 personnes : corrigez l'effectif.";

before(async () => {
  srv = await startServer({ env: { ...FAST_ARGON2 }, refdata: true });
  const db = srv.db;
  const toulouse = addOrg(db, { name: 'Commune de Toulouse', kind: 'commune', communes: '31555' });
  const sdis31 = addOrg(db, { name: 'SDIS 31 (Haute-Garonne)', kind: 'sdis', departements: '31' });
  const sdis34 = addOrg(db, { name: 'SDIS 34 (Hérault)', kind: 'sdis', departements: '34' });
  const ddt31 = addOrg(db, { name: 'DDT 31 (Haute-Garonne)', kind: 'ddt', departements: '31' });
  u = {
    agent: addUser(db, { email: 'agent@toulouse.test', name: 'Agent de Toulouse', org: toulouse, role: 'contributor' }),
    sdis31: addUser(db, { email: 'relecteur@sdis31.test', name: 'Relecteur SDIS 31', org: sdis31, role: 'reviewer' }),
    sdis34: addUser(db, { email: 'relecteur@sdis34.test', name: 'Relecteur SDIS 34', org: sdis34, role: 'reviewer' }),
    ddt31: addUser(db, { email: 'relecteur@ddt31.test', name: 'Relecteur DDT 31', org: ddt31, role: 'reviewer' }),
  };
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

// The signed-in tab of an account (made on first use).
async function tab(who) {
  pages[who] ??= await signedInTab(browser, srv.base, who, u[who], { errors, failures });
  return pages[who];
}

const state = (sid) => psql(srv.db, `SELECT state FROM submissions WHERE id = ${sid}`);
const unreadInDb = (who) => Number(psql(srv.db, `SELECT count(*) FROM notifications WHERE user_id = ${u[who].id} AND read_at IS NULL`));

async function openReview(p, sid) {
  await p.goto(`${srv.base}/instruction.html?guichet=erp&id=${sid}`);
  await p.locator('#etat').waitFor();
  await p.locator('#carte.leaflet-container').waitFor();
  await p.waitForLoadState('networkidle');
}

async function openQueue(p) {
  await p.goto(`${srv.base}/moderation.html`);
  await p.locator('#total:not(:empty)').waitFor();
}

async function decide(p, label) {
  await p.getByRole('button', { name: label, exact: true }).click();
  await p.locator('#form-decision .message.ok').waitFor();
  await p.waitForLoadState('networkidle');
}

test('the agent of Toulouse submits an ERP from the entry page', async () => {
  const p = await tab('agent');
  await p.goto(`${srv.base}/saisie.html?guichet=erp`);
  await p.locator('#carte.leaflet-container').waitFor();
  await p.waitForLoadState('networkidle');
  const box = await p.locator('#carte').boundingBox();
  await p.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await p.getByLabel("Nom de l'établissement").fill(NAME);
  await p.getByLabel('Catégorie', { exact: true }).selectOption('2');
  await p.getByLabel('Type principal').selectOption('S');
  await p.getByLabel(CAPACITE).fill('900');
  await p.getByRole('button', { name: 'Soumettre' }).click();
  await p.locator('#form-saisie .message.ok').waitFor();
  id = Number(/n° (\d+)/.exec(await p.locator('#form-saisie .message').textContent())[1]);
  assert.equal(psql(srv.db, `SELECT state || '|' || insee_commune FROM submissions WHERE id = ${id}`), 'submitted|31555');
});

test('reviewers get the moderation links; the agent does not', async () => {
  const links = await navLinks(await tab('sdis31'));
  assert.ok(links.includes('File de modération'), links.join(', '));
  assert.ok(links.includes('Tableau de bord'), links.join(', '));
  assert.ok(links.some((l) => /^Notifications \(\d+\)$/.test(l)), links.join(', '));
  const agentLinks = await navLinks(await tab('agent'));
  assert.ok(!agentLinks.includes('File de modération'), agentLinks.join(', '));
  assert.ok(agentLinks.some((l) => /^Notifications \(\d+\)$/.test(l)), agentLinks.join(', '));
});

test('the SDIS 34 reviewer neither sees it in the queue nor opens it', async () => {
  const p = await tab('sdis34');
  await openQueue(p);
  assert.equal(await p.locator(`#file tbody tr[data-id="${id}"]`).count(), 0);
  const answer = p.waitForResponse((r) => new URL(r.url()).pathname === `/api/v1/guichets/erp/submissions/${id}`);
  await p.goto(`${srv.base}/instruction.html?guichet=erp&id=${id}`);
  assert.equal((await answer).status(), 404);
  await p.getByRole('heading', { name: 'Saisie introuvable' }).waitFor();
  assert.equal(await p.locator('#contenu').isHidden(), true);
});

test('the SDIS 31 reviewer finds it in the queue and asks for a change on one field', async () => {
  const p = await tab('sdis31');
  await openQueue(p);
  const row = p.locator(`#file tbody tr[data-id="${id}"]`);
  await row.waitFor();
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[1], String(id));
  assert.equal(cells[2], 'ERP');
  assert.equal(cells[3], NAME);
  assert.match(cells[4], /^(Toulouse \()?31555\)?$/);
  assert.equal(cells[5], 'Soumis');
  assert.match(cells[7], /\d/);				// a due date
  assert.equal(await row.locator('.en-retard').count(), 0);
  await row.getByRole('link', { name: NAME }).click();
  await p.waitForURL(/instruction\.html\?guichet=erp&id=\d+$/);
  await p.locator('#etat').waitFor();
  await p.waitForLoadState('networkidle');

  // The record as the form labels it, and the authorities it waits for.
  assert.equal(await p.locator('#champs dd[data-field="categorie"]').textContent(), '2e catégorie — de 701 à 1 500 personnes');
  assert.equal(await p.locator('#champs dd[data-field="capacite_d_accueil_du_public"]').textContent(), '900');
  assert.match(await p.locator('#coordonnees').textContent(), /^Point : 43\.\d+ N, 1\.\d+ E$/);
  assert.equal(await p.locator('#carte path.leaflet-interactive').count(), 1);
  const signoffs = await p.locator('#avis tbody tr').evaluateAll((rs) => rs.map((r) => [...r.cells].slice(0, 2).map((c) => c.textContent)));
  assert.deepEqual(signoffs, [['SDIS', 'En attente'], ['DDT(M)', 'En attente']]);
  assert.equal(await p.locator('#diff').isHidden(), true);
  const actions = await p.locator('#actions button').allTextContents();
  assert.deepEqual(actions.sort(), ['Demander des modifications', 'Refuser', 'Valider']);

  // Claiming it puts the reviewer's name on it.
  await p.getByRole('button', { name: 'Prendre en charge' }).click();
  await p.locator('#message-charge.ok').waitFor();
  await p.locator('#assignations li', { hasText: 'Relecteur SDIS 31' }).waitFor();
  assert.equal(await p.locator('#etat').textContent(), "En cours d'instruction");
  // Released, then taken again (an assignment now: the record is in review).
  await p.getByRole('button', { name: 'Relâcher' }).click();
  await p.locator('#assignations li', { hasText: 'Personne' }).waitFor();
  await p.getByRole('button', { name: 'Prendre en charge' }).click();
  await p.locator('#assignations li', { hasText: 'Relecteur SDIS 31' }).waitFor();
  assert.equal(psql(srv.db, `SELECT authority || '|' || user_id FROM assignments WHERE submission_id = ${id}`), `sdis|${u.sdis31.id}`);
  assert.equal(await p.getByRole('button', { name: 'Relâcher' }).isVisible(), true);

  // Neither a refusal without its reason nor a request without any remark
  // leaves the page.
  await p.getByRole('button', { name: 'Refuser', exact: true }).click();
  await p.locator('#form-decision .erreur-champ').first().waitFor();
  await p.getByRole('button', { name: 'Demander des modifications' }).click();
  await p.locator('#d-commentaire[aria-invalid="true"]').waitFor();
  assert.notEqual(state(id), 'changes_requested');

  await p.getByLabel(`Remarque sur « ${CAPACITE} »`).fill(REMARK);
  await decide(p, 'Demander des modifications');
  assert.equal(await p.locator('#etat').textContent(), 'Modifications demandées');
  assert.equal(state(id), 'changes_requested');
  assert.equal(psql(srv.db, `SELECT decision || '|' || (remarks->>'capacite_d_accueil_du_public') FROM reviews WHERE submission_id = ${id}`),
    `request_changes|${REMARK}`);
});

test('the agent sees the remark beside its field, answers, fixes it and submits again', async () => {
  const p = await tab('agent');
  await p.goto(`${srv.base}/saisie.html?guichet=erp&id=${id}`);
  const note = p.locator('[data-field="capacite_d_accueil_du_public"].champ .remarque');
  await note.waitFor();
  const nav = await navLinks(p);
  assert.equal(await note.textContent(), REMARK);
  assert.equal(await note.getAttribute('role'), 'note');
  assert.equal(await p.locator('#form-saisie .remarque').count(), 1);
  assert.equal(await p.locator('#etat-saisie').textContent(), 'État : Modifications demandées');
  assert.match(await p.locator('#relecture').textContent(), /Relecteur SDIS 31/);
  // The remark is read with its field.
  assert.match(await p.getByLabel(CAPACITE).getAttribute('aria-describedby'), /remarque-capacite_d_accueil_du_public/);
  // A decision notified the author.
  assert.ok(nav.some((l) => /^Notifications \([1-9]\d*\)$/.test(l)), nav.join(', '));

  // A word in the thread, then the fix.
  await p.getByLabel('Votre message').fill('Effectif corrigé d’après le registre de sécurité.');
  await p.getByRole('button', { name: 'Envoyer le message' }).click();
  await p.locator('#fil .message-fil', { hasText: 'Effectif corrigé' }).waitFor();

  assert.equal(await p.getByLabel(CAPACITE).isEditable(), true);
  await p.getByLabel(CAPACITE).fill('950');
  await p.getByRole('button', { name: 'Soumettre à nouveau' }).click();
  await p.locator('#form-saisie .message.ok').waitFor();
  assert.equal(state(id), 'submitted');
  assert.equal(psql(srv.db, `SELECT attributes->>'capacite_d_accueil_du_public' FROM submissions WHERE id = ${id}`), '950');
  assert.equal(await p.locator('#etat-saisie').textContent(), 'État : Soumis');
});

test('the SDIS 31 reviewer sees what changed since its review and validates', async () => {
  const p = await tab('sdis31');
  await openReview(p, id);
  const reviewed = Number(psql(srv.db, `SELECT version FROM reviews WHERE submission_id = ${id} AND decision = 'request_changes'`));
  await p.locator('#diff').waitFor();
  assert.equal(await p.locator('#diff h2').textContent(), `Modifications depuis votre relecture (version ${reviewed})`);
  const rows = await p.locator('table.diff tbody tr').evaluateAll((rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.deepEqual(rows, [[CAPACITE, '900', '950']]);
  assert.equal(await p.locator('#diff-geometrie').textContent(), 'Géométrie inchangée.');
  // The history and the thread.
  assert.ok((await p.locator('#versions tbody tr').count()) >= 2);
  assert.ok((await p.locator('#evenements li').count()) >= 2);
  await p.locator('#fil .message-fil', { hasText: 'Effectif corrigé' }).waitFor();

  await decide(p, 'Valider');
  assert.equal(await p.locator('#avis tr[data-authority="sdis"] td').first().textContent(), 'Validé');
  assert.equal(await p.locator('#avis tr[data-authority="ddt"] td').first().textContent(), 'En attente');
  // One authority of two: not validated yet.
  assert.notEqual(state(id), 'validated');
  assert.notEqual(await p.locator('#etat').textContent(), 'Validé');
});

test('the DDT 31 reviewer validates too: the ERP is validated', async () => {
  const p = await tab('ddt31');
  await openQueue(p);
  await p.locator(`#file tbody tr[data-id="${id}"]`).waitFor();
  await openReview(p, id);
  await decide(p, 'Valider');
  assert.equal(await p.locator('#etat').textContent(), 'Validé');
  assert.equal(state(id), 'validated');
  assert.equal(await p.locator('#actions button').count(), 0);
  assert.match(await p.locator('#sans-decision').textContent(), /close : Validé/);
});

// Two more ERPs, made through the API (setup only).
async function submitByApi(name, lon, lat, capacity = 120) {
  const c = new Client(srv.base);
  await c.login(u.agent.email, u.agent.password);
  const r = await c.req('POST', '/api/v1/guichets/erp/submissions', {
    attributes: { libelle: name, categorie: '4', type_principal: 'N', capacite_d_accueil_du_public: capacity },
    geometry: { type: 'Point', coordinates: [lon, lat] }, submit: true, confirm_warnings: true,
  });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.state, 'submitted', r.text);
  return r.json.id;
}

test('a decision on a stale version is refused, the page reloads, and the decision then goes through', async () => {
  const other = await submitByApi('Brasserie des Carmes', 1.4445, 43.5963);
  const p = await tab('sdis31');
  await openReview(p, other);
  // Someone else changed the record meanwhile.
  psql(srv.db, `UPDATE submissions SET version = version + 1 WHERE id = ${other}`);
  await p.getByLabel('Commentaire général').fill('Vu.');
  await p.getByRole('button', { name: 'Valider', exact: true }).click();
  await p.locator('#form-decision .message.ko').waitFor();
  assert.match(await p.locator('#form-decision .message').textContent(), /rechargée/);
  assert.equal(await p.getByLabel('Commentaire général').inputValue(), 'Vu.');
  await decide(p, 'Valider');
  assert.equal(psql(srv.db, `SELECT decision FROM reviews WHERE submission_id = ${other}`), 'validate');
  assert.ok(failures.some(([who, m, path, status]) => who === 'sdis31' && m === 'POST'
    && path === `/api/v1/guichets/erp/submissions/${other}/transitions` && status === 409));
});

test('the queue validates a selection, one outcome per row', async () => {
  const a = await submitByApi('Café du Capitole', 1.4432, 43.6045);
  const b = await submitByApi('Restaurant Saint-Sernin', 1.4419, 43.6083);
  const p = await tab('sdis31');
  await openQueue(p);
  for (const sid of [a, b]) await p.getByLabel(new RegExp(`^Sélectionner la saisie n° ${sid} `)).check();
  await p.getByRole('button', { name: 'Valider la sélection' }).click();
  await p.locator('#form-lot .message:not(:empty)').waitFor();
  for (const sid of [a, b]) {
    const cell = p.locator(`#file tr[data-id="${sid}"] .resultat`);
    assert.equal(await cell.textContent(), 'Validation enregistrée');
    assert.equal(psql(srv.db, `SELECT string_agg(decision, ',') FROM reviews WHERE submission_id = ${sid}`), 'validate');
  }
  assert.match(await p.locator('#form-lot .message.ok').textContent(), /^2 validation\(s\) enregistrée\(s\)\.$/);
});

test('an overdue record is marked in the queue and found by the filter', async () => {
  const late = await submitByApi('Bar de la Daurade', 1.4395, 43.6019);
  psql(srv.db, `UPDATE submissions SET due_at = now() - interval '2 days', submitted_at = now() - interval '40 days' WHERE id = ${late}`);
  const p = await tab('ddt31');
  await openQueue(p);
  await p.getByLabel('En retard seulement').check();
  await p.getByRole('button', { name: 'Filtrer' }).click();
  await p.waitForURL(/overdue=true/);
  await p.locator(`#file tbody tr[data-id="${late}"]`).waitFor();
  assert.equal(await p.locator(`#file tbody tr[data-id="${late}"] .en-retard`).textContent(), 'En retard');
  assert.equal(await p.locator('#file tbody tr[data-id]').count(), 1);
  // The filters survive a reload.
  await p.reload();
  await p.locator(`#file tbody tr[data-id="${late}"]`).waitFor();
  assert.equal(await p.getByLabel('En retard seulement').isChecked(), true);
});

test('notifications: counted in the navigation, listed with a link, all marked read', async () => {
  const p = await tab('agent');
  await p.goto(`${srv.base}/notifications.html`);
  await p.locator('#resume-notifications:not(:empty)').waitFor();
  const n = unreadInDb('agent');
  assert.ok(n >= 2, `unread notifications of the agent: ${n}`);	// changes requested, validated
  assert.ok((await navLinks(p)).includes(`Notifications (${n})`), (await navLinks(p)).join(', '));
  assert.ok((await p.locator('#notifications li.non-lue').count()) >= n);
  const links = await p.locator('#notifications a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  assert.ok(links.includes(`/saisie.html?guichet=erp&id=${id}`), links.join(', '));
  await p.getByRole('button', { name: 'Tout marquer comme lu' }).click();
  await p.locator('#notifications li.non-lue').first().waitFor({ state: 'detached' });
  assert.equal(unreadInDb('agent'), 0);
  assert.ok((await navLinks(p)).includes('Notifications (0)'));
  await p.reload();
  await p.locator('#resume-notifications:not(:empty)').waitFor();
  assert.ok((await navLinks(p)).includes('Notifications (0)'));
});

test('the dashboard shows counts by guichet, département and state, delays and overdue records', async () => {
  const p = await tab('sdis31');
  await p.goto(`${srv.base}/tableau-de-bord.html`);
  const row = p.locator('#comptes tbody tr[data-guichet="erp"][data-departement="31"]');
  await row.waitFor();
  const validated = Number(psql(srv.db, "SELECT count(*) FROM submissions WHERE guichet = 'erp' AND state = 'validated' AND departement = '31'"));
  assert.ok(validated >= 1);
  assert.equal(await row.locator('td[data-state="validated"]').textContent(), String(validated));
  const headers = await p.locator('#comptes thead th').allTextContents();
  assert.equal(headers[0], 'Guichet');
  assert.ok(headers.includes('Validé'), headers.join(', '));
  await p.locator('#delais tbody tr[data-guichet="erp"]').waitFor();
  assert.match(await p.locator('#delais tbody tr[data-guichet="erp"] td').first().textContent(), /^\d+(,\d)?$/);
  await p.locator('#retards tbody tr[data-guichet="erp"][data-departement="31"]').waitFor();
  assert.equal(await p.locator('#retards tbody tr[data-guichet="erp"][data-departement="31"] td').last().textContent(), '1');
});

test('the moderation pages fit a 360 px wide phone', async () => {
  await assertFitsPhone(browser, srv.base, u.sdis31, ['/moderation.html', `/instruction.html?guichet=erp&id=${id}`,
    '/notifications.html', '/tableau-de-bord.html'], errors);
});

test('no script error, no CSP violation, no unexpected API error', () => {
  assert.deepEqual(errors, []);
  const expected = ([who, m, path, status]) =>
    (m === 'GET' && path === '/api/v1/session' && status === 401)			// the home page before login
    || (who === 'sdis34' && path === `/api/v1/guichets/erp/submissions/${id}` && status === 404)
    || (who === 'sdis31' && m === 'POST' && /\/transitions$/.test(path) && status === 409);	// the stale decision
  assert.deepEqual(failures.filter((f) => !expected(f)), []);
  assert.doesNotMatch(srv.stderr(), /csp-violation/);
});
