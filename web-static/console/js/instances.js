// The instance list: live status (polled every 2 s), create, and lifecycle actions.

import { api, inst } from './api.js';
import { h, mount, btn, icon, toast, showError, errorBox, dialog, statusPill, fmtAgo, fmtTime, isTransitional } from './ui.js';

const POLL_MS = 2000;

/** Lifecycle actions valid in a status. */
export function actionsFor(status) {
  switch (status) {
    case 'ready': return ['shutdown', 'reboot'];
    case 'stopped': case 'failed': return ['start'];
    // Asleep: any use wakes it; Start wakes it now, Shut down makes it a real stop.
    case 'sleeping': return ['start', 'shutdown'];
    case 'provisioning': case 'starting': case 'rebooting': case 'waking': return ['shutdown'];
    default: return [];
  }
}

const ACTION = {
  start: { label: 'Start', icon: 'play', past: 'Starting' },
  shutdown: { label: 'Shut down', icon: 'power', past: 'Shutting down' },
  reboot: { label: 'Reboot', icon: 'reboot', past: 'Rebooting' },
};

/** Run a lifecycle action (`start`, `shutdown`, `reboot`) with a toast. */
export async function runAction(id, name, action) {
  try {
    await api.post(inst(id, `/${action}`));
    toast(`${ACTION[action].past} ${name}`, 'info');
    return true;
  } catch (e) {
    showError(e, `${ACTION[action].label} failed`);
    return false;
  }
}

/** Ask, then delete; resolves true when deleted. */
export async function confirmDelete(id, name, beforeDelete) {
  const ok = await dialog({
    title: `Delete ${name}?`,
    message: 'The sandbox is stopped and its workspace is deleted for good. This cannot be undone.',
    confirm: 'Delete instance',
    danger: true,
  });
  if (!ok) return false;
  try {
    // Close this instance's terminals and desktop first: the sandbox then stops at once.
    if (beforeDelete) await beforeDelete();
    await api.del(inst(id));
    toast(`Deleted ${name}`, 'success');
    return true;
  } catch (e) {
    showError(e, 'Delete failed');
    return false;
  }
}

export class InstancesPage {
  constructor(session) {
    this.session = session;
    this.items = null;
    this.error = null;
    this.timer = null;
    this.busy = new Set();
    this.list = h('div.instance-list#instance-list');
    this.count = h('span.muted');
    this.el = h('div.page',
      h('div.page-head',
        h('div', h('h1', 'Instances'), h('p.muted', 'Each instance is an OpenClaw agent in its own sandbox, with a workspace, a terminal and a desktop.')),
        h('div.page-actions', this.count,
          btn('New instance', { icon: 'plus', kind: 'primary', id: 'new-instance', onclick: () => this.create() }))),
      this.list);
  }

  title() { return 'Instances'; }

  attach() {
    this.render();
    this.poll();
  }

  detach() {
    clearTimeout(this.timer);
    this.timer = null;
    this.attached = false;
  }

  async poll() {
    this.attached = true;
    clearTimeout(this.timer);
    try {
      this.items = await api.get('/api/instances');
      this.error = null;
    } catch (e) {
      this.error = e;
    }
    if (!this.attached) return;
    this.render();
    this.timer = setTimeout(() => this.poll(), document.hidden ? POLL_MS * 5 : POLL_MS);
  }

  async create() {
    const values = await dialog({
      title: 'New instance',
      message: 'A fresh sandbox with its own workspace. It is ready in a few seconds.',
      fields: [{ name: 'name', label: 'Name', placeholder: 'my-agent' }],
      confirm: 'Create',
    });
    if (!values) return;
    const body = {};
    if (values.name.trim()) body.name = values.name.trim();
    try {
      const created = await api.post('/api/instances', body);
      toast(`Creating ${created.name}…`, 'info');
      await this.poll();
    } catch (e) {
      showError(e, 'Could not create the instance');
    }
  }

  render() {
    const limit = this.session.account && this.session.account.max_instances
      || (this.session.meta && this.session.meta.limits && this.session.meta.limits.max_instances_per_account);
    if (this.items) mount(this.count, limit ? `${this.items.length} of ${limit}` : `${this.items.length}`);
    if (this.error && !this.items) {
      mount(this.list, errorBox(this.error, () => this.poll()));
      return;
    }
    if (!this.items) {
      mount(this.list, h('div.empty', h('div.spinner')));
      return;
    }
    if (!this.items.length) {
      mount(this.list, h('div.empty',
        icon('server', 40),
        h('h2', 'No instances yet'),
        h('p.muted', 'Create one to get a workspace, a terminal, a desktop and a chat with your agent.'),
        btn('New instance', { icon: 'plus', kind: 'primary', onclick: () => this.create() })));
      return;
    }
    const rows = this.items.map((i) => this.row(i));
    mount(this.list,
      this.error ? h('div.banner.banner-warn', icon('info'), `Live updates paused: ${this.error.describe ? this.error.describe() : this.error}`) : null,
      h('div.table-wrap', h('table.table.instances',
        h('thead', h('tr', h('th', 'Name'), h('th', 'Status'), h('th.hide-sm', 'Sandbox'), h('th.hide-sm', 'Created'), h('th.right', ''))),
        h('tbody', rows))));
  }

  row(i) {
    const open = `#/instances/${encodeURIComponent(i.id)}`;
    const busy = this.busy.has(i.id);
    const act = (action) => btn('', {
      icon: ACTION[action].icon, kind: 'ghost', title: ACTION[action].label, disabled: busy,
      dataset: { action },
      onclick: async (e) => {
        e.stopPropagation();
        this.busy.add(i.id);
        this.render();
        await runAction(i.id, i.name, action);
        this.busy.delete(i.id);
        this.poll();
      },
    });
    return h('tr.row-link', {
      dataset: { id: i.id, name: i.name, status: i.status },
      onclick: (e) => { if (!e.target.closest('button,a')) location.hash = open; },
    },
    h('td', h('a.strong', { href: open }, i.name), h('div.muted.small.mono.hide-sm', i.id)),
    h('td', statusPill(i.status),
      i.status_reason && !isTransitional(i.status) && i.status !== 'ready' ? h('div.muted.small.reason', i.status_reason) : null),
    h('td.hide-sm.mono.small', i.sandbox_id || '—'),
    h('td.hide-sm', { title: fmtTime(i.created_at) }, fmtAgo(i.created_at)),
    h('td.right.nowrap',
      actionsFor(i.status).map(act),
      btn('', { icon: 'trash', kind: 'ghost', title: 'Delete', disabled: busy || i.status === 'deleting', dataset: { action: 'delete' },
        onclick: async (e) => {
          e.stopPropagation();
          const before = () => {
            const v = this.session.views.get(i.id);
            this.session.views.delete(i.id);
            return v ? v.dispose() : null;
          };
          if (await confirmDelete(i.id, i.name, before)) this.poll();
        } }),
      h('a.btn.btn-sm', { href: open }, 'Open')));
  }
}
