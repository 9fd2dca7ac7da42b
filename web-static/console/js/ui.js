// Small DOM helpers: element builder, icons, toasts, dialogs, formatting.

/**
 * `h('div.card#main', {onclick, title, dataset: {...}}, child, 'text', [children])`.
 * Attributes starting with `on` are listeners; `class` may be a string; `null`/`false`
 * children are skipped. Text is always set as text, never as HTML.
 */
export function h(tag, attrs, ...children) {
  const m = /^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i.exec(tag) || [];
  const el = document.createElement(m[1] || 'div');
  for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'autofocus') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replace every child of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const ICONS = {
  folder: '<path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>',
  file: '<path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z"/><path d="M14 3v5h5"/>',
  link: '<path d="M10 14a4 4 0 0 0 5.66 0l3-3a4 4 0 0 0-5.66-5.66l-1 1"/><path d="M14 10a4 4 0 0 0-5.66 0l-3 3a4 4 0 0 0 5.66 5.66l1-1"/>',
  upload: '<path d="M12 16V4"/><path d="m7 9 5-5 5 5"/><path d="M4 16v3a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-3"/>',
  download: '<path d="M12 4v12"/><path d="m7 11 5 5 5-5"/><path d="M4 16v3a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-3"/>',
  trash: '<path d="M4 7h16"/><path d="M10 11v6M14 11v6"/><path d="M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12"/><path d="M9 7V4h6v3"/>',
  edit: '<path d="M4 20h4L19 9l-4-4L4 16z"/><path d="m13.5 6.5 4 4"/>',
  refresh: '<path d="M20 11a8 8 0 0 0-14.9-3.9L4 9"/><path d="M4 4v5h5"/><path d="M4 13a8 8 0 0 0 14.9 3.9L20 15"/><path d="M20 20v-5h-5"/>',
  plus: '<path d="M12 5v14M5 12h14"/>',
  terminal: '<rect x="3" y="4" width="18" height="16" rx="2"/><path d="m7 9 3 3-3 3M13 15h4"/>',
  monitor: '<rect x="3" y="4" width="18" height="12" rx="2"/><path d="M8 20h8M12 16v4"/>',
  chat: '<path d="M4 5h16v11H9l-5 4z"/>',
  power: '<path d="M12 3v9"/><path d="M6.3 7.3a8 8 0 1 0 11.4 0"/>',
  play: '<path d="M7 4v16l13-8z"/>',
  reboot: '<path d="M20 12a8 8 0 1 1-2.3-5.7L20 8.5"/><path d="M20 3v5.5h-5.5"/>',
  x: '<path d="M6 6l12 12M18 6 6 18"/>',
  logout: '<path d="M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3"/><path d="m10 8-4 4 4 4M6 12h10"/>',
  key: '<circle cx="8" cy="15" r="4"/><path d="m11 12 9-9M17 6l3 3M15 8l2 2"/>',
  copy: '<rect x="8" y="8" width="12" height="12" rx="2"/><path d="M16 8V6a2 2 0 0 0-2-2H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h2"/>',
  expand: '<path d="M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5"/>',
  external: '<path d="M14 4h6v6M20 4l-9 9"/><path d="M18 14v4a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h4"/>',
  up: '<path d="m6 14 6-6 6 6"/>',
  home: '<path d="m3 11 9-7 9 7"/><path d="M5 10v10h14V10"/>',
  server: '<rect x="3" y="4" width="18" height="7" rx="2"/><rect x="3" y="13" width="18" height="7" rx="2"/><path d="M7 7.5h.01M7 16.5h.01"/>',
  user: '<circle cx="12" cy="8" r="4"/><path d="M4 21a8 8 0 0 1 16 0"/>',
  send: '<path d="M4 12 20 4l-6 16-3-7z"/><path d="m11 13 9-9"/>',
  info: '<circle cx="12" cy="12" r="9"/><path d="M12 11v6M12 7.5h.01"/>',
  sun: '<circle cx="12" cy="12" r="4"/><path d="M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4"/>',
  moon: '<path d="M20 14.5A8 8 0 1 1 9.5 4 6.5 6.5 0 0 0 20 14.5z"/>',
  save: '<path d="M5 4h11l4 4v11a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z"/><path d="M8 4v5h7V4M8 20v-6h8v6"/>',
  keyboard: '<rect x="2" y="6" width="20" height="12" rx="2"/><path d="M6 10h.01M10 10h.01M14 10h.01M18 10h.01M7 14h10"/>',
  logo: '<path d="M12 2.5 20.5 7v10L12 21.5 3.5 17V7z"/><path d="M8.5 10.5c1.2-2 5.8-2 7 0M8 14.5c2 1.6 6 1.6 8 0"/>',
};

/** An inline SVG icon (stroke style, 24×24 grid). */
export function icon(name, size = 16) {
  const wrap = document.createElement('span');
  wrap.className = 'icon';
  wrap.innerHTML = `<svg width="${size}" height="${size}" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${ICONS[name] || ''}</svg>`;
  return wrap;
}

/** A button: `btn('Label', {icon, kind: 'primary'|'danger'|'ghost', onclick, title, ...})`. */
export function btn(label, opts = {}) {
  const { icon: ic, kind = '', size = '', ...attrs } = opts;
  const cls = ['btn', kind && `btn-${kind}`, size && `btn-${size}`, !label && 'btn-icon'].filter(Boolean).join(' ');
  return h('button', { type: 'button', class: cls, 'aria-label': !label ? attrs.title : undefined, ...attrs },
    ic ? icon(ic) : null, label ? h('span', label) : null);
}

