// In a real browser, with the accounts `guichet demo` creates (as `make
// run` does): each demo role logs in and sees only what it may; the pages
// refuse what a role may not open; an org admin invites a member; field
// errors show beside their field; pages fit a 360 px wide phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, psql, runGuichet } from '../api/harness.mjs';
import { FAST_ARGON2 } from '../api/accounts.mjs';
import { launch, login, navLinks } from './browser.mjs';

let srv;
let fx;
let browser;
const errors = [];

// The demo accounts, from what `guichet demo` prints once.
function demo(db) {
  const out = runGuichet(['demo'], { PGDATABASE: db, ...FAST_ARGON2 });
  assert.equal(out.status, 0, out.stderr);
  const creds = {};
  for (const m of out.stdout.matchAll(/^ {2}(\S+@\S+)\s+(\S+)\s+(.+)$/gm)) creds[m[1]] = m[2];
  const again = runGuichet(['demo'], { PGDATABASE: db });
  assert.match(again.stdout, /already exist/);
  const account = (email, role) => ({ email, password: creds[email], role, name: email });
  const org = (name) => Number(psql(db, `SELECT id FROM organisations WHERE name = '${name}'`));
  return {
    home: org('Commune de Toulouse'),
    away: org('SDIS 34 (Hérault)'),
    users: {
      contributor: account('agent.toulouse@guichet.test', 'contributor'),
      reviewer: account('relecteur.sdis31@guichet.test', 'reviewer'),
      reviewer34: account('relecteur.sdis34@guichet.test', 'reviewer'),
      org_admin: account('admin.toulouse@guichet.test', 'org_admin'),
      admin: account('admin@guichet.test', 'admin'),
    },
  };
}

before(async () => {
  srv = await startServer({ env: { ...FAST_ARGON2 } });
  fx = demo(srv.db);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

async function page(viewport = { width: 1024, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const p = await context.newPage();
  // A CSP violation or a script error on any page fails the file.
  p.on('pageerror', (e) => errors.push(`${p.url()}: ${e.message}`));
  // Answers the pages expect (401 for a visitor's session probe, 4xx shown
  // as form errors) are logged by Chromium as failed loads: not errors here.
  p.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      errors.push(`${p.url()}: ${m.text()}`);
    }
  });
  p.on('response', (r) => { if (r.status() === 404) errors.push(`404 for ${r.url()}`); });
  return p;
}

// Everyone signed in may submit: their entries and the import of a file.
const ENTRY = ['Mes saisies', 'Importer un fichier'];
// Reviewers and above also get the moderation pages; everyone signed in
// gets the count of unread notifications (none in a fresh demo).
const REVIEW = ['File de modération', 'Tableau de bord'];
// The open-data page is everyone's, last.
const EXPECTED_NAV = {
  contributor: ['Accueil', ...ENTRY, 'Notifications (0)', 'Mon compte', 'Données ouvertes'],
  reviewer: ['Accueil', ...ENTRY, ...REVIEW, 'Notifications (0)', 'Mon compte', 'Données ouvertes'],
  org_admin: ['Accueil', ...ENTRY, ...REVIEW, 'Notifications (0)', 'Mon compte', 'Mon organisation', 'Données ouvertes'],
  admin: ['Accueil', ...ENTRY, ...REVIEW, 'Notifications (0)', 'Mon compte', 'Mon organisation', 'Exports', 'Administration',
    'Données ouvertes'],
};
const GUICHET_CARDS = ['Saisir un ERP', 'Saisir un équipement', 'Saisir une adresse'];

for (const role of Object.keys(EXPECTED_NAV)) {
  test(`${role} logs in and sees only its pages`, async () => {
    const p = await page();
    const u = fx.users[role];
    await login(p, srv.base, u.email, u.password);
    assert.deepEqual(await navLinks(p), EXPECTED_NAV[role]);
    const hello = await p.locator('#bienvenue').textContent();
    assert.match(hello, /^Bonjour /);
    const cards = await p.locator('#raccourcis strong').allTextContents();
    assert.deepEqual(cards, [...GUICHET_CARDS, ...EXPECTED_NAV[role].slice(1).map((l) => l.replace(/ \(\d+\)$/, ''))]);
    // Pages above the role are refused, whatever the address typed.
    await p.goto(`${srv.base}/admin.html`);
    if (role === 'admin') {
      await p.locator('#orgs tbody tr').first().waitFor();
      assert.ok((await p.locator('#orgs tbody tr').count()) >= 3);
    } else {
      await p.getByRole('heading', { name: 'Accès refusé' }).waitFor();
    }
    await p.goto(`${srv.base}/organisation.html?id=${fx.home}`);
    if (role === 'org_admin' || role === 'admin') {
      await p.locator('#membres tbody tr').first().waitFor();
      const emails = await p.locator('#membres tbody tr td:nth-child(2)').allTextContents();
      assert.deepEqual(emails.sort(), [fx.users.org_admin.email, fx.users.contributor.email].sort());
    } else {
      await p.getByRole('heading', { name: 'Accès refusé' }).waitFor();
    }
    await p.context().close();
  });
}

