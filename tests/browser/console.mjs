#!/usr/bin/env node
// The web console in a real (headless) Chromium, driven like a person would:
//   node tests/browser/console.mjs <base_url> <api_key>
//
// Signs in, creates an instance and waits for it to be ready, uploads a binary file and
// downloads it again (same bytes), edits a text file, types into a terminal and reads the
// output from xterm's rows, opens the desktop (tab and standalone page) and checks the noVNC
// canvas shows more than one colour, checks an error envelope is shown, deletes the instance
// and signs out. Every request that is not to this machine is blocked (and fails the run).
// Screenshots of each step go to target/screenshots/ (under the repository root).
//
// Needs scripts/vendor-web.sh to have run (playwright-core is found through its --check, or
// $OCAAS_WEB_NODE_MODULES) and Chromium ($OCAAS_CHROMIUM, default /usr/bin/chromium).
// Exits 0 when every step passed, 1 on the first failure, 2 on a setup problem.

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

import { args, elapsed, keepLocal, launch, loadChromium, log, root, screenshots, setupFail, shots } from './lib.mjs';

const [base, key] = args('console.mjs', 'api_key');
const chromium = loadChromium('console');
for (const f of ['xterm/xterm.mjs', 'xterm/addon-fit.mjs', 'novnc/core/rfb.js']) {
  if (!fs.existsSync(path.join(root, 'web-static', 'vendor', f))) setupFail('console', `web-static/vendor/${f} is missing → run scripts/vendor-web.sh`);
}
const shot = screenshots('');

// ------------------------------------------------------------------ helpers

async function apiCall(method, p, body) {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  if (!res.ok) throw new Error(`${method} ${p} answered ${res.status}: ${text}`);
  return json;
}

/** Distinct colours among a grid of samples of the first (noVNC) canvas under `sel`. */
function canvasColours(page, sel) {
  return page.evaluate((sel) => {
    const c = document.querySelector(`${sel} canvas`);
    if (!c || !c.width || !c.height) return { colours: 0, w: 0, h: 0 };
    const ctx = c.getContext('2d');
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    const n = 48;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const x = Math.floor(((i + 0.5) * c.width) / n);
        const y = Math.floor(((j + 0.5) * c.height) / n);
        const o = (y * c.width + x) * 4;
        seen.add(`${data[o]},${data[o + 1]},${data[o + 2]}`);
      }
    }
    return { colours: seen.size, w: c.width, h: c.height };
  }, sel);
}

async function waitColourful(page, sel, what) {
  const deadline = Date.now() + 30_000;
  let last = { colours: 0 };
  while (Date.now() < deadline) {
    last = await canvasColours(page, sel);
    if (last.colours > 1) return last;
    await page.waitForTimeout(500);
  }
  throw new Error(`${what}: the desktop canvas stayed blank (${last.colours} colour(s), ${last.w}×${last.h})`);
}

// ------------------------------------------------------------------ the run

const browser = await launch(chromium);
const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true, colorScheme: 'dark' });
const blocked = await keepLocal(context);
const pageErrors = [];
const consoleErrors = [];
const failedRequests = [];
function watch(page) {
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('requestfailed', (r) => failedRequests.push(`${r.method()} ${r.url()}: ${r.failure() && r.failure().errorText}`));
}
const page = await context.newPage();
watch(page);
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
const instName = `browser-${suffix}`;
let instanceId;

