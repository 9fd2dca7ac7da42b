#!/usr/bin/env node
// The account page (/account) in a real (headless) Chromium, as a new customer uses it:
//   node tests/browser/account.mjs <base_url> <admin_api_key>
//
// Signs up (after a too-short password is refused), redeems an invite code (after a wrong one
// is refused) — the server runs the `invite_or_subscription` gate —, creates a key with two
// permissions and copies it (shown once), uses it with the API (its permissions hold, and it
// creates an instance thanks to the invite), sees it listed with its last use, revokes it (the
// API refuses it at once), signs out and in again. The admin key only makes the invite code.
// Every request that is not to this machine is blocked (and fails the run). Screenshots go to
// target/screenshots/account-NN-*.png.
//
// Needs scripts/vendor-web.sh to have run (playwright-core) and Chromium ($OCAAS_CHROMIUM,
// default /usr/bin/chromium). Exits 0 when every step passed, 1 on the first failure, 2 on a
// setup problem.

import path from 'node:path';
import crypto from 'node:crypto';

import { args, elapsed, keepLocal, launch, loadChromium, log, root, screenshots, shots } from './lib.mjs';

const [base, adminKey] = args('account.mjs', 'admin_api_key');
const chromium = loadChromium('account');
const shot = screenshots('account-');

/** A call with a bearer key, from outside the browser (as a script using the key would). */
async function apiCall(method, p, key, body) {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, headers: res.headers };
}

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

const browser = await launch(chromium);
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
const blocked = await keepLocal(context);
const pageErrors = [];
const page = await context.newPage();
page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
page.setDefaultTimeout(30_000);

