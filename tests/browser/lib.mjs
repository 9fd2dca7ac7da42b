// What the browser tests (console.mjs, account.mjs) share: finding playwright-core and
// Chromium (a setup problem exits 2), a timed log, numbered screenshots, and a browser context
// that lets no request leave this machine.

import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const shots = path.join(root, 'target', 'screenshots');
const chromiumPath = process.env.OCAAS_CHROMIUM || '/usr/bin/chromium';
const started = Date.now();

/** Seconds since the test started. */
export const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
export const log = (msg) => console.log(`[${elapsed().padStart(6)} s] ${msg}`);

/** Report a setup problem of test `name` (not a failure of what it tests) and exit 2. */
export function setupFail(name, msg) {
  console.error(`${name} test: SETUP: ${msg}`);
  process.exit(2);
}

/** `[base, key]` from the command line, else the usage line and exit 2. */
export function args(script, keyName) {
  const [base0, key] = process.argv.slice(2);
  if (!base0 || !key) {
    console.error(`usage: node tests/browser/${script} <base_url> <${keyName}>`);
    process.exit(2);
  }
  return [base0.replace(/\/+$/, ''), key];
}

function findNodeModules(name) {
  if (process.env.OCAAS_WEB_NODE_MODULES) return process.env.OCAAS_WEB_NODE_MODULES;
  let out;
  try {
    out = execFileSync('bash', [path.join(root, 'scripts', 'vendor-web.sh'), '--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    setupFail(name, `${(e.stderr || '').trim() || e.message}\n  → run scripts/vendor-web.sh (make does)`);
  }
  const m = /^NODE_MODULES=(.*)$/m.exec(out);
  if (!m) setupFail(name, 'scripts/vendor-web.sh --check printed no NODE_MODULES=');
  return m[1];
}

/** playwright-core's `chromium` (from scripts/vendor-web.sh's modules) and a Chromium to run. */
export function loadChromium(name) {
  const nodeModules = findNodeModules(name);
  let chromium;
  try {
    ({ chromium } = createRequire(path.join(nodeModules, 'noop.js'))('playwright-core'));
  } catch (e) {
    setupFail(name, `playwright-core not found in ${nodeModules}: ${e.message}\n  → run scripts/vendor-web.sh`);
  }
  if (!fs.existsSync(chromiumPath)) setupFail(name, `no Chromium at ${chromiumPath} (apt-get install chromium, or set OCAAS_CHROMIUM)`);
  return chromium;
}

/** `shot(page, name)` writes `target/screenshots/<prefix>NN-<name>.png`; pictures of an earlier
 * run with this prefix are removed first, so they cannot be mistaken for this run's. */
export function screenshots(prefix) {
  fs.mkdirSync(shots, { recursive: true });
  const earlier = new RegExp(`^${prefix}\\d\\d-.*\\.png$`);
  for (const f of fs.readdirSync(shots)) if (earlier.test(f)) fs.rmSync(path.join(shots, f));
  let n = 0;
  return async function shot(page, name) {
    const file = path.join(shots, `${prefix}${String(++n).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file });
    log(`  screenshot ${path.relative(root, file)}`);
  };
}

/** Headless Chromium. */
export function launch(chromium) {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
  });
}

/** Abort every request of `context` that is not to this machine; returns the list of those
 * (the test fails on any). */
export async function keepLocal(context) {
  const blocked = [];
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    const local = ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(u.hostname) || u.protocol === 'data:' || u.protocol === 'blob:';
    if (local) return route.continue();
    blocked.push(u.href);
    return route.abort('blockedbyclient');
  });
  return blocked;
}
