// The account page (/account): sign up, sign in and out with a password (a cookie session),
// then manage API keys (create with permissions — shown once —, list, revoke), see the
// subscription and start a checkout, and redeem an invite code. Every unsafe request sends the
// session's CSRF token in `X-CSRF-Token`. The console (/console) is where instances are used.

import { h, mount, btn, icon, toast, showError, dialog, fmtTime, fmtAgo, copyText } from '/console/js/ui.js';

const app = document.getElementById('app');
const state = { meta: null, account: null, csrf: null, justCreated: null };

const PERMISSIONS = [
  ['instances:read', 'List and inspect instances and their status'],
  ['instances:write', 'Create, start, stop, reboot and delete instances'],
  ['chat', 'Chat sessions and turns'],
  ['files', 'Read and write the workspace'],
  ['terminal', 'Exec, terminals and the desktop'],
  ['admin', 'Manage this account: keys, billing, invites'],
];

// ------------------------------------------------------------------ HTTP

class PageError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
  describe() {
    let s = `${this.message} (${this.status} ${this.code})`;
    if (this.retryAfter != null) s += ` — retry in ${this.retryAfter} s`;
    return s;
  }
}

/** Same-origin fetch with the session cookie (never a key) and, when unsafe, the CSRF token. */
async function call(method, path, json) {
  const headers = {};
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: json !== undefined ? JSON.stringify(json) : undefined,
    });
  } catch (e) {
    throw new PageError(0, 'NETWORK', 'The service could not be reached');
  }
  if (res.status === 204) return null;
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const e = (body && body.error) || {};
    throw new PageError(res.status, e.code || `HTTP_${res.status}`, e.message || res.statusText, e.retryAfter);
  }
  return body;
}

// ------------------------------------------------------------------ theme

