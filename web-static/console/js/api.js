// The HTTP client of the console: the bearer key, JSON helpers, and the error envelope
// (`{"error":{"code","message","retryAfter"?}}`) turned into an `ApiError`.

const KEY_STORAGE = 'ocaas.apiKey';

/** An error answer of the API, or a network failure (`status` 0, code `NETWORK`). */
export class ApiError extends Error {
  constructor({ status = 0, code = 'ERROR', message = 'Request failed', retryAfter, requestId, method, path } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.requestId = requestId;
    this.method = method;
    this.path = path;
  }

  /** A sentence for people: "Not found (404 NOT_FOUND): no such instance". */
  describe() {
    const where = this.status ? `${this.status} ${this.code}` : this.code;
    let s = `${this.message} (${where})`;
    if (this.retryAfter != null) s += ` — retry in ${this.retryAfter} s`;
    return s;
  }
}

/** Build an `ApiError` from a non-2xx `Response`, reading the envelope when there is one. */
export async function errorFrom(res, method = 'GET', path = '') {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || 'Request failed';
  let retryAfter;
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text);
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
      retryAfter = body.error.retryAfter;
    }
  } catch {
    if (text && text.length < 300) message = text;
  }
  return new ApiError({
    status: res.status, code, message, retryAfter, method, path,
    requestId: res.headers.get('x-request-id') || undefined,
  });
}

export function getKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** Called with the error when the key is rejected (401) on any call. */
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/**
 * `fetch` with the key. `opts.json` sends JSON; `opts.query` is appended to the path;
 * `opts.raw` returns the `Response` itself (for downloads and streams). Non-2xx → ApiError.
 */
export async function request(method, path, opts = {}) {
  const key = opts.key ?? getKey();
  const headers = new Headers(opts.headers || {});
  if (key) headers.set('Authorization', `Bearer ${key}`);
  let body = opts.body;
  if (opts.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(opts.json);
  }
  let url = path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) if (v !== undefined && v !== null) q.set(k, String(v));
    const s = q.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body, signal: opts.signal, cache: 'no-store' });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError({ code: 'NETWORK', message: 'The service could not be reached', method, path });
  }
  if (!res.ok) {
    const err = await errorFrom(res, method, path);
    if (res.status === 401 && !opts.key) onUnauthorized(err);
    throw err;
  }
  if (opts.raw) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const api = {
  get: (path, query, opts = {}) => request('GET', path, { ...opts, query }),
  post: (path, json, opts = {}) => request('POST', path, { ...opts, json }),
  patch: (path, json, opts = {}) => request('PATCH', path, { ...opts, json }),
  del: (path, opts = {}) => request('DELETE', path, opts),
};

/** `/api/instances/{id}` + suffix. */
export function inst(id, suffix = '') {
  return `/api/instances/${encodeURIComponent(id)}${suffix}`;
}

/**
 * A short-lived token for this instance's desktop (`GET .../vnc-url`, which also starts the
 * desktop): `{url, wsUrl, token, expiresAt, desktop}`. Fetch a fresh one before every connect.
 */
export function wsTicket(id) {
  return api.get(inst(id, '/vnc-url'));
}

/**
 * A short-lived token for this instance's terminals (`POST .../ws-token`, no side effects):
 * `{token, expiresAt}`. Fetch a fresh one before every connect.
 */
export function terminalTicket(id) {
  return api.post(inst(id, '/ws-token'));
}

/** `ws(s)://<this host>` + path. */
export function wsOrigin() {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
}

/**
 * Parse a `text/event-stream` body. Calls `onEvent(name, data)` for each event (data parsed
 * as JSON when it is JSON). Resolves when the stream ends.
 */
export async function readSse(res, onEvent, signal) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const flush = (block) => {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (!data.length) return;
    const raw = data.join('\n');
    let parsed = raw;
    try { parsed = JSON.parse(raw); } catch { /* plain text */ }
    onEvent(event, parsed);
  };
  for (;;) {
    if (signal && signal.aborted) { reader.cancel().catch(() => {}); return; }
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let idx;
    while ((idx = buf.indexOf('\n\n')) >= 0) {
      flush(buf.slice(0, idx));
      buf = buf.slice(idx + 2);
    }
  }
  if (buf.trim()) flush(buf);
}