const steps = [];
let current = '';
async function step(name, fn) {
  current = name;
  const t = Date.now();
  log(`▶ ${name}`);
  await fn();
  steps.push(name);
  log(`✔ ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
}

const suffix = crypto.randomBytes(3).toString('hex');
const email = `new-customer-${suffix}@example.com`;
const password = `correct horse ${suffix} battery`;
let secret;

try {
  await step('sign up on /account (a short password is refused first)', async () => {
    await page.goto(`${base}/account`);
    await page.waitForSelector('#tab-sign-up');
    await shot(page, 'signin');
    await page.click('#tab-sign-up');
    await page.fill('#email', email);
    await page.fill('#password', 'short');
    // The browser's own minlength check would stop the form; ask the server instead.
    await page.evaluate(() => document.getElementById('password').removeAttribute('minlength'));
    await page.click('#sign-up');
    await page.waitForSelector('#auth-error:has-text("VALIDATION_FAILED")');
    await shot(page, 'signup-refused');
    await page.fill('#password', password);
    await page.click('#sign-up');
    await page.waitForSelector('#account-email');
    expect((await page.innerText('#account-email')).trim() === email, 'the signed-in email is shown');
    const cookies = await context.cookies(base);
    const session = cookies.find((c) => c.name === 'ocaas_session');
    expect(session && session.httpOnly && session.sameSite === 'Lax', `an HttpOnly SameSite=Lax session cookie: ${JSON.stringify(session)}`);
    expect(await page.evaluate(() => !document.cookie.includes('ocaas_session')), 'page scripts cannot read the session cookie');
    await page.waitForSelector('#access:has-text("no access yet")');
    await shot(page, 'signed-in');
  });

  await step('redeem an invite code (a wrong one is refused)', async () => {
    const made = await apiCall('POST', '/api/admin/invites', adminKey, { max_redemptions: 1, note: 'browser test' });
    expect(made.status === 201, `admin made an invite: ${made.status}`);
    await page.fill('#invite-code', 'inv_wrong_code_here');
    await page.click('#redeem');
    await page.waitForSelector('.toast-error:has-text("INVITE_INVALID")');
    await page.click('.toast-error button');
    await page.fill('#invite-code', made.json.code);
    await page.click('#redeem');
    await page.waitForSelector('#invite-status:has-text("redeemed")');
    await page.waitForSelector('#access:has-text("invited")');
    await shot(page, 'invited');
  });

  await step('create a key with two permissions; it is shown once and copies', async () => {
    await page.fill('#key-name', `laptop-${suffix}`);
    for (const box of await page.$$('input[name=perm]')) {
      const v = await box.getAttribute('value');
      const want = v === 'instances:read' || v === 'instances:write';
      if ((await box.isChecked()) !== want) await box.click();
    }
    await page.click('#create-key');
    await page.waitForSelector('#new-key');
    secret = (await page.innerText('#new-key')).trim();
    expect(/^ocaas_[0-9A-Za-z]{40}$/.test(secret), `a key is shown: ${secret}`);
    await page.click('#copy-key');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied === secret, 'the Copy button puts the key on the clipboard');
    const row = `#keys tr[data-key-name="laptop-${suffix}"]`;
    await page.waitForSelector(row);
    const text = await page.innerText(row);
    expect(text.includes('instances:read') && text.includes('instances:write') && !text.includes('chat'), `the row lists the permissions: ${text}`);
    await shot(page, 'key-created');
  });

  await step('use the key with the API', async () => {
    const list = await apiCall('GET', '/api/instances', secret);
    expect(list.status === 200, `GET /api/instances → ${list.status}`);
    expect(list.headers.get('x-ratelimit-limit'), 'rate-limit headers on an authenticated response');
    const created = await apiCall('POST', '/api/instances', secret, { name: `from-${suffix}` });
    expect(created.status === 201, `the invite lets the key create an instance: ${created.status} ${JSON.stringify(created.json)}`);
    const keys = await apiCall('GET', '/api/keys', secret);
    expect(keys.status === 403 && keys.json.error.code === 'FORBIDDEN', `no admin permission: ${keys.status}`);
    // The page shows the use after a reload.
    await page.reload();
    const row = `#keys tr[data-key-name="laptop-${suffix}"]`;
    await page.waitForSelector(row);
    expect(!(await page.isVisible('#new-key')), 'the key is never shown again');
    const deadline = Date.now() + 10_000;
    while (/never/.test(await page.innerText(`${row} td:nth-child(4)`))) {
      expect(Date.now() < deadline, 'last used stays "never"');
      await page.waitForTimeout(300);
      await page.reload();
      await page.waitForSelector(row);
    }
    await shot(page, 'key-used');
  });

  await step('revoke the key: the API refuses it at once', async () => {
    const row = `#keys tr[data-key-name="laptop-${suffix}"]`;
    await page.click(`${row} .revoke`);
    await page.waitForSelector('.modal:has-text("Revoke")');
    await shot(page, 'revoke-confirm');
    await page.click('.modal button[type=submit]');
    await page.waitForSelector(`${row}.revoked`);
    const after = await apiCall('GET', '/api/instances', secret);
    expect(after.status === 401 && after.json.error.code === 'UNAUTHORIZED', `revoked key → ${after.status}`);
    await shot(page, 'revoked');
  });

  await step('sign out, then sign in again', async () => {
    await page.click('#sign-out');
    await page.waitForSelector('#sign-in');
    const status = await page.evaluate(async () => (await fetch('/api/auth/session')).status);
    expect(status === 401, `signed out: the session answers ${status}`);
    await page.fill('#email', email);
    await page.fill('#password', 'not the password');
    await page.click('#sign-in');
    await page.waitForSelector('#auth-error:has-text("wrong email or password")');
    await shot(page, 'wrong-password');
    await page.fill('#password', password);
    await page.click('#sign-in');
    await page.waitForSelector('#account-email');
    await page.click('#to-console');
    await page.waitForURL(`${base}/console`);
    await page.waitForSelector('#to-account');
    await shot(page, 'console-link');
  });

  if (blocked.length) throw Object.assign(new Error(`the page requested addresses off this machine:\n  ${blocked.join('\n  ')}`), { stepName: 'no outside requests' });
  if (pageErrors.length) throw Object.assign(new Error(`uncaught errors in the page:\n  ${pageErrors.join('\n  ')}`), { stepName: 'no page errors' });
} catch (e) {
  const name = e.stepName || current;
  console.error(`\n✘ FAILED: ${name}\n  ${e.message.split('\n').join('\n  ')}`);
  try { await shot(page, 'FAILED'); } catch { /* page gone */ }
  if (pageErrors.length) console.error(`page errors:\n  ${pageErrors.join('\n  ')}`);
  if (blocked.length) console.error(`blocked (not local):\n  ${blocked.join('\n  ')}`);
  await browser.close();
  console.error(`account test: ${steps.length} passed, 1 failed`);
  process.exit(1);
}

await browser.close();
console.log(`account test: ${steps.length} passed, 0 failed (${elapsed()} s); screenshots in ${path.relative(root, shots)}/`);
