// Terminal tab: several shells per instance (sub-tabs), xterm.js over
// `GET /api/instances/{id}/terminal/ws?token=&cols=&rows=[&session=]`.
//
// Protocol: binary frames carry terminal bytes both ways; the client sends
// `{"type":"resize","cols","rows"}` text frames; the server sends `session` first, `exit`
// when the shell ends (then closes 1000), and `error`. A dropped connection is reattached
// with `&session=<id>` (the server replays the scrollback, so the screen is reset first).
// Closing a shell on purpose sends close code 1000, which ends it on the server.

import { inst, terminalTicket, wsOrigin } from './api.js';
import { h, mount, btn, icon, showError } from './ui.js';

let xtermModules;
/** xterm.js and its fit addon, loaded on first use. */
function loadXterm() {
  xtermModules ||= Promise.all([
    import('/vendor/xterm/xterm.mjs'),
    import('/vendor/xterm/addon-fit.mjs'),
  ]).then(([x, f]) => ({ Terminal: x.Terminal, FitAddon: f.FitAddon }))
    .catch((e) => { xtermModules = null; throw new Error(`xterm.js could not be loaded from /vendor/xterm (run scripts/vendor-web.sh): ${e.message}`); });
  return xtermModules;
}

const THEME = {
  background: '#0b0f17', foreground: '#d7dde8', cursor: '#7c9cff', cursorAccent: '#0b0f17',
  selectionBackground: '#2c3b63', black: '#1b2130', red: '#ff6b7a', green: '#5fd39a', yellow: '#f3c969',
  blue: '#7c9cff', magenta: '#c59cff', cyan: '#5ccfe6', white: '#d7dde8', brightBlack: '#5b6478',
  brightRed: '#ff8a96', brightGreen: '#7ee2b0', brightYellow: '#ffd98a', brightBlue: '#9db5ff',
  brightMagenta: '#d6b6ff', brightCyan: '#86e1f0', brightWhite: '#ffffff',
};

const RETRY_DELAYS = [300, 1000, 2000, 4000, 8000];
const encoder = new TextEncoder();
let counter = 0;

class Shell {
  constructor(tab, number, restoreId = null) {
    this.tab = tab;
    this.number = number;
    this.key = `t${++counter}`;
    // A shell of this tab from before a page reload, to reattach to if it still runs.
    this.sessionId = restoreId;
    this.restored = !!restoreId;
    this.ws = null;
    this.state = 'connecting';
    this.closing = false;
    this.exited = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.overlay = h('div.term-overlay', { hidden: true });
    this.host = h('div.term-host', { dataset: { state: 'connecting', key: this.key } });
    this.el = h('div.term-pane', { hidden: true }, this.host, this.overlay);
    this.dot = h('span.dot');
    this.link = h('div.subtab', { dataset: { key: this.key }, onclick: () => tab.select(this) },
      this.dot, h('span', `Shell ${number}`),
      h('button.subtab-x', { type: 'button', title: 'Close this shell', 'aria-label': `Close shell ${number}`,
        onclick: (e) => { e.stopPropagation(); tab.closeShell(this); } }, icon('x', 12)));
  }

