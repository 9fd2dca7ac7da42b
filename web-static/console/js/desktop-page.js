// The standalone desktop page (`/console/desktop.html?instance=<id>&token=<t>`), the page
// `GET /api/instances/{id}/vnc-url` points to: the desktop, full window.
//
// The token in the URL is short-lived and used once. To reconnect, a fresh token is fetched
// with the API key if this browser tab has one (a window opened from the console does);
// otherwise the page asks for a new link.

import { getKey, inst, wsOrigin, wsTicket } from './api.js';
import { openDesktop } from './vnc.js';

const params = new URLSearchParams(location.search);
const instance = params.get('instance') || '';
let token = params.get('token') || '';
// Keep the token out of the address bar and the history once read.
history.replaceState(null, '', `${location.pathname}?instance=${encodeURIComponent(instance)}`);

const screen = document.getElementById('desktop-screen');
const overlay = document.getElementById('desktop-overlay');
const statusEl = document.getElementById('desktop-status');
const reconnectBtn = document.getElementById('desktop-reconnect');
document.getElementById('desktop-title').textContent = instance;

let rfb = null;

function setState(state, message) {
  screen.dataset.state = state;
  const labels = { connecting: 'Connecting…', connected: 'Connected', disconnected: 'Disconnected', failed: 'Failed' };
  statusEl.replaceChildren();
  const dot = document.createElement('span');
  dot.className = `dot dot-${state}`;
  statusEl.append(dot, labels[state] || state);
  reconnectBtn.hidden = state === 'connected' || state === 'connecting';
  if (state === 'connected') {
    overlay.hidden = true;
  } else {
    overlay.hidden = false;
    overlay.replaceChildren();
    if (state === 'connecting') {
      const s = document.createElement('div');
      s.className = 'spinner';
      overlay.append(s);
    } else {
      const card = document.createElement('div');
      card.className = 'term-overlay-card';
      card.textContent = message || 'The desktop session ended.';
      overlay.append(card);
    }
  }
}

async function connect() {
  if (rfb) { try { rfb.disconnect(); } catch { /* gone */ } rfb = null; }
  if (!instance) return setState('failed', 'This link names no instance. Open the desktop from the console.');
  let t = token;
  token = '';
  if (!t) {
    if (!getKey()) return setState('failed', 'This desktop link has been used or has expired. Open the desktop again from the console.');
    try {
      t = (await wsTicket(instance)).token;
    } catch (e) {
      return setState('failed', e.describe ? e.describe() : String(e));
    }
  }
  const url = `${wsOrigin()}${inst(instance, '/vnc/ws')}?token=${encodeURIComponent(t)}`;
  try {
    const r = await openDesktop(screen, url, {
      state: (s, d = {}) => {
        if (s !== 'connecting' && rfb !== r) return;
        if (s === 'disconnected' || s === 'failed') rfb = null;
        setState(s, d.message || (s === 'disconnected' && !d.clean ? 'The connection to the desktop was lost.' : undefined));
      },
      name: (n) => { if (n) document.title = `${n} · OpenClaw Desktop`; },
    });
    rfb = r;
  } catch (e) {
    setState('failed', String(e.message || e));
  }
}

reconnectBtn.addEventListener('click', connect);
document.getElementById('desktop-cad').addEventListener('click', () => rfb && rfb.sendCtrlAltDel());
document.getElementById('desktop-fullscreen').addEventListener('click', () => {
  const f = document.querySelector('.desktop-frame');
  if (f.requestFullscreen) f.requestFullscreen();
});

connect();