function toggleTheme() {
  const cur = document.documentElement.dataset.theme
    || (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark');
  const next = cur === 'dark' ? 'light' : 'dark';
  document.documentElement.dataset.theme = next;
  try { localStorage.setItem('ocaas.theme', next); } catch { /* private mode */ }
  render();
}

function isDark() {
  const t = document.documentElement.dataset.theme;
  return t ? t === 'dark' : !matchMedia('(prefers-color-scheme: light)').matches;
}

// ------------------------------------------------------------------ signed out

function renderAuth(mode = 'sign-in', message) {
  const signUpOpen = state.meta && state.meta.access && state.meta.access.sign_up;
  if (!signUpOpen) mode = 'sign-in';
  const email = h('input.input#email', { type: 'email', name: 'email', autocomplete: 'email', required: true, placeholder: 'you@example.com' });
  const password = h('input.input#password', {
    type: 'password', name: 'password', required: true, minlength: 10,
    autocomplete: mode === 'sign-up' ? 'new-password' : 'current-password',
    placeholder: mode === 'sign-up' ? 'At least 10 characters' : '',
  });
  const err = h('div.signin-error#auth-error', { role: 'alert' }, message || '');
  const submit = h(`button.btn.btn-primary.btn-lg.btn-block#${mode}`, { type: 'submit' },
    mode === 'sign-up' ? 'Create account' : 'Sign in');
  const tab = (m, label) => h(`button.auth-tab${m === mode ? '.active' : ''}`, {
    type: 'button', id: `tab-${m}`, onclick: () => renderAuth(m),
  }, label);
  const form = h('form.signin-card', {
    onsubmit: async (e) => {
      e.preventDefault();
      submit.disabled = true;
      mount(err);
      try {
        const s = await call('POST', `/api/auth/${mode}`, { email: email.value, password: password.value });
        state.account = s.account;
        state.csrf = s.csrf_token;
        toast(mode === 'sign-up' ? 'Welcome! Your account is ready.' : 'Signed in', 'success');
        render();
      } catch (e2) {
        mount(err, e2.describe ? e2.describe() : String(e2));
        submit.disabled = false;
      }
    },
  },
  h('div.signin-brand', icon('logo', 40), h('div', h('div.signin-title', 'OpenClaw'), h('div.muted', 'as a Service'))),
  h('h1.signin-h1', mode === 'sign-up' ? 'Create your account' : 'Sign in to your account'),
  h('p.muted', mode === 'sign-up'
    ? 'One email and a password. Then create API keys for your agents and scripts.'
    : 'Manage your API keys, your subscription and invite codes.'),
  signUpOpen ? h('div.auth-tabs', tab('sign-in', 'Sign in'), tab('sign-up', 'Create account')) : null,
  h('label.field', h('span.field-label', 'Email'), email),
  h('label.field', h('span.field-label', 'Password'), password),
  err,
  submit,
  h('p.muted.small.auth-note',
    signUpOpen ? null : 'Sign-up is closed here: ask the operator for an account. ',
    'Already have an API key? ', h('a', { href: '/console' }, 'Open the console'), '.'));
  mount(app, h('div.signin', form));
  setTimeout(() => email.focus(), 0);
}

// ------------------------------------------------------------------ signed in

function topbar() {
  const a = state.account;
  return h('header.topbar',
    h('a.brand', { href: '/account' }, icon('logo', 22), h('span.brand-name', 'OpenClaw'), h('span.brand-sub', 'Account')),
    h('nav.nav',
      h('a.nav-link#to-console', { href: '/console' }, icon('server'), h('span', 'Console')),
      h('a.nav-link.active', { href: '/account' }, icon('user'), h('span', 'Account')),
      h('a.nav-link', { href: '/docs' }, icon('file'), h('span', 'API docs'))),
    h('div.spacer'),
    btn('', { icon: isDark() ? 'sun' : 'moon', kind: 'ghost', title: isDark() ? 'Light theme' : 'Dark theme', onclick: toggleTheme }),
    h('div.account-chip',
      h('div.avatar', (a.email || a.name || '?').slice(0, 1).toUpperCase()),
      h('span.account-name#account-email', a.email || a.name),
      a.is_admin ? h('span.badge', 'admin') : null),
    btn('Sign out', { id: 'sign-out', icon: 'logout', kind: 'ghost', onclick: signOut }));
}

async function signOut() {
  try { await call('POST', '/api/auth/sign-out', {}); } catch (e) { /* signed out either way */ }
  state.account = null;
  state.csrf = null;
  renderAuth('sign-in', 'You are signed out.');
}

function accessCard() {
  const a = state.account;
  const gate = state.meta.access.gate;
  const sub = a.subscription;
  const entitled = sub && ['active', 'trialing', 'past_due'].includes(sub.status);
  let stateEl;
  if (a.is_admin) stateEl = h('span.state.state-ok', 'admin: never gated');
  else if (gate === 'open') stateEl = h('span.state.state-ok', 'open to every account');
  else if (entitled) stateEl = h('span.state.state-ok', `subscription ${sub.status}`);
  else if (gate === 'invite_or_subscription' && a.has_invite) stateEl = h('span.state.state-ok', 'invited');
  else stateEl = h('span.state.state-warn', 'no access yet');
  const gateText = {
    open: 'Any account may create instances, within its quota.',
    invite_or_subscription: 'Creating instances needs an active subscription or an invite code.',
    subscription: 'Creating instances needs an active subscription.',
  }[gate];
  const checkout = state.meta.access.billing
    ? btn(entitled ? 'Subscribe again' : 'Start checkout', {
      id: 'checkout', icon: 'key', kind: entitled ? '' : 'primary',
      onclick: async (e) => {
        e.currentTarget.disabled = true;
        try {
          const { url } = await call('POST', '/api/billing/checkout', {});
          window.location.assign(url);
        } catch (err) {
          showError(err, 'Checkout');
          e.currentTarget.disabled = false;
        }
      },
    })
    : h('span.muted.small', 'Billing is not enabled on this service.');
  const invite = h('input.input#invite-code', { placeholder: 'inv_…', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Invite code' });
  const redeem = h('form.form-row', {
    onsubmit: async (e) => {
      e.preventDefault();
      if (!invite.value.trim()) return;
      try {
        state.account = await call('POST', '/api/account/invite', { code: invite.value.trim() });
        toast('Invite code redeemed: your account may create instances.', 'success');
        render();
      } catch (err) {
        showError(err, 'Invite code');
      }
    },
  }, h('label.field', h('span.field-label', 'Invite code'), invite), h('button.btn#redeem', { type: 'submit' }, 'Redeem'));
  return h('section.card#access',
    h('div.card-head', h('h3', 'Access'), stateEl),
    h('p.muted', gateText),
    h('div.kvs',
      h('div.kv', h('div.k', 'Subscription'), h('div.v#subscription-status', sub ? `${sub.status}${sub.max_instances != null ? ` · up to ${sub.max_instances} instances` : ''}` : 'none')),
      h('div.kv', h('div.k', 'Invite'), h('div.v#invite-status', a.has_invite ? 'redeemed' : 'none')),
      h('div.kv', h('div.k', 'Instance limit'), h('div.v', a.max_instances != null ? String(a.max_instances)
        : (entitled && sub.max_instances != null ? String(sub.max_instances) : String(state.meta.limits.max_instances_per_account))))),
    h('div.card-actions', checkout),
    gate === 'invite_or_subscription' || !a.has_invite ? redeem : null);
}

function permChips(perms) {
  if (perms.length === PERMISSIONS.length) return h('div.chips', h('span.chip.chip-all', 'all permissions'));
  return h('div.chips', perms.map((p) => h('span.chip', p)));
}

function createKeyCard(reload) {
  const name = h('input.input#key-name', { placeholder: 'e.g. laptop, ci, my-agent', maxlength: 100, autocomplete: 'off' });
  const boxes = PERMISSIONS.map(([p, desc]) => h('label.perm',
    h('input', { type: 'checkbox', name: 'perm', value: p, checked: p !== 'admin' }),
    h('div', h('div.perm-name', p), h('div.perm-desc', desc))));
  const shown = state.justCreated;
  return h('section.card#create-key-card',
    h('div.card-head', h('h3', 'Create an API key')),
    h('p.muted', 'Keys authenticate the API (Authorization: Bearer …). Give each one only what it needs.'),
    h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        const permissions = [...e.currentTarget.querySelectorAll('input[name=perm]:checked')].map((c) => c.value);
        if (!permissions.length) { toast('Pick at least one permission', 'error'); return; }
        try {
          const created = await call('POST', '/api/keys', { name: name.value.trim() || 'api key', permissions });
          state.justCreated = created;
          await reload();
        } catch (err) {
          showError(err, 'Create key');
        }
      },
    },
    h('label.field', h('span.field-label', 'Name'), name),
    h('div.field', h('span.field-label', 'Permissions'), h('div.perm-grid', boxes)),
    h('div.card-actions', h('button.btn.btn-primary#create-key', { type: 'submit' }, icon('plus'), h('span', 'Create key')))),
    shown ? h('div.secret-box#new-key-box',
      h('div.strong', `Your new key “${shown.name}”`),
      h('div.muted.small', 'Copy it now: it is shown this once and cannot be retrieved later.'),
      h('div.secret-row',
        h('code.secret#new-key', shown.key),
        btn('Copy', { id: 'copy-key', icon: 'copy', onclick: () => copyText(shown.key, 'Key copied') }),
        btn('', { icon: 'x', kind: 'ghost', title: 'Hide', onclick: () => { state.justCreated = null; reload(); } })))
      : null);
}