  async init() {
    const { Terminal, FitAddon } = await loadXterm();
    this.term = new Terminal({
      cursorBlink: true, fontSize: 13, scrollback: 5000, allowProposedApi: false,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace',
      theme: THEME,
    });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(this.host);
    this.term.onData((d) => this.send(encoder.encode(d)));
    this.term.onBinary((d) => this.send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff)));
    this.term.onResize(({ cols, rows }) => {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'resize', cols, rows }));
    });
    this.resizeObs = new ResizeObserver(() => this.refit());
    this.resizeObs.observe(this.host);
    this.refit();
    this.connect();
  }

  refit() {
    if (!this.fit || this.el.hidden || !this.host.offsetParent) return;
    try { this.fit.fit(); } catch { /* not laid out yet */ }
  }

  send(bytes) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  setState(state) {
    this.state = state;
    this.host.dataset.state = state;
    this.dot.className = `dot dot-${state}`;
  }

  async connect() {
    clearTimeout(this.retryTimer);
    if (this.closing) return;
    this.hideOverlay();
    this.setState(this.sessionId ? 'reconnecting' : 'connecting');
    let ticket;
    try {
      ticket = await terminalTicket(this.tab.view.id);
    } catch (e) {
      if (this.closing) return;
      if (e.status === 409 || e.status === 502 || e.code === 'NETWORK') return this.retry(e);
      this.setState('failed');
      this.showOverlay(e.describe ? e.describe() : String(e), true);
      return;
    }
    if (this.closing) return;
    const q = new URLSearchParams({ token: ticket.token, cols: String(this.term.cols), rows: String(this.term.rows) });
    if (this.sessionId) q.set('session', this.sessionId);
    const ws = new WebSocket(`${wsOrigin()}${inst(this.tab.view.id, '/terminal/ws')}?${q}`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let gotSession = false;
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      if (typeof ev.data !== 'string') {
        this.term.write(new Uint8Array(ev.data));
        return;
      }
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      if (frame.type === 'session') {
        gotSession = true;
        if (this.sessionId && this.sessionId === frame.id) this.term.reset(); // the scrollback is replayed
        this.sessionId = frame.id;
        this.restored = false;
        this.attempt = 0;
        this.setState('connected');
        this.tab.save();
        if (frame.cols !== this.term.cols || frame.rows !== this.term.rows) {
          ws.send(JSON.stringify({ type: 'resize', cols: this.term.cols, rows: this.term.rows }));
        }
        if (this.tab.current === this) this.term.focus();
      } else if (frame.type === 'exit') {
        this.exited = true;
        this.setState('exited');
        this.tab.save();
        this.term.write(`\r\n\x1b[2m[shell exited with code ${frame.code}]\x1b[0m\r\n`);
        this.showOverlay(`The shell exited with code ${frame.code}.`, false, true);
      } else if (frame.type === 'error') {
        this.term.write(`\r\n\x1b[31m[${frame.message}]\x1b[0m\r\n`);
      }
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.closing || this.exited) return;
      if (!gotSession && this.restored) {
        // The shell from before the reload has ended: start a new one.
        this.restored = false;
        this.sessionId = null;
        this.term.write('\x1b[2m[the previous shell has ended; new shell]\x1b[0m\r\n');
        this.connect();
        return;
      }
      if (ev.code === 1000 && ev.reason === 'taken over') {
        this.setState('detached');
        this.showOverlay('This shell was opened in another window.', true);
        return;
      }
      if (!gotSession && this.sessionId && this.attempt >= 2) {
        // The server no longer knows this shell (it ended, or the sandbox restarted).
        this.setState('lost');
        this.showOverlay('The connection was lost and this shell could not be reattached.', true, true);
        return;
      }
      this.retry();
    };
  }

  retry(err) {
    if (this.closing) return;
    if (!this.tab.view.ready) {
      this.setState('waiting');
      this.showOverlay('Waiting for the instance to be ready…');
      return;
    }
    if (this.attempt >= RETRY_DELAYS.length) {
      this.setState('lost');
      this.showOverlay(err && err.describe ? err.describe() : 'The connection was lost.', true, !!this.sessionId);
      return;
    }
    this.setState('reconnecting');
    const delay = RETRY_DELAYS[this.attempt++];
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** The instance became ready again (after a stop or reboot): old shells are gone. */
  onReady(ready) {
    if (!ready || this.closing || this.exited) return;
    if (this.state === 'waiting' || this.state === 'lost') {
      this.sessionId = null;
      this.attempt = 0;
      this.term.write('\r\n\x1b[2m[new shell]\x1b[0m\r\n');
      this.connect();
    }
  }

  showOverlay(message, reconnect = false, fresh = false) {
    this.overlay.hidden = false;
    mount(this.overlay, h('div.term-overlay-card',
      h('div', message),
      h('div.row-gap',
        reconnect && this.sessionId ? btn('Reconnect', { icon: 'refresh', onclick: () => { this.attempt = 0; this.connect(); } }) : null,
        fresh || (reconnect && !this.sessionId) ? btn('New shell', { icon: 'terminal', kind: 'primary', onclick: () => this.restart() }) : null,
        btn('Close', { kind: 'ghost', onclick: () => this.tab.closeShell(this) }))));
  }

  hideOverlay() {
    this.overlay.hidden = true;
  }

  restart() {
    this.sessionId = null;
    this.exited = false;
    this.attempt = 0;
    this.term.reset();
    this.connect();
  }

  /** End the shell on the server (close code 1000) and free everything. */
  close() {
    this.closing = true;
    clearTimeout(this.retryTimer);
    let closed = Promise.resolve();
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      closed = new Promise((resolve) => {
        ws.addEventListener('close', resolve);
        setTimeout(resolve, 1500);
      });
      try { ws.close(1000, 'closed by user'); } catch { /* already closed */ }
    }
    this.ws = null;
    if (this.resizeObs) this.resizeObs.disconnect();
    if (this.term) this.term.dispose();
    this.el.remove();
    this.link.remove();
    return closed;
  }
}