try {
  await step('sign in with the API key', async () => {
    await page.goto(`${base}/console`);
    await page.waitForSelector('#api-key');
    await shot(page, 'signin');
    // A wrong key is refused with a readable message.
    await page.fill('#api-key', 'ocaas_not-a-real-key');
    await page.click('#sign-in');
    await page.waitForSelector('.signin-error:has-text("not accepted")');
    await page.fill('#api-key', key);
    await page.click('#sign-in');
    await page.waitForSelector('#account-chip');
    const stored = await page.evaluate(() => sessionStorage.getItem('ocaas.apiKey'));
    if (stored !== key) throw new Error('the key is not kept in sessionStorage');
    await page.waitForSelector('#instance-list table, #instance-list .empty h2');
    await shot(page, 'instances');
  });

  await step('an API error is shown from the error envelope', async () => {
    await page.click('#new-instance');
    await page.fill('.modal input[name=name]', 'x'.repeat(80));
    await page.click('.modal button[type=submit]');
    const t = await page.waitForSelector('.toast-error:has-text("VALIDATION_FAILED")');
    log(`  toast: ${(await t.innerText()).replace(/\s+/g, ' ')}`);
    await page.waitForTimeout(400); // the toast's slide-in
    await shot(page, 'error-toast');
    await page.click('.toast-error button');
  });

  await step('create an instance and watch it become ready', async () => {
    await page.click('#new-instance');
    await page.fill('.modal input[name=name]', instName);
    await page.click('.modal button[type=submit]');
    const row = `#instance-list tr[data-name="${instName}"]`;
    await page.waitForSelector(row);
    const first = await page.getAttribute(row, 'data-status');
    log(`  first status shown: ${first}`);
    const seen = new Set([first]);
    const deadline = Date.now() + 90_000;
    for (;;) {
      const s = await page.getAttribute(row, 'data-status');
      seen.add(s);
      if (s === 'ready') break;
      if (s === 'failed') throw new Error(`the instance failed: ${await page.innerText(row)}`);
      if (Date.now() > deadline) throw new Error(`not ready after 90 s (status ${s})`);
      await page.waitForTimeout(200);
    }
    log(`  statuses shown: ${[...seen].join(' → ')}`);
    instanceId = await page.getAttribute(row, 'data-id');
    await shot(page, 'instance-ready');
    await page.click(`${row} a.strong`);
    await page.waitForSelector('.page-instance .pill[data-status="ready"]');
    await page.waitForSelector('.timeline li');
    await shot(page, 'overview');
  });

  const fileRow = (name) => `#file-list tr[data-name="${name}"]`;
  const binary = crypto.randomBytes(300 * 1024 + 17);
  binary[0] = 0; binary[1] = 0xff; // certainly not UTF-8 text

  await step('upload a binary file and download it again', async () => {
    await page.click('a.tab[data-tab="files"]');
    await page.waitForSelector('#file-list table, #file-list .empty');
    await page.setInputFiles('#file-upload-input', { name: 'blob.bin', mimeType: 'application/octet-stream', buffer: binary });
    await page.waitForSelector(fileRow('blob.bin'));
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click(`${fileRow('blob.bin')} [data-action="download"]`),
    ]);
    const got = fs.readFileSync(await download.path());
    if (download.suggestedFilename() !== 'blob.bin') throw new Error(`downloaded as ${download.suggestedFilename()}`);
    if (!got.equals(binary)) throw new Error(`downloaded ${got.length} bytes, uploaded ${binary.length}: they differ`);
    log(`  ${binary.length} bytes up and down, identical`);
    // Opening a binary file for editing says so.
    await page.click(`${fileRow('blob.bin')} [data-action="edit"]`);
    await page.waitForSelector('.editor-wrap h2:has-text("Not a text file")');
    await page.click('#editor-close');
  });

  await step('make a folder and edit a text file in it', async () => {
    await page.click('#files-mkdir');
    await page.fill('.modal input[name=name]', 'docs');
    await page.click('.modal button[type=submit]');
    await page.click(`${fileRow('docs')} a.file-name`);
    await page.waitForSelector('#files-path .crumb.current:has-text("docs")');
    await page.setInputFiles('#file-upload-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('first line\n') });
    await page.waitForSelector(fileRow('notes.txt'));
    await page.click(`${fileRow('notes.txt')} [data-action="edit"]`);
    await page.waitForSelector('#file-editor:not([disabled])');
    const before = await page.inputValue('#file-editor');
    if (before !== 'first line\n') throw new Error(`the editor shows ${JSON.stringify(before)}`);
    const text = `first line\nedited in the browser ${suffix} ✓\n`;
    await page.fill('#file-editor', text);
    await page.waitForSelector('#editor-state:has-text("unsaved")');
    await shot(page, 'editor');
    await page.keyboard.press('Control+s');
    await page.waitForSelector('#editor-state:has-text("Saved")');
    const r = await apiCall('GET', `/api/instances/${instanceId}/files/read?path=${encodeURIComponent('/workspace/docs/notes.txt')}`);
    if (r.content !== text) throw new Error(`the file holds ${JSON.stringify(r.content)} after saving`);
    await page.click('#editor-close');
    await page.waitForSelector(fileRow('notes.txt'));
    await shot(page, 'files');
    await page.click('#files-up');
    await page.waitForSelector(fileRow('blob.bin'));
  });

  await step('type a command into the terminal and read its output', async () => {
    await page.click('a.tab[data-tab="terminal"]');
    await page.waitForSelector('.term-host[data-state="connected"]', { timeout: 30_000 });
    await page.click('.term-host');
    const marker = crypto.randomBytes(4).toString('hex');
    // The output (hello-42-…) differs from what is typed (hello-$((40+2))-…).
    await page.keyboard.type(`echo hello-$((40+2))-${marker}-marker\n`, { delay: 5 });
    const want = `hello-42-${marker}-marker`;
    await page.waitForFunction((want) => {
      const rows = document.querySelector('.term-pane:not([hidden]) .xterm-rows');
      return rows && rows.textContent.includes(want);
    }, want, { timeout: 15_000 });
    log(`  terminal printed ${want}`);
    await page.keyboard.type('pwd; ls\n', { delay: 5 });
    await page.waitForFunction(() => document.querySelector('.term-pane:not([hidden]) .xterm-rows').textContent.includes('blob.bin'));
    await shot(page, 'terminal');
    // A second shell in its own tab.
    await page.click('#terminal-new');
    await page.waitForFunction(() => document.querySelectorAll('.term-host[data-state="connected"]').length === 2);
    await page.click('.term-pane:not([hidden]) .term-host');
    await page.keyboard.type(`echo second-$((1+1))-${marker}\n`, { delay: 5 });
    await page.waitForFunction((m) => document.querySelector('.term-pane:not([hidden]) .xterm-rows').textContent.includes(`second-2-${m}`), marker);
    await shot(page, 'terminal-second');
    // Closing it (code 1000) leaves one.
    await page.click('#terminal-tabs .subtab.active .subtab-x');
    await page.waitForFunction(() => document.querySelectorAll('#terminal-tabs .subtab').length === 1);
  });

  await step('open the desktop (noVNC) and see pixels', async () => {
    await page.click('a.tab[data-tab="desktop"]');
    await page.waitForSelector('#desktop-screen[data-state="connected"]', { timeout: 60_000 });
    const c = await waitColourful(page, '#desktop-screen', 'desktop tab');
    log(`  canvas ${c.w}×${c.h}, ${c.colours} distinct colours sampled`);
    await page.waitForTimeout(1500); // let the window manager finish drawing for the picture
    await shot(page, 'desktop');
  });

  await step('the standalone desktop page from vnc-url', async () => {
    const v = await apiCall('GET', `/api/instances/${instanceId}/vnc-url`);
    for (const k of ['url', 'wsUrl', 'token', 'expiresAt']) if (!v[k]) throw new Error(`vnc-url has no ${k}: ${JSON.stringify(v)}`);
    const p2 = await context.newPage();
    watch(p2);
    await p2.goto(v.url);
    await p2.waitForSelector('#desktop-screen[data-state="connected"]', { timeout: 60_000 });
    const c = await waitColourful(p2, '#desktop-screen', 'desktop page');
    log(`  canvas ${c.w}×${c.h}, ${c.colours} distinct colours sampled`);
    if (p2.url().includes('token=')) throw new Error('the token stays in the address bar');
    await p2.waitForTimeout(1000);
    await shot(p2, 'desktop-page');
    await p2.close();
  });

  const meta = await (await fetch(`${base}/api`)).json();
  await step(meta.features && meta.features.chat ? 'chat: a streamed turn with the agent' : 'chat tab renders (this server runs no gateway)', async () => {
    await page.click('a.tab[data-tab="chat"]');
    await page.waitForSelector('#chat-input');
    await page.waitForSelector('#chat-sessions .pad, #chat-sessions .session');
    if (meta.features && meta.features.chat) {
      const word = `ping-${suffix}`;
      await page.fill('#chat-input', `Hello agent, say ${word}`);
      await page.keyboard.press('Enter');
      await page.waitForSelector('#chat-log .msg-user[data-id]:not([data-id=""])');
      // The gateway may still be booting: allow for it.
      await page.waitForSelector('#chat-log .msg-assistant[data-status="complete"], #chat-log .msg-assistant[data-status="failed"]', { timeout: 240_000 });
      const reply = await page.innerText('#chat-log .msg-assistant:last-child .bubble-body');
      const status = await page.getAttribute('#chat-log .msg-assistant:last-child', 'data-status');
      log(`  reply (${status}): ${reply.replace(/\s+/g, ' ').slice(0, 160)}`);
      if (status !== 'complete') throw new Error(`the reply failed: ${reply}`);
      await page.waitForSelector('#chat-sessions .session.active');
      // History comes back from chat/messages after switching away and back.
      await page.click('#chat-new');
      await page.click('#chat-sessions .session');
      await page.waitForSelector('#chat-log .msg-assistant[data-status="complete"]');
    }
    await shot(page, 'chat');
  });

  await step('account page renders', async () => {
    await page.click('a.nav-link[href="#/account"]');
    await page.waitForSelector('#key-list table');
    await shot(page, 'account');
  });

  await step('delete the instance from the list', async () => {
    await page.click('a.nav-link[href="#/instances"]');
    const row = `#instance-list tr[data-name="${instName}"]`;
    await page.waitForSelector(row);
    await page.click(`${row} [data-action="delete"]`);
    await page.waitForSelector('.modal:has-text("Delete")');
    await page.click('.modal button[type=submit]');
    await page.waitForSelector(row, { state: 'detached', timeout: 60_000 });
    await shot(page, 'deleted');
  });

  await step('sign out', async () => {
    await page.click('#sign-out');
    await page.waitForSelector('#api-key');
    const stored = await page.evaluate(() => sessionStorage.getItem('ocaas.apiKey'));
    if (stored) throw new Error('the key is still in sessionStorage after signing out');
  });

  if (blocked.length) throw Object.assign(new Error(`the console requested addresses off this machine:\n  ${blocked.join('\n  ')}`), { stepName: 'no outside requests' });
  if (pageErrors.length) throw Object.assign(new Error(`uncaught errors in the page:\n  ${pageErrors.join('\n  ')}`), { stepName: 'no page errors' });
} catch (e) {
  const name = e.stepName || current;
  console.error(`\n✘ FAILED: ${name}\n  ${e.message.split('\n').join('\n  ')}`);
  try { await shot(page, 'FAILED'); } catch { /* page gone */ }
  if (pageErrors.length) console.error(`page errors:\n  ${pageErrors.join('\n  ')}`);
  if (consoleErrors.length) console.error(`console errors:\n  ${consoleErrors.slice(-20).join('\n  ')}`);
  if (failedRequests.length) console.error(`failed requests:\n  ${failedRequests.slice(-20).join('\n  ')}`);
  if (blocked.length) console.error(`blocked (not local):\n  ${blocked.join('\n  ')}`);
  if (instanceId) await apiCall('DELETE', `/api/instances/${instanceId}`).catch(() => {});
  await browser.close();
  console.error(`console test: ${steps.length} passed, 1 failed`);
  process.exit(1);
}

await browser.close();
if (consoleErrors.length) log(`(console errors seen, not fatal: ${consoleErrors.length})\n  ${consoleErrors.slice(-10).join('\n  ')}`);
console.log(`console test: ${steps.length} passed, 0 failed (${elapsed()} s); screenshots in ${path.relative(root, shots)}/`);
