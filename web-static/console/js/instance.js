// One instance: header with live status and lifecycle actions, and the tabs
// Overview, Files, Terminal, Desktop and Chat. A view stays alive while the console is
// open (its terminals survive going back to the list); it polls only while shown.

import { api, inst } from './api.js';
import { h, mount, btn, icon, toast, showError, errorBox, statusPill, fmtTime, fmtAgo, fmtBytes, copyText, isTransitional } from './ui.js';
import { actionsFor, runAction, confirmDelete } from './instances.js';
import { FilesTab } from './files.js';
import { TerminalTab } from './terminal.js';
import { DesktopTab } from './desktop.js';
import { ChatTab } from './chat.js';

const POLL_MS = 2000;

const TABS = [
  { id: 'overview', label: 'Overview', icon: 'info', needsReady: false },
  { id: 'files', label: 'Files', icon: 'folder', needsReady: true, make: (v) => new FilesTab(v) },
  { id: 'terminal', label: 'Terminal', icon: 'terminal', needsReady: true, make: (v) => new TerminalTab(v) },
  { id: 'desktop', label: 'Desktop', icon: 'monitor', needsReady: true, make: (v) => new DesktopTab(v) },
  { id: 'chat', label: 'Chat', icon: 'chat', needsReady: true, make: (v) => new ChatTab(v) },
];

export class InstanceView {
  constructor(id, session, { onGone }) {
    this.id = id;
    this.session = session;
    this.onGone = onGone;
    this.instance = null;
    this.status = null;
    this.error = null;
    this.tab = 'overview';
    this.tabs = {};
    this.panes = {};
    this.timer = null;
    this.attached = false;
    this.disposed = false;

    this.titleEl = h('h1.inst-title', '…');
    this.pillEl = h('span');
    this.actionsEl = h('div.page-actions');
    this.metaEl = h('div.inst-meta.muted.small');
    this.tabBar = h('div.tabs', { role: 'tablist' });
    this.body = h('div.tab-body');
    this.overview = h('div.overview');
    for (const t of TABS) {
      const a = h('a.tab', { href: `#/instances/${encodeURIComponent(id)}/${t.id}`, role: 'tab', dataset: { tab: t.id } }, icon(t.icon), h('span', t.label));
      this.tabBar.append(a);
      const blocker = h('div.blocker', { hidden: true });
      const content = h('div.tab-content');
      const pane = h('div.tab-pane', { dataset: { tab: t.id }, hidden: true }, blocker, content);
      this.panes[t.id] = { pane, blocker, content, link: a };
      this.body.append(pane);
    }
    this.panes.overview.content.append(this.overview);
    this.el = h('div.page.page-instance',
      h('div.crumbs', h('a', { href: '#/instances' }, 'Instances'), h('span.sep', '/'), h('span.crumb-id.mono', id.slice(0, 8))),
      h('div.page-head',
        h('div.inst-head', h('div.inst-title-row', this.titleEl, this.pillEl), this.metaEl),
        this.actionsEl),
      this.tabBar,
      this.body);
  }

  title() { return this.instance ? this.instance.name : 'Instance'; }

  get ready() { return !!(this.status && this.status.ready); }

  setTab(tab) {
    if (!TABS.some((t) => t.id === tab)) tab = 'overview';
    const prev = this.tab;
    this.tab = tab;
    for (const t of TABS) {
      const p = this.panes[t.id];
      p.pane.hidden = t.id !== tab;
      p.link.classList.toggle('active', t.id === tab);
      p.link.setAttribute('aria-selected', String(t.id === tab));
    }
    if (prev !== tab && this.tabs[prev] && this.tabs[prev].hide) this.tabs[prev].hide();
    if (this.attached) this.syncTab();
  }

  /** Create / show / block the current tab according to the instance's readiness. */
  syncTab() {
    const def = TABS.find((t) => t.id === this.tab);
    const p = this.panes[def.id];
    if (def.id === 'overview') { this.renderOverview(); return; }
    if (def.needsReady && !this.ready) {
      p.blocker.hidden = false;
      mount(p.blocker, this.blockerContent());
      p.content.hidden = true;
      if (this.tabs[def.id] && this.tabs[def.id].hide) this.tabs[def.id].hide();
      return;
    }
    p.blocker.hidden = true;
    p.content.hidden = false;
    if (!this.tabs[def.id]) {
      this.tabs[def.id] = def.make(this);
      p.content.append(this.tabs[def.id].el);
    }
    this.tabs[def.id].show();
  }