export class TerminalTab {
  constructor(view) {
    this.view = view;
    this.shells = [];
    this.current = null;
    this.number = 0;
    this.bar = h('div.subtabs#terminal-tabs');
    this.addBtn = btn('', { icon: 'plus', kind: 'ghost', title: 'New shell', id: 'terminal-new', onclick: () => this.open() });
    this.stage = h('div.term-stage');
    this.empty = h('div.empty', icon('terminal', 40), h('h2', 'No shell open'),
      h('p.muted', 'Open a shell in /workspace. It keeps running while you browse other tabs.'),
      btn('New shell', { icon: 'terminal', kind: 'primary', onclick: () => this.open() }));
    this.el = h('div.terminal-tab', h('div.subtab-bar', this.bar, this.addBtn), this.stage, this.empty);
    this.started = false;
  }

  get storageKey() {
    return `ocaas.shells.${this.view.id}`;
  }

  /** Remember the running shells of this tab, so a page reload reattaches to them. */
  save() {
    const ids = this.shells.filter((s) => s.sessionId && !s.exited && !s.closing).map((s) => s.sessionId);
    try {
      if (ids.length) sessionStorage.setItem(this.storageKey, JSON.stringify(ids));
      else sessionStorage.removeItem(this.storageKey);
    } catch { /* storage unavailable */ }
  }

  show() {
    this.visible = true;
    if (!this.started) {
      this.started = true;
      let restore = [];
      try { restore = JSON.parse(sessionStorage.getItem(this.storageKey) || '[]'); } catch { /* none */ }
      if (Array.isArray(restore) && restore.length) for (const id of restore) this.open(String(id));
      else this.open();
    }
    this.empty.hidden = this.shells.length > 0;
    if (this.current) requestAnimationFrame(() => { this.current.refit(); this.current.term && this.current.term.focus(); });
  }

  hide() {
    this.visible = false;
  }

  onReady(ready) {
    for (const s of this.shells) s.onReady(ready);
  }

  async open(restoreId = null) {
    const shell = new Shell(this, ++this.number, restoreId);
    this.shells.push(shell);
    this.bar.append(shell.link);
    this.stage.append(shell.el);
    this.empty.hidden = true;
    this.select(shell);
    try {
      await shell.init();
      if (this.current === shell) shell.refit();
    } catch (e) {
      showError(e, 'The terminal could not start');
      this.closeShell(shell);
    }
  }

  select(shell) {
    this.current = shell;
    for (const s of this.shells) {
      s.el.hidden = s !== shell;
      s.link.classList.toggle('active', s === shell);
    }
    requestAnimationFrame(() => { shell.refit(); if (shell.term) shell.term.focus(); });
  }

  closeShell(shell) {
    const i = this.shells.indexOf(shell);
    if (i < 0) return;
    shell.close();
    this.shells.splice(i, 1);
    this.save();
    if (this.current === shell) {
      const next = this.shells[i] || this.shells[i - 1];
      this.current = null;
      if (next) this.select(next);
    }
    this.empty.hidden = this.shells.length > 0;
  }

  /** End every shell; resolves when their sockets are closed. */
  dispose() {
    const closing = this.shells.map((s) => s.close());
    this.shells = [];
    this.save();
    return Promise.all(closing);
  }
}
