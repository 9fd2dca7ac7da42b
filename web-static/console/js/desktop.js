// Desktop tab: the instance's desktop through noVNC over `GET .../vnc/ws?token=`.

import { wsTicket } from './api.js';
import { h, mount, btn, icon } from './ui.js';
import { openDesktop } from './vnc.js';

const LABEL = {
  idle: 'Not connected', connecting: 'Connecting…', connected: 'Connected',
  disconnected: 'Disconnected', failed: 'Failed',
};

export class DesktopTab {
  constructor(view) {
    this.view = view;
    this.rfb = null;
    this.state = 'idle';
    this.statusEl = h('span.conn');
    this.screen = h('div.desktop-screen#desktop-screen');
    this.overlay = h('div.desktop-overlay', { hidden: true });
    this.frame = h('div.desktop-frame', this.screen, this.overlay);
    this.el = h('div.desktop-tab',
      h('div.toolbar',
        icon('monitor', 18), h('strong', 'Desktop'), this.statusEl,
        h('div.spacer'),
        btn('Reconnect', { icon: 'refresh', id: 'desktop-reconnect', onclick: () => this.connect() }),
        btn('Ctrl-Alt-Del', { icon: 'keyboard', onclick: () => this.rfb && this.rfb.sendCtrlAltDel() }),
        btn('', { icon: 'expand', title: 'Full screen', onclick: () => this.frame.requestFullscreen && this.frame.requestFullscreen() }),
        btn('New window', { icon: 'external', id: 'desktop-popout', onclick: () => this.popOut() })),
      this.frame);
    this.setState('idle');
  }

  setState(state, detail = {}) {
    this.state = state;
    this.screen.dataset.state = state;
    mount(this.statusEl, h(`span.dot.dot-${state}`), LABEL[state] || state);
    if (state === 'connected') {
      this.overlay.hidden = true;
    } else if (state === 'connecting') {
      this.overlay.hidden = false;
      mount(this.overlay, h('div.spinner'));
    } else if (state === 'disconnected' || state === 'failed') {
      this.overlay.hidden = false;
      mount(this.overlay, h('div.term-overlay-card',
        h('div', detail.message || (detail.clean ? 'The desktop session ended.' : 'The connection to the desktop was lost.')),
        h('div.row-gap', btn('Reconnect', { icon: 'refresh', kind: 'primary', onclick: () => this.connect() }))));
    }
  }

  show() {
    this.visible = true;
    if (!this.rfb && this.state !== 'connecting') this.connect();
  }

  hide() {
    this.visible = false;
    this.disconnect();
  }

  onReady(ready) {
    if (!ready) this.disconnect();
    else if (this.visible && !this.rfb) this.connect();
  }

  async connect() {
    this.disconnect();
    const gen = (this.gen = (this.gen || 0) + 1);
    this.setState('connecting');
    try {
      const ticket = await wsTicket(this.view.id);
      if (gen !== this.gen) return;
      mount(this.screen);
      const rfb = await openDesktop(this.screen, ticket.wsUrl, {
        state: (s, d) => {
          if (s !== 'connecting' && this.rfb !== rfb) return;
          if (s === 'disconnected' || s === 'failed') this.rfb = null;
          this.setState(s, d);
        },
      });
      if (gen !== this.gen) { rfb.disconnect(); return; }
      this.rfb = rfb;
    } catch (e) {
      if (gen !== this.gen) return;
      this.setState('failed', { message: e.describe ? e.describe() : String(e.message || e) });
    }
  }

  /** Disconnect; resolves when the socket is closed. */
  disconnect() {
    this.gen = (this.gen || 0) + 1;
    const rfb = this.rfb;
    this.rfb = null;
    let closed = Promise.resolve();
    if (rfb) {
      closed = new Promise((resolve) => {
        rfb.addEventListener('disconnect', resolve);
        setTimeout(resolve, 1500);
      });
      try { rfb.disconnect(); } catch { /* already gone */ }
    }
    if (this.state !== 'idle') this.setState('idle');
    return closed;
  }

  async popOut() {
    // Open the window first (popup blockers want it inside the click), then point it at
    // a fresh, short-lived URL.
    const w = window.open('about:blank', '_blank');
    try {
      const ticket = await wsTicket(this.view.id);
      if (w) w.location = ticket.url;
      else window.location.assign(ticket.url);
    } catch (e) {
      if (w) w.close();
      this.setState('failed', { message: e.describe ? e.describe() : String(e) });
    }
  }

  dispose() {
    return this.disconnect();
  }
}
