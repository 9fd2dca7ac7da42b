// Account page: who this key belongs to, and the account's API keys (create, revoke).

import { api } from './api.js';
import { h, mount, btn, icon, toast, showError, errorBox, dialog, fmtTime, fmtAgo, copyText } from './ui.js';

export class AccountPage {
  constructor(session) {
    this.session = session;
    this.info = h('div');
    this.keys = h('div#key-list');
    this.created = h('div');
    this.el = h('div.page',
      h('div.page-head', h('div', h('h1', 'Account'), h('p.muted', 'Your account and the API keys that act for it.'))),
      this.info,
      h('section.card',
        h('div.card-head', h('h3', 'API keys'), btn('New key', { icon: 'plus', kind: 'primary', id: 'new-key', onclick: () => this.create() })),
        this.created,
        this.keys));
  }

  title() { return 'Account'; }

  attach() {
    this.renderInfo();
    this.load();
  }

  detach() {}

  renderInfo() {
    const a = this.session.account;
    const m = this.session.meta;
    const row = (k, v) => h('div.kv', h('div.k', k), h('div.v', v));
    mount(this.info, h('div.grid-2',
      h('section.card', h('h3', 'Account'), h('div.kvs',
        row('Name', a.name),
        row('Email', a.email || '—'),
        row('Role', a.is_admin ? 'Administrator' : 'Member'),
        row('Instance limit', String(a.max_instances ?? (m && m.limits ? m.limits.max_instances_per_account : '—'))),
        row('ID', h('span.mono', a.id)),
        row('Since', fmtTime(a.created_at)))),
      m ? h('section.card', h('h3', 'Service'), h('div.kvs',
        row('Version', m.version),
        row('Runtime', m.runtime ? `${m.runtime.kind}${m.runtime.sandbox ? ` · ${m.runtime.sandbox}` : ''}` : '—'),
        row('Database', m.database || '—'),
        row('Model', m.model ? m.model.provider : '—'),
        row('API', h('a', { href: '/api', target: '_blank', rel: 'noopener' }, '/api')))) : null));
  }

  async load() {
    try {
      const keys = await api.get('/api/keys');
      if (!keys.length) { mount(this.keys, h('p.muted', 'No keys.')); return; }
      mount(this.keys, h('div.table-wrap', h('table.table',
        h('thead', h('tr', h('th', 'Name'), h('th', 'Key'), h('th.hide-sm', 'Created'), h('th.hide-sm', 'Last used'), h('th.right', ''))),
        h('tbody', keys.map((k) => h('tr', { dataset: { id: k.id } },
          h('td', k.name, k.revoked_at ? h('span.badge.badge-off', 'revoked') : null),
          h('td.mono', `${k.prefix}…`),
          h('td.hide-sm', { title: fmtTime(k.created_at) }, fmtAgo(k.created_at)),
          h('td.hide-sm', k.last_used_at ? fmtAgo(k.last_used_at) : 'never'),
          h('td.right', k.revoked_at ? null : btn('Revoke', { kind: 'danger-ghost', size: 'sm', onclick: () => this.revoke(k) }))))))));
    } catch (e) {
      mount(this.keys, errorBox(e, () => this.load()));
    }
  }

  async create() {
    const v = await dialog({ title: 'New API key', fields: [{ name: 'name', label: 'Name', placeholder: 'ci, laptop, agent…' }], confirm: 'Create key' });
    if (!v) return;
    try {
      const k = await api.post('/api/keys', v.name.trim() ? { name: v.name.trim() } : {});
      mount(this.created, h('div.banner.banner-ok',
        icon('key'),
        h('div', h('div', h('strong', `Key “${k.name}” created.`), ' Copy it now: it is not shown again.'),
          h('div.secret.mono', k.key)),
        btn('Copy', { icon: 'copy', size: 'sm', onclick: () => copyText(k.key, 'Key copied') })));
      this.load();
    } catch (e) {
      showError(e, 'Could not create the key');
    }
  }

  async revoke(k) {
    const ok = await dialog({ title: `Revoke “${k.name}”?`, message: 'Anything using this key loses access at once.', confirm: 'Revoke', danger: true });
    if (!ok) return;
    try {
      await api.del(`/api/keys/${encodeURIComponent(k.id)}`);
      toast(`Revoked ${k.name}`, 'success');
      this.load();
    } catch (e) {
      showError(e, 'Could not revoke the key');
    }
  }
}
