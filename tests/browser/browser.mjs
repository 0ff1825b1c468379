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
