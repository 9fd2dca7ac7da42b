// The console's shell: sign-in, the top bar, and a hash router over the pages.
//   #/instances              the instance list
//   #/instances/<id>[/<tab>] one instance (tabs: overview, files, terminal, desktop, chat)
//   #/account                the account and its API keys

import { api, getKey, setKey, setUnauthorizedHandler } from './api.js';
import { h, mount, btn, icon, toast, errorBox } from './ui.js';
import { InstancesPage } from './instances.js';
import { InstanceView } from './instance.js';
import { AccountPage } from './account.js';

const app = document.getElementById('app');
const session = {
  account: null,
  meta: null,
  /** Open instance views by id: they keep their terminals across navigation. */
  views: new Map(),
  page: null,
};

// ------------------------------------------------------------------ theme

function currentTheme() {
  const t = document.documentElement.dataset.theme;
  if (t) return t;
  return matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

function toggleTheme() {
  const next = currentTheme() === 'dark' ? 'light' : 'dark';
  document.documentElement.dataset.theme = next;
  try { localStorage.setItem('ocaas.theme', next); } catch { /* private mode */ }
  window.dispatchEvent(new CustomEvent('ocaas:theme', { detail: next }));
  renderTopbarTheme();
}

let themeBtn;
function renderTopbarTheme() {
  if (!themeBtn) return;
  const dark = currentTheme() === 'dark';
  mount(themeBtn, icon(dark ? 'sun' : 'moon'));
  themeBtn.title = dark ? 'Light theme' : 'Dark theme';
  themeBtn.setAttribute('aria-label', themeBtn.title);
}

// ------------------------------------------------------------------ sign-in

function renderSignIn(message) {
  closeAll();
  const input = h('input.input.input-lg#api-key', {
    type: 'password', name: 'api-key', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'ocaas_…', 'aria-label': 'API key', required: true,
  });
  const err = h('div.signin-error', { role: 'alert' });
  if (message) mount(err, message);
  const submit = h('button.btn.btn-primary.btn-lg.btn-block#sign-in', { type: 'submit' }, 'Sign in');
  const reveal = btn('', {
    icon: 'key', kind: 'ghost', title: 'Show or hide the key',
    onclick: () => { input.type = input.type === 'password' ? 'text' : 'password'; },
  });
  const form = h('form.signin-card', {
    onsubmit: async (e) => {
      e.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      submit.disabled = true;
      mount(submit, h('span.spinner.spinner-sm'), ' Signing in…');
      mount(err);
      try {
        const account = await api.get('/api/account', undefined, { key });
        setKey(key);
        session.account = account;
        await start();
      } catch (e2) {
        mount(err, e2.status === 401
          ? 'This key was not accepted. Check that it is complete and has not been revoked.'
          : (e2.describe ? e2.describe() : String(e2)));
        submit.disabled = false;
        mount(submit, 'Sign in');
        input.focus();
        input.select();
      }
    },
  },
  h('div.signin-brand', icon('logo', 40), h('div', h('div.signin-title', 'OpenClaw'), h('div.muted', 'as a Service'))),
  h('h1.signin-h1', 'Sign in to the console'),
  h('p.muted', 'Use an API key of your account. It stays in this browser tab only and is forgotten when the tab closes.'),
  h('label.field', h('span.field-label', 'API key'), h('div.input-group', input, reveal)),
  err,
  submit,
  h('p.muted.small', 'No key yet? ', h('a#to-account', { href: '/account' }, 'Sign up or sign in on your account page'),
    ' to create one (the service also prints an admin key on its first start).'));
  mount(app, h('div.signin', form));
  setTimeout(() => input.focus(), 0);
}

function signOut(message) {
  setKey(null);
  session.account = null;
  renderSignIn(message);
}

setUnauthorizedHandler((err) => {
  if (!session.account) return;
  signOut(`Signed out: the key was rejected (${err.code}).`);
});

// ------------------------------------------------------------------ shell

let main;
let navLinks = {};

function renderShell() {
  themeBtn = h('button.btn.btn-ghost.btn-icon', { type: 'button', onclick: toggleTheme });
  renderTopbarTheme();
  const a = session.account;
  navLinks = {
    instances: h('a.nav-link', { href: '#/instances' }, icon('server'), h('span', 'Instances')),
    account: h('a.nav-link', { href: '#/account' }, icon('user'), h('span', 'Account')),
  };
  main = h('main.main#main');
  mount(app,
    h('header.topbar',
      h('a.brand', { href: '#/instances' }, icon('logo', 24), h('span.brand-name', 'OpenClaw'), h('span.brand-sub', 'Console')),
      h('nav.nav', navLinks.instances, navLinks.account,
        h('a.nav-link#to-account-page', { href: '/account', title: 'Sign-in, keys with permissions, subscription, invite codes' },
          icon('key'), h('span', 'Billing & keys'))),
      h('div.spacer'),
      themeBtn,
      h('div.account-chip#account-chip', { title: a.email || a.name },
        h('span.avatar', (a.name || '?').slice(0, 1).toUpperCase()),
        h('span.account-name', a.name),
        a.is_admin ? h('span.badge', 'admin') : null),
      btn('Sign out', { icon: 'logout', kind: 'ghost', id: 'sign-out', onclick: () => signOut() })),
    main);
}

function closeAll() {
  if (session.page && session.page.detach) session.page.detach();
  session.page = null;
  for (const v of session.views.values()) v.dispose();
  session.views.clear();
}

// ------------------------------------------------------------------ router

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path] = raw.split('?');
  return path.split('/').filter(Boolean).map(decodeURIComponent);
}