  blockerContent() {
    if (!this.status) return h('div.empty', h('div.spinner'));
    const s = this.status.status;
    if (isTransitional(s)) {
      return h('div.empty', h('div.spinner'), h('h2', `Instance is ${s}…`), h('p.muted', 'This opens by itself as soon as the instance is ready.'));
    }
    return h('div.empty', icon('power', 40), h('h2', `Instance is ${s}`),
      this.status.status_reason ? h('p.muted', this.status.status_reason) : null,
      actionsFor(s).includes('start') ? btn('Start instance', { icon: 'play', kind: 'primary', onclick: () => this.action('start') }) : null);
  }

  attach() {
    this.attached = true;
    this.poll(true);
  }

  detach() {
    this.attached = false;
    clearTimeout(this.timer);
    for (const t of Object.values(this.tabs)) if (t.hide) t.hide();
  }

  /** Stop polling and end every live connection (shells are ended on the server). */
  dispose() {
    this.detach();
    this.disposed = true;
    const closing = Object.values(this.tabs).map((t) => t.dispose && t.dispose());
    this.tabs = {};
    return Promise.all(closing);
  }

  /**
   * End the terminals and the desktop connection (before a delete: a sandbox with open
   * websockets stops more slowly). The tabs are made afresh when opened again.
   */
  closeLive() {
    const closing = [];
    for (const id of ['terminal', 'desktop']) {
      const t = this.tabs[id];
      if (!t) continue;
      closing.push(t.dispose());
      delete this.tabs[id];
      mount(this.panes[id].content);
    }
    return Promise.all(closing);
  }

  async poll(first = false) {
    clearTimeout(this.timer);
    if (this.disposed) return;
    try {
      const status = await api.get(inst(this.id, '/status'));
      const instance = first || !this.instance || status.updated_at !== this.lastUpdated
        ? await api.get(inst(this.id)) : this.instance;
      if (this.disposed) return;
      this.lastUpdated = status.updated_at;
      const wasReady = this.ready;
      this.status = status;
      this.instance = instance;
      this.error = null;
      this.renderHead();
      for (const t of Object.values(this.tabs)) if (t.onStatus) t.onStatus(status);
      if (wasReady !== this.ready || first) {
        for (const t of Object.values(this.tabs)) if (t.onReady) t.onReady(this.ready);
        if (this.attached) this.syncTab();
      } else if (this.tab === 'overview' && this.attached) {
        this.renderOverview();
      } else if (!this.ready && this.attached) {
        this.syncTab();
      }
    } catch (e) {
      if (e.status === 404) {
        toast('This instance no longer exists', 'info');
        this.dispose();
        this.onGone();
        return;
      }
      this.error = e;
      if (this.attached && !this.status) mount(this.overview, errorBox(e, () => this.poll(true)));
    }
    if (this.attached) this.timer = setTimeout(() => this.poll(), document.hidden ? POLL_MS * 5 : POLL_MS);
  }

  async action(name) {
    if (await runAction(this.id, this.instance ? this.instance.name : this.id, name)) this.poll();
  }

  renderHead() {
    const i = this.instance;
    const s = this.status;
    mount(this.titleEl, i.name);
    document.title = `${i.name} · OpenClaw Console`;
    mount(this.pillEl, statusPill(s.status));
    const gw = s.gateway;
    mount(this.metaEl,
      h('span.mono', { title: 'Copy the instance id', class: 'copyable', onclick: () => copyText(i.id, 'Instance id copied') }, i.id),
      s.sandbox_id ? h('span', ' · ', h('span.mono', s.sandbox_id)) : null,
      gw ? h('span', ' · agent ', h('span', { class: `gw gw-${gw.state}` }, gw.state)) : null);
    mount(this.actionsEl,
      actionsFor(s.status).map((a) => btn({ start: 'Start', shutdown: 'Shut down', reboot: 'Reboot' }[a],
        { icon: { start: 'play', shutdown: 'power', reboot: 'reboot' }[a], dataset: { action: a }, onclick: () => this.action(a) })),
      btn('Delete', { icon: 'trash', kind: 'danger-ghost', dataset: { action: 'delete' },
        onclick: async () => {
          if (await confirmDelete(this.id, i.name, () => this.closeLive())) {
            this.dispose();
            this.onGone();
          } else if (this.attached) {
            this.syncTab();
          }
        } }));
  }

