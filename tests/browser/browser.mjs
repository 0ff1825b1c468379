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

// Opens each path in a 360 px wide phone signed in as account (waiting for
// ready, a selector, when given) and fails when a page is wider than it.
export async function assertFitsPhone(browser, base, account, paths, errors, ready = 'main h1') {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  const p = await context.newPage();
  p.on('pageerror', (e) => errors.push(`phone ${p.url()}: ${e.message}`));
  await login(p, base, account.email, account.password);
  for (const path of paths) {
    await p.goto(base + path);
    await p.locator(ready).first().waitFor();
    await p.waitForLoadState('networkidle');
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (overflow > 0) throw new Error(`${path} overflows by ${overflow}px at 360 px`);
  }
  await context.close();
}
