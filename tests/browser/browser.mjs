// Debian's chromium driven by playwright-core (no browser download): one
// browser per test file, a fresh context per role.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Logs in through the home page form and waits for the signed-in view.
export async function login(page, base, email, password) {
  await page.goto(`${base}/`);
  await page.getByLabel('Adresse électronique').fill(email);
  await page.getByLabel('Mot de passe').fill(password);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.locator('#espace').waitFor({ state: 'visible' });
}

export async function navLinks(page) {
  return page.locator('#nav a').allTextContents();
}

// A signed-in tab of an account that records script errors (page errors,
// console errors other than the failed loads Chromium logs for 4xx
// answers) into errors, and every answer ≥ 400 into failures as
// [who, method, path, status], for the files' last checks.
export async function signedInTab(browser, base, who, account, { errors, failures,
  viewport = { width: 1100, height: 900 }, acceptDownloads = false }) {
  const context = await browser.newContext({ viewport, acceptDownloads });
  const p = await context.newPage();
  p.on('pageerror', (e) => errors.push(`${who} ${p.url()}: ${e.message}`));
  p.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      errors.push(`${who} ${p.url()}: ${m.text()}`);
    }
  });
  p.on('response', (r) => {
    const url = new URL(r.url());
    if (r.status() >= 400) failures.push([who, r.request().method(), url.pathname + url.search, r.status()]);
  });
  await login(p, base, account.email, account.password);
  return p;
}