function route() {
  if (!session.account) return;
  const parts = parseHash();
  let next;
  let nav = 'instances';
  if (parts[0] === 'account') {
    nav = 'account';
    next = session.page instanceof AccountPage ? session.page : new AccountPage(session);
  } else if (parts[0] === 'instances' && parts[1]) {
    const id = parts[1];
    let view = session.views.get(id);
    if (!view) {
      view = new InstanceView(id, session, {
        onGone: () => {
          session.views.delete(id);
          if (session.page === view) location.hash = '#/instances';
        },
      });
      session.views.set(id, view);
    }
    next = view;
    view.setTab(parts[2] || 'overview');
  } else {
    if (parts[0] !== 'instances') { history.replaceState(null, '', '#/instances'); }
    next = session.page instanceof InstancesPage ? session.page : new InstancesPage(session);
  }
  for (const [k, el] of Object.entries(navLinks)) el.classList.toggle('active', k === nav);
  if (next !== session.page) {
    if (session.page && session.page.detach) session.page.detach();
    session.page = next;
    mount(main, next.el);
    next.attach();
  }
  document.title = `${next.title ? next.title() + ' · ' : ''}OpenClaw Console`;
}

window.addEventListener('hashchange', route);

async function start() {
  try {
    session.meta = await api.get('/api').catch(() => null);
    if (!session.account) session.account = await api.get('/api/account');
  } catch (e) {
    if (e.status === 401) return signOut('Your saved key is no longer valid. Sign in again.');
    mount(app, h('div.signin', h('div.signin-card', errorBox(e, () => start()))));
    return;
  }
  renderShell();
  if (!location.hash || location.hash === '#' || location.hash === '#/') history.replaceState(null, '', '#/instances');
  route();
}

if (getKey()) start();
else renderSignIn();

// Errors no one caught are still shown.
window.addEventListener('unhandledrejection', (e) => {
  const r = e.reason;
  if (r && r.name === 'AbortError') return;
  if (r && r.name === 'ApiError') {
    toast(r.describe(), 'error', r.requestId ? `request ${r.requestId}` : undefined);
    e.preventDefault();
  }
});