function keysCard(keys, reload) {
  const rows = keys.map((k) => h(`tr${k.revoked_at ? '.revoked' : ''}`, { dataset: { keyId: k.id, keyName: k.name } },
    h('td', h('div.key-name.strong', k.name), h('div.mono.small.muted', `${k.prefix}…`)),
    h('td', permChips(k.permissions)),
    h('td.nowrap', { title: fmtTime(k.created_at) }, fmtAgo(k.created_at)),
    h('td.nowrap', k.last_used_at ? h('span', { title: fmtTime(k.last_used_at) }, fmtAgo(k.last_used_at)) : h('span.muted', 'never')),
    h('td.right', k.revoked_at
      ? h('span.state.state-off', 'revoked')
      : btn('Revoke', {
        kind: 'danger-ghost', size: 'sm', class: 'btn btn-danger-ghost btn-sm revoke',
        onclick: async () => {
          const ok = await dialog({
            title: `Revoke “${k.name}”?`,
            message: 'Anything using this key stops working at once. This cannot be undone.',
            confirm: 'Revoke', danger: true,
          });
          if (!ok) return;
          try {
            await call('DELETE', `/api/keys/${k.id}`);
            toast(`Revoked “${k.name}”`, 'success');
            if (state.justCreated && state.justCreated.id === k.id) state.justCreated = null;
            await reload();
          } catch (err) {
            showError(err, 'Revoke');
          }
        },
      }))));
  return h('section.card#keys',
    h('div.card-head', h('h3', 'API keys'), h('span.muted.small', `${keys.filter((k) => !k.revoked_at).length} active`)),
    keys.length
      ? h('div.table-wrap', h('table.table',
        h('thead', h('tr', h('th', 'Name'), h('th', 'Permissions'), h('th', 'Created'), h('th', 'Last used'), h('th.right', ''))),
        h('tbody', rows)))
      : h('p.muted', 'No keys yet. Create one above.'));
}

async function renderSignedIn() {
  const main = h('main.main#main', h('div.boot', h('div.spinner')));
  mount(app, topbar(), main);
  const reload = async () => {
    try {
      const [account, keys] = await Promise.all([call('GET', '/api/account'), call('GET', '/api/keys')]);
      state.account = account;
      mount(main,
        h('div.page-head',
          h('div', h('h1', 'Your account'), h('p.muted', account.email || account.name)),
          h('div.page-actions', h('a.btn', { href: '/console' }, icon('server'), h('span', 'Open the console')))),
        accessCard(),
        createKeyCard(reload),
        keysCard(keys, reload));
      const shown = document.getElementById('new-key-box');
      if (shown) shown.scrollIntoView({ block: 'center' });
    } catch (err) {
      if (err.status === 401) { state.account = null; renderAuth('sign-in', 'Your session ended; sign in again.'); return; }
      showError(err);
    }
  };
  await reload();
}

function render() {
  if (state.account) renderSignedIn();
  else renderAuth();
}

// ------------------------------------------------------------------ start

(async () => {
  try {
    state.meta = await call('GET', '/api');
  } catch (e) {
    mount(app, h('div.signin', h('div.signin-card', h('h1.signin-h1', 'Service unavailable'), h('p.muted', String(e.message)))));
    return;
  }
  try {
    const s = await call('GET', '/api/auth/session');
    state.account = s.account;
    state.csrf = s.csrf_token;
  } catch { /* not signed in */ }
  const params = new URLSearchParams(location.search);
  if (params.get('checkout') === 'success') toast('Thanks! Your subscription shows here as soon as Stripe confirms it.', 'success');
  if (params.get('checkout') === 'cancel') toast('Checkout cancelled: nothing was charged.');
  render();
})();