// ---------------------------------------------------------------- toasts

let toastHost;
/** A transient notice. `kind`: 'info' | 'success' | 'error'. */
export function toast(message, kind = 'info', detail) {
  toastHost ||= document.body.appendChild(h('div.toasts', { role: 'status', 'aria-live': 'polite' }));
  const el = h(`div.toast.toast-${kind}`,
    h('div.toast-body', h('div.toast-msg', message), detail ? h('div.toast-detail', detail) : null),
    btn('', { icon: 'x', kind: 'ghost', size: 'sm', title: 'Dismiss', onclick: () => el.remove() }));
  toastHost.append(el);
  setTimeout(() => el.classList.add('toast-out'), kind === 'error' ? 8000 : 3500);
  setTimeout(() => el.remove(), kind === 'error' ? 8400 : 3900);
  return el;
}

/** Show an error (an ApiError or anything else) as a toast. */
export function showError(err, what) {
  if (err && err.name === 'AbortError') return;
  const msg = err && typeof err.describe === 'function' ? err.describe() : String(err && err.message || err);
  const detail = err && err.requestId ? `request ${err.requestId}` : undefined;
  toast(what ? `${what}: ${msg}` : msg, 'error', detail);
}

/** A block describing an error in place (for panels). */
export function errorBox(err, retry) {
  const msg = err && typeof err.describe === 'function' ? err.describe() : String(err && err.message || err);
  return h('div.error-box', { role: 'alert' },
    icon('info', 18),
    h('div', h('div.error-title', err && err.code ? err.code : 'Error'), h('div', msg),
      err && err.requestId ? h('div.muted.small', `request ${err.requestId}`) : null),
    retry ? btn('Retry', { icon: 'refresh', size: 'sm', onclick: retry }) : null);
}

// ---------------------------------------------------------------- dialogs

/**
 * A modal dialog. `fields`: [{name, label, value, placeholder, type}] → resolves with the
 * values (or null when cancelled). Without fields it is a confirmation (resolves true/false).
 */
export function dialog({ title, message, fields = [], confirm = 'OK', danger = false }) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => h('input.input', {
      name: f.name, value: f.value || '', placeholder: f.placeholder || '', type: f.type || 'text',
      autocomplete: 'off', spellcheck: 'false',
    }));
    const close = (result) => {
      backdrop.remove();
      document.removeEventListener('keydown', onKey, true);
      resolve(result);
    };
    const submit = (e) => {
      e && e.preventDefault();
      if (!fields.length) return close(true);
      const out = {};
      fields.forEach((f, i) => { out[f.name] = inputs[i].value; });
      close(out);
    };
    const onKey = (e) => { if (e.key === 'Escape') { e.stopPropagation(); close(fields.length ? null : false); } };
    const form = h('form.modal', { onsubmit: submit, role: 'dialog', 'aria-modal': 'true', 'aria-label': title },
      h('h2.modal-title', title),
      message ? h('p.modal-msg', message) : null,
      fields.map((f, i) => h('label.field', h('span.field-label', f.label), inputs[i])),
      h('div.modal-actions',
        btn('Cancel', { kind: 'ghost', onclick: () => close(fields.length ? null : false) }),
        h('button', { type: 'submit', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}` }, confirm)));
    const backdrop = h('div.modal-backdrop', { onmousedown: (e) => { if (e.target === backdrop) close(fields.length ? null : false); } }, form);
    document.body.append(backdrop);
    document.addEventListener('keydown', onKey, true);
    setTimeout(() => (inputs[0] || form.querySelector('button[type=submit]')).focus(), 0);
    if (inputs[0] && fields[0].select) {
      const v = inputs[0].value;
      const dot = v.lastIndexOf('.');
      setTimeout(() => inputs[0].setSelectionRange(0, dot > 0 ? dot : v.length), 0);
    }
  });
}

// ---------------------------------------------------------------- formatting

export function fmtBytes(n) {
  if (n == null) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function fmtAgo(iso) {
  if (!iso) return '';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (Number.isNaN(s)) return '';
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

const STATUS_KIND = {
  ready: 'ok', provisioning: 'busy', starting: 'busy', rebooting: 'busy', stopping: 'busy',
  deleting: 'busy', stopped: 'off', failed: 'bad', sleeping: 'off', waking: 'busy',
};

/** A coloured status pill; transitional states pulse. */
export function statusPill(status) {
  const kind = STATUS_KIND[status] || 'off';
  return h(`span.pill.pill-${kind}`, { dataset: { status } }, h('span.dot'), status || 'unknown');
}

export const isTransitional = (status) => STATUS_KIND[status] === 'busy';

/** Copy text to the clipboard with a toast. */
export async function copyText(text, what = 'Copied') {
  try {
    await navigator.clipboard.writeText(text);
    toast(what, 'success');
  } catch {
    toast('Copy failed: the clipboard is not available here', 'error');
  }
}

/** Join a directory and a name the way paths look inside the sandbox. */
export function joinPath(dir, name) {
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

export function parentPath(p) {
  const trimmed = p.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  if (i <= 0) return '/workspace';
  const parent = trimmed.slice(0, i);
  return parent.length < '/workspace'.length ? '/workspace' : parent;
}