test('each reviewer sees its own département: SDIS 31 in Haute-Garonne, SDIS 34 in Hérault', async () => {
  for (const [u, dept] of [[fx.users.reviewer, '31'], [fx.users.reviewer34, '34']]) {
    const p = await page();
    await login(p, srv.base, u.email, u.password);
    assert.match(await p.locator('#bienvenue').textContent(), new RegExp(`territoire : départements ${dept}\\.`));
    await p.context().close();
  }
});

test('an org admin cannot open another organisation’s page', async () => {
  const p = await page();
  await login(p, srv.base, fx.users.org_admin.email, fx.users.org_admin.password);
  await p.goto(`${srv.base}/organisation.html?id=${fx.away}`);
  await p.getByRole('heading', { name: 'Accès refusé' }).waitFor();
  await p.context().close();
});

test('a visitor is asked to log in on account pages, and a bad login says so', async () => {
  const p = await page();
  await p.goto(`${srv.base}/compte.html`);
  await p.getByRole('heading', { name: 'Connexion requise' }).waitFor();
  await p.goto(`${srv.base}/`);
  await p.getByLabel('Adresse électronique').fill(fx.users.reviewer.email);
  await p.getByLabel('Mot de passe').fill('not-the-password');
  await p.getByRole('button', { name: 'Se connecter' }).click();
  await p.locator('#form-connexion .message.ko').waitFor();
  assert.match(await p.locator('#form-connexion .message').textContent(), /incorrect/);
  await p.context().close();
});

test('an org admin invites a member from its organisation page', async () => {
  const p = await page();
  await login(p, srv.base, fx.users.org_admin.email, fx.users.org_admin.password);
  await p.getByRole('link', { name: 'Mon organisation' }).first().click();
  await p.locator('#membres tbody tr').first().waitFor();
  await p.getByLabel('Adresse électronique').fill('invite.navigateur@toulouse.test');
  await p.getByLabel('Nom affiché').fill('Invité du navigateur');
  await p.locator('#i-role').selectOption('reviewer');
  await p.getByRole('button', { name: "Envoyer l'invitation" }).click();
  await p.locator('#form-invitation .message.ok').waitFor();
  await p.locator('tr[data-email="invite.navigateur@toulouse.test"]').waitFor();
  assert.equal(psql(srv.db, "SELECT role FROM users WHERE email = 'invite.navigateur@toulouse.test'"), 'reviewer');
  // A role above its own is not even offered.
  assert.deepEqual(await p.locator('#i-role option').evaluateAll((os) => os.map((o) => o.value)),
    ['contributor', 'reviewer', 'org_admin']);
  await p.context().close();
});

test('a field error shows beside its field (password change)', async () => {
  const p = await page();
  await login(p, srv.base, fx.users.contributor.email, fx.users.contributor.password);
  await p.goto(`${srv.base}/compte.html`);
  await p.getByLabel('Mot de passe actuel').fill('wrong-password-here');
  await p.getByLabel('Nouveau mot de passe (12 caractères au moins)').fill('A-new-long-password');
  await p.getByRole('button', { name: 'Changer le mot de passe' }).click();
  await p.locator('#current_password-erreur').waitFor();
  assert.equal(await p.locator('#current_password').getAttribute('aria-invalid'), 'true');
  await p.context().close();
});

test('a member chooses the daily digest for mail notifications', async () => {
  const p = await page();
  await login(p, srv.base, fx.users.reviewer.email, fx.users.reviewer.password);
  await p.goto(`${srv.base}/compte.html`);
  const digest = p.getByLabel('en un récapitulatif quotidien');
  await p.getByLabel('une par courriel, aussitôt').and(p.locator(':checked')).waitFor();
  await digest.check();
  await p.getByRole('button', { name: 'Enregistrer' }).click();
  await p.locator('#form-avis .message.ok').waitFor();
  assert.equal(psql(srv.db, `SELECT notify FROM users WHERE email = '${fx.users.reviewer.email}'`), 'digest');
  await p.reload();
  await digest.and(p.locator(':checked')).waitFor();
  await p.context().close();
});

test('a member creates an API token, shown once, then revokes it', async () => {
  const p = await page();
  await login(p, srv.base, fx.users.reviewer.email, fx.users.reviewer.password);
  await p.goto(`${srv.base}/compte.html`);
  await p.getByLabel('Nom du jeton').fill('Mon SIG');
  await p.getByRole('button', { name: 'Créer le jeton' }).click();
  const token = await p.locator('#nouveau-jeton code').textContent();
  assert.match(token, /^gch_/);
  await p.locator('#jetons tbody tr', { hasText: 'Mon SIG' }).waitFor();
  await p.getByRole('button', { name: 'Révoquer le jeton Mon SIG' }).click();
  await p.locator('#jetons tbody tr', { hasText: 'Mon SIG' }).waitFor({ state: 'detached' });
  await p.context().close();
});

test('pages fit a 360 px wide phone', async () => {
  const p = await page({ width: 360, height: 740 });
  await login(p, srv.base, fx.users.admin.email, fx.users.admin.password);
  for (const path of ['/', '/compte.html', `/organisation.html?id=${fx.home}`, '/admin.html', '/mot-de-passe.html']) {
    await p.goto(srv.base + path);
    await p.locator('main h1').waitFor();
    await p.waitForLoadState('networkidle');
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${path} overflows by ${overflow}px at 360 px`);
  }
  await p.context().close();
});

test('no page raised a script error or a CSP violation', () => {
  assert.deepEqual(errors, []);
});