  renderOverview() {
    const s = this.status;
    const i = this.instance;
    if (!s || !i) return;
    const row = (k, v) => h('div.kv', h('div.k', k), h('div.v', v));
    const gw = s.gateway;
    const gwCard = h('section.card',
      h('h3', 'Agent (OpenClaw gateway)'),
      !gw ? h('p.muted', s.ready ? 'No information from the sandbox.' : 'Available while the instance runs.')
        : gw.state === 'disabled' ? h('p.muted', 'This server runs no OpenClaw gateway: chat is unavailable, files, terminal and desktop work.')
          : h('div.kvs',
            row('State', h('span', { class: `gw gw-${gw.state}` }, gw.state)),
            gw.boot_ms != null ? row('Boot time', `${(gw.boot_ms / 1000).toFixed(1)} s`) : null,
            gw.rss_bytes != null ? row('Memory', fmtBytes(gw.rss_bytes)) : null,
            row('Restarts', String(gw.restarts)),
            gw.reason ? row('Reason', gw.reason) : null));
    const transitions = [...(s.transitions || [])].reverse();
    mount(this.overview,
      h('div.grid-2',
        h('section.card',
          h('h3', 'Instance'),
          h('div.kvs',
            row('Name', i.name),
            row('ID', h('span.mono.copyable', { onclick: () => copyText(i.id, 'Instance id copied') }, i.id)),
            row('Status', h('span', statusPill(s.status), s.status_reason ? h('span.muted.small', ` ${s.status_reason}`) : null)),
            row('Desired state', s.desired_state),
            row('Sandbox', h('span.mono', s.sandbox_id || '—')),
            row('Created', fmtTime(i.created_at)),
            row('Updated', `${fmtTime(s.updated_at)} (${fmtAgo(s.updated_at)})`))),
        h('div.stack',
          gwCard,
          h('section.card',
            h('h3', 'Model usage'),
            h('div.stats',
              h('div.stat', h('div.stat-n', (s.usage?.input_tokens ?? 0).toLocaleString()), h('div.muted.small', 'input tokens')),
              h('div.stat', h('div.stat-n', (s.usage?.output_tokens ?? 0).toLocaleString()), h('div.muted.small', 'output tokens')))))),
      h('section.card',
        h('h3', 'Status history'),
        h('ol.timeline', transitions.map((t) => h('li',
          h('span.tl-dot', { class: `tl-${t.to}` }),
          h('div', h('div', t.from ? h('span', h('span.muted', t.from), ' → ') : null, h('strong', t.to)),
            t.reason ? h('div.muted.small', t.reason) : null),
          h('div.muted.small.nowrap', { title: t.at }, fmtTime(t.at)))))),
      this.instructionsCard());
  }

  instructionsCard() {
    if (this._instr) return this._instr.el;
    const area = h('textarea.input.code-area', { rows: 6, spellcheck: 'false', placeholder: 'Standing instructions for the agent (written to /workspace/AGENTS.md)' });
    const save = btn('Save instructions', { icon: 'save', kind: 'primary', size: 'sm', disabled: true });
    const note = h('span.muted.small');
    const el = h('section.card',
      h('div.card-head', h('h3', 'Agent instructions'), note),
      h('p.muted.small', 'OpenClaw reads these from /workspace/AGENTS.md on its next turn.'),
      area,
      h('div.card-actions', save));
    area.addEventListener('input', () => { save.disabled = false; mount(note, 'unsaved'); });
    save.addEventListener('click', async () => {
      save.disabled = true;
      try {
        await api.patch(inst(this.id), { instructions: area.value });
        mount(note, 'saved');
        toast('Instructions saved', 'success');
      } catch (e) {
        save.disabled = false;
        showError(e, 'Could not save the instructions');
      }
    });
    this._instr = { el };
    const load = async () => {
      if (!this.ready) { mount(note, 'start the instance to edit'); area.disabled = true; setTimeout(() => !this.disposed && load(), 3000); return; }
      area.disabled = false;
      try {
        const r = await api.get(inst(this.id, '/files/read'), { path: '/workspace/AGENTS.md' });
        if (!area.value) area.value = r.content;
        mount(note);
      } catch (e) {
        if (e.status !== 404) mount(note, e.describe ? e.describe() : String(e));
      }
    };
    load();
    return el;
  }
}
