#!/usr/bin/env node
// The interactive API reference (/docs) in headless Chromium with every request that is not to
// this machine blocked: the page and its assets must come from the service itself. Loads /docs,
// checks the operations of /api/openapi.json are listed, authorizes with the API key, tries
// `GET /api/account` from the page and reads the live 200 answer.
//   node tests/browser/docs.mjs <base_url> <api_key>
// Needs $OCAAS_WEB_NODE_MODULES (playwright-core, from scripts/vendor-web.sh) and Chromium
// ($OCAAS_CHROMIUM, default /usr/bin/chromium). Screenshots: target/screenshots/docs-*.png.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const [base0, key] = process.argv.slice(2);
const modules = process.env.OCAAS_WEB_NODE_MODULES;
if (!base0 || !key || !modules) {
  console.error('usage: OCAAS_WEB_NODE_MODULES=... node tests/browser/docs.mjs <base_url> <api_key>');
  process.exit(2);
}
const base = base0.replace(/\/+$/, '');
const { chromium } = createRequire(path.join(modules, 'noop.js'))('playwright-core');
const shots = path.join(root, 'target', 'screenshots');
fs.mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.OCAAS_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const blocked = [];
const pageErrors = [];
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) return route.continue();
    blocked.push(u.href);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  const spec = await (await fetch(`${base}/api/openapi.json`)).json();
  const operations = Object.values(spec.paths).reduce(
    (n, item) => n + Object.keys(item).filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m)).length,
    0,
  );

  const res = await page.goto(`${base}/docs`, { waitUntil: 'networkidle' });
  if (!res || res.status() >= 400) throw new Error(`/docs answered ${res && res.status()}`);
  await page.waitForSelector('.swagger-ui .opblock', { timeout: 30000 });
  const shown = await page.locator('.swagger-ui .opblock').count();
  console.log(`docs: ${shown} operations shown, ${operations} in the spec`);
  if (shown !== operations) throw new Error(`the page lists ${shown} operations, the spec has ${operations}`);
  await page.screenshot({ path: path.join(shots, 'docs-1-loaded.png') });

  // Authorize with the key, then try GET /api/account from the page.
  await page.locator('.swagger-ui .auth-wrapper .btn.authorize').first().click();
  const modal = page.locator('.swagger-ui .modal-ux');
  await modal.waitFor({ timeout: 10000 });
  const bearer = modal.locator('.auth-container').filter({ hasText: /bearer/i }).first();
  await bearer.locator('input').first().fill(key);
  await bearer.locator('button.authorize').first().click();
  await bearer.locator('button', { hasText: /logout/i }).first().waitFor({ timeout: 10000 });
  await page.screenshot({ path: path.join(shots, 'docs-2-authorized.png') });
  await modal.locator('button.btn-done, button.close-modal').first().click();
  await modal.waitFor({ state: 'detached', timeout: 10000 });
  const op = page
    .locator('.swagger-ui .opblock.opblock-get')
    .filter({ has: page.locator('.opblock-summary-path', { hasText: /^\/api\/account$/ }) })
    .first();
  console.log(`docs: ${await op.count()} GET /api/account block`);
  await op.scrollIntoViewIfNeeded();
  await op.locator('.opblock-summary-path').first().click();
  await op.locator('.opblock-body').first().waitFor({ timeout: 10000 });
  // "Try it out" (unless the page starts in try-it-out mode), then "Execute".
  const execute = op.locator('button.execute');
  if (!(await execute.isVisible())) {
    await op.getByRole('button', { name: /try it out/i }).click({ timeout: 10000 });
  }
  await execute.click({ timeout: 10000 });
  const status = op.locator('.live-responses-table tbody .response-col_status').first();
  await status.waitFor({ timeout: 15000 });
  const code = (await status.innerText()).trim();
  await op.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, 'docs-3-try-it-out.png') });
  console.log(`docs: GET /api/account from the page answered ${code}`);
  if (!code.startsWith('200')) throw new Error(`try-it-out answered ${code}`);
  const body = await op.locator('.live-responses-table tbody .response-col_description').first().innerText();
  if (!body.includes('"is_admin"')) throw new Error(`unexpected body: ${body.slice(0, 300)}`);

  if (blocked.length) throw new Error(`requests off this machine: ${blocked.join(', ')}`);
  if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join('; ')}`);
  console.log('docs test: passed');
} catch (e) {
  console.error(`docs test: FAILED: ${e.message}`);
  if (blocked.length) console.error(`blocked: ${blocked.join(', ')}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
