#!/usr/bin/env node
// OpenClaw as a Service: API client and CLI. Node >= 18, no dependencies (uses global fetch).
//
//   CLI:    node openclaw_api_client.mjs <command> [args] [--base-url URL] [--api-key KEY] [--json]
//           node openclaw_api_client.mjs --help
//   Module: import { OpenClawClient } from "./openclaw_api_client.mjs";
//           const c = new OpenClawClient({ baseUrl: "{{BASE_URL}}", apiKey: process.env.OCAAS_API_KEY });
//
// Docs: {{BASE_URL}}/llms.txt, {{BASE_URL}}/agent.md, {{BASE_URL}}/api/openapi.json

import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pathToFileURL } from "node:url";

// The service fills in its own origin when it serves this file. Unfilled (a copy from the
// repository), it is not a URL and the local default applies.
const SERVED_FROM = "{{BASE_URL}}";
export const DEFAULT_BASE_URL = /^https?:\/\//.test(SERVED_FROM)
  ? SERVED_FROM
  : "http://localhost:8080";

/** HTTP status of each error code (the service's catalogue), for errors reported inside streams. */
export const ERROR_STATUS = {
  BAD_REQUEST: 400, INVALID_JSON: 400, PATH_OUTSIDE_WORKSPACE: 400, UNAUTHORIZED: 401,
  FORBIDDEN: 403, QUOTA_EXCEEDED: 403, NOT_FOUND: 404, ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405, CONFLICT: 409, INSTANCE_NOT_RUNNING: 409, PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415, VALIDATION_FAILED: 422, NOT_TEXT: 422, RATE_LIMITED: 429,
  INTERNAL: 500, MODEL_ERROR: 502, SANDBOX_UNAVAILABLE: 502, CAPACITY_EXHAUSTED: 503,
  UNAVAILABLE: 503, TIMEOUT: 504,
};

/** An error answer of the API: `{"error":{"code","message","retryAfter"?}}`. */
export class ApiError extends Error {
  constructor({ status, code, message, retryAfter, requestId, body }) {
    super(`${code} (${status}): ${message}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.apiMessage = message;
    this.retryAfter = retryAfter;
    this.requestId = requestId;
    this.body = body;
  }
}

/** The service could not be reached (connection refused, DNS, TLS, reset...). */
export class NetworkError extends Error {
  constructor(url, cause) {
    const detail = [cause?.code, cause?.message].filter(Boolean).join(" ");
    super(`cannot reach ${url}: ${detail || "network error"}`);
    this.name = "NetworkError";
    this.cause = cause;
  }
}

/** A client-side failure with a code (WAIT_TIMEOUT, NOT_RUNNING, STREAM_ERROR...). */
export class ClientError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.name = "ClientError";
    this.code = code;
  }
}

/** `http://host:8080/`, `http://host:8080/api` → `http://host:8080`. */
export function normalizeBaseUrl(raw) {
  const url = String(raw ?? "").trim().replace(/\/+$/, "").replace(/\/api$/, "");
  if (!/^https?:\/\/[^/]/.test(url)) {
    throw new ClientError("BAD_BASE_URL", `base URL must start with http:// or https://, got ${JSON.stringify(raw)}`);
  }
  return url;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enc = encodeURIComponent;

/** Parse an SSE body into `{event, data, id}` objects (`data` is JSON-decoded when it parses). */
export async function* parseSse(body) {
  const decoder = new TextDecoder();
  let buf = "";
  let event = "message";
  let data = [];
  let id;
  const lines = async function* () {
    for await (const chunk of body) {
      buf += decoder.decode(chunk, { stream: true });
      let m;
      while ((m = /\r\n|\r|\n/.exec(buf))) {
        // A lone \r at the end may be the first half of \r\n: wait for more.
        if (m[0] === "\r" && m.index === buf.length - 1) break;
        yield buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
      }
    }
    buf += decoder.decode();
    if (buf) yield buf;
    yield "";
  };
  for await (const line of lines()) {
    if (line === "") {
      if (data.length) {
        const text = data.join("\n");
        let parsed = text;
        try {
          parsed = JSON.parse(text);
        } catch {}
        yield { event, data: parsed, id };
      }
      event = "message";
      data = [];
      continue;
    }
    if (line.startsWith(":")) continue; // keep-alive comment
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
}

export class OpenClawClient {
  /**
   * @param {object} [o]
   * @param {string} [o.baseUrl]  service origin (a trailing `/api` is dropped); default
   *   `$OCAAS_BASE_URL`, else the origin that served this file.
   * @param {string} [o.apiKey]   default `$OCAAS_API_KEY`, else `$OPENCLAW_API_KEY`.
   * @param {number} [o.retries]  retries of 429/503 answers (honouring Retry-After) and of GETs
   *   that hit network errors (default 3).
   * @param {number} [o.maxRetryWaitS] never sleep longer than this for one retry (default 60).
   * @param {(info:{attempt:number, waitS:number, error:Error}) => void} [o.onRetry]
   */
  constructor(o = {}) {
    this.baseUrl = normalizeBaseUrl(o.baseUrl ?? process.env.OCAAS_BASE_URL ?? DEFAULT_BASE_URL);
    this.apiKey = o.apiKey ?? process.env.OCAAS_API_KEY ?? process.env.OPENCLAW_API_KEY;
    this.retries = o.retries ?? 3;
    this.maxRetryWaitS = o.maxRetryWaitS ?? 60;
    this.onRetry = o.onRetry;
    this.fetch = o.fetch ?? globalThis.fetch;
    if (typeof this.fetch !== "function") throw new ClientError("NO_FETCH", "global fetch is missing: use Node >= 18");
  }

  url(p, query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null) qs.append(k, String(v));
    const s = qs.toString();
    return `${this.baseUrl}${p}${s ? `?${s}` : ""}`;
  }

  /**
   * One API call. Returns the parsed JSON (null for 204), or the raw `Response` with
   * `raw: true`. Throws ApiError (error envelope), NetworkError.
   * @param {string} method
   * @param {string} p  path, e.g. `/api/instances`
   * @param {{query?:object, json?:any, body?:any, headers?:object, raw?:boolean, signal?:AbortSignal}} [opts]
   */
  async request(method, p, opts = {}) {
    const url = this.url(p, opts.query);
    const headers = { accept: "application/json", ...(opts.headers ?? {}) };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    let body = opts.body;
    if (opts.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.json);
    }
    const streamed = body != null && typeof body !== "string" && !(body instanceof Uint8Array);
    const init = { method, headers, body, signal: opts.signal };
    if (streamed) init.duplex = "half"; // required by fetch for a streamed request body
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await this.fetch(url, init);
      } catch (e) {
        if (e?.name === "AbortError") throw e;
        const err = new NetworkError(url, e?.cause ?? e);
        if (method === "GET" && attempt < this.retries) {
          const waitS = 0.5 * 2 ** attempt;
          this.onRetry?.({ attempt: attempt + 1, waitS, error: err });
          await sleep(waitS * 1000);
          continue;
        }
        throw err;
      }
      if (res.ok) {
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
      const err = await errorFrom(res);
      // Sent again only when the service says so: 429, or 503 with Retry-After (capacity). A
      // 503 without it (e.g. chat's UNAVAILABLE) may follow a stored message: not repeated.
      const retryable = (res.status === 429 || (res.status === 503 && err.retryAfter !== undefined)) && !streamed;
      const waitS = err.retryAfter ?? 2 ** attempt;
      if (retryable && attempt < this.retries && waitS <= this.maxRetryWaitS) {
        this.onRetry?.({ attempt: attempt + 1, waitS, error: err });
        await sleep(waitS * 1000);
        continue;
      }
      throw err;
    }
  }

  // --- service -------------------------------------------------------------------------------

  /** `GET /api`: version, runtime, limits, features, resource map (no key needed). */
  info() { return this.request("GET", "/api"); }

  // --- instances -----------------------------------------------------------------------------

  listInstances() { return this.request("GET", "/api/instances"); }
  /** `POST /api/instances` → 201 instance (status `provisioning`). Body fields: name,
   *  invite_code, instructions, provider `{base_url, api_key, model}`. */
  createInstance(body = {}) { return this.request("POST", "/api/instances", { json: body }); }
  getInstance(id) { return this.request("GET", `/api/instances/${enc(id)}`); }
  /** `PATCH /api/instances/{id}` with `{instructions}` (written to /workspace/AGENTS.md). */
  updateInstance(id, body) { return this.request("PATCH", `/api/instances/${enc(id)}`, { json: body }); }
  instanceStatus(id) { return this.request("GET", `/api/instances/${enc(id)}/status`); }
  deleteInstance(id) { return this.request("DELETE", `/api/instances/${enc(id)}`); }
  shutdownInstance(id) { return this.request("POST", `/api/instances/${enc(id)}/shutdown`); }
  startInstance(id) { return this.request("POST", `/api/instances/${enc(id)}/start`); }
  rebootInstance(id) { return this.request("POST", `/api/instances/${enc(id)}/reboot`); }
  /** `GET /api/instances/{id}/vnc-url` → `{url, wsUrl, token, expiresAt}`. */
  vncUrl(id) { return this.request("GET", `/api/instances/${enc(id)}/vnc-url`); }

  /**
   * Poll `GET .../status` until the instance is ready (and, with `gateway`, its OpenClaw
   * gateway too). Resolves with the last status; throws ClientError NOT_RUNNING (stopped,
   * stopping, deleting), NO_GATEWAY, or WAIT_TIMEOUT.
   * @param {string} id
   * @param {{timeoutMs?:number, gateway?:boolean, intervalMs?:number, onProgress?:(status:object)=>void}} [o]
   */
  async waitReady(id, o = {}) {
    const timeoutMs = o.timeoutMs ?? 300_000;
    const deadline = Date.now() + timeoutMs;
    let interval = o.intervalMs ?? 500;
    let last = "";
    for (;;) {
      const st = await this.instanceStatus(id);
      const gw = st.gateway?.state;
      const key = `${st.status}|${st.status_reason ?? ""}|${gw ?? ""}`;
      if (key !== last) {
        last = key;
        o.onProgress?.(st);
      }
      if (st.ready && !o.gateway) return st;
      if (st.ready && gw === "ready") return st;
      if (st.ready && gw === "disabled") {
        throw new ClientError("NO_GATEWAY", "this instance runs no OpenClaw gateway: chat is not available on this service (GET /api shows features.chat)");
      }
      if (st.desired_state === "stopped" || ["stopping", "stopped", "deleting"].includes(st.status)) {
        throw new ClientError("NOT_RUNNING", `instance ${id} is ${st.status}; start it with POST /api/instances/${id}/start`);
      }
      if (Date.now() >= deadline) {
        const why = st.status_reason ? ` (${st.status_reason})` : "";
        const g = o.gateway && gw ? `, gateway ${gw}` : "";
        throw new ClientError("WAIT_TIMEOUT", `instance ${id} not ready after ${Math.round(timeoutMs / 1000)} s: status ${st.status}${why}${g}`);
      }
      await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
      interval = Math.min(interval * 1.5, 2000);
    }
  }

  // --- files (paths are inside /workspace: absolute or relative to it) ---------------------------

  /** `GET .../files?path=` → `{path, entries:[{name, path, type, size, modified_at}]}`. */
  listFiles(id, p = "/workspace") { return this.request("GET", `/api/instances/${enc(id)}/files`, { query: { path: p } }); }
  /** `GET .../files/read?path=` → `{path, content, size}` (UTF-8 text, <= 10 MiB). */
  readFile(id, p) { return this.request("GET", `/api/instances/${enc(id)}/files/read`, { query: { path: p } }); }
  /** `POST .../files/write` `{path, content}` → `{path, size}`; parents created, atomic. */
  writeFile(id, p, content) { return this.request("POST", `/api/instances/${enc(id)}/files/write`, { json: { path: p, content } }); }
  /** `POST .../files/upload` JSON form: `{targetDir, fileName, content, encoding}` → 201 `{path, size}`. */
  uploadContent(id, targetDir, fileName, content, encoding = "utf8") {
    return this.request("POST", `/api/instances/${enc(id)}/files/upload`, { json: { targetDir, fileName, content, encoding } });
  }
  /**
   * `POST .../files/upload?path=` raw form, streamed: `data` is a Buffer, a string, a web
   * ReadableStream or a Node Readable. → 201 `{path, size}`.
   */
  uploadFile(id, remotePath, data) {
    const body = data instanceof Readable ? Readable.toWeb(data) : data;
    return this.request("POST", `/api/instances/${enc(id)}/files/upload`, {
      query: { path: remotePath },
      headers: { "content-type": "application/octet-stream" },
      body,
    });
  }
  /** `GET .../files/download?path=` → the fetch Response (stream `res.body`). */
  downloadFile(id, p) { return this.request("GET", `/api/instances/${enc(id)}/files/download`, { query: { path: p }, raw: true }); }
  /** `POST .../files/mkdir` `{path, parents}` → `{path, ok}`. */
  mkdir(id, p, parents = true) { return this.request("POST", `/api/instances/${enc(id)}/files/mkdir`, { json: { path: p, parents } }); }
  /** `POST .../files/delete` `{path, recursive}` → `{path, ok}`. */
  remove(id, p, recursive = false) { return this.request("POST", `/api/instances/${enc(id)}/files/delete`, { json: { path: p, recursive } }); }
  /** `POST .../files/rename` `{from, to, overwrite}` → `{path, ok}`. */
  rename(id, from, to, overwrite = false) { return this.request("POST", `/api/instances/${enc(id)}/files/rename`, { json: { from, to, overwrite } }); }

  // --- exec ----------------------------------------------------------------------------------

  /**
   * `POST .../terminal/exec`: run `/bin/sh -c command` in /workspace. Resolves with
   * `{command, stdout, stderr, exit_code, duration_ms, timed_out, truncated}` whatever the exit code.
   * @param {{cwd?:string, timeoutMs?:number, env?:Record<string,string>}} [o]
   */
  exec(id, command, o = {}) {
    const body = { command };
    if (o.timeoutMs !== undefined) body.timeout_ms = o.timeoutMs;
    if (o.cwd !== undefined) body.cwd = o.cwd;
    if (o.env && Object.keys(o.env).length) body.env = o.env;
    return this.request("POST", `/api/instances/${enc(id)}/terminal/exec`, { json: body });
  }

  // --- chat ----------------------------------------------------------------------------------

  listChatSessions(id) { return this.request("GET", `/api/instances/${enc(id)}/chat/sessions`); }
  createChatSession(id, title) { return this.request("POST", `/api/instances/${enc(id)}/chat/sessions`, { json: title ? { title } : {} }); }
  /** `POST .../chat` → `{session_id, user_message, assistant_message, usage}`. No sessionId = new session. */
  chat(id, message, o = {}) {
    return this.request("POST", `/api/instances/${enc(id)}/chat`, { json: { message, ...(o.sessionId ? { session_id: o.sessionId } : {}) } });
  }
  /**
   * `POST .../chat/stream`: yields SSE events `{event, data}`: `status` {state, detail, session_id?},
   * `message` {type:"delta", content} | {type:"message", message}, `system_notification`
   * {kind, message}, and last `complete` {message_id, usage, duration_ms} or {error:{code, message}}.
   */
  async *chatStream(id, message, o = {}) {
    const res = await this.request("POST", `/api/instances/${enc(id)}/chat/stream`, {
      json: { message, ...(o.sessionId ? { session_id: o.sessionId } : {}) },
      headers: { accept: "text/event-stream" },
      raw: true,
      signal: o.signal,
    });
    yield* parseSse(res.body);
  }
  /** `GET .../chat/messages` → `{session_id, messages, has_more}`; o: {tail, limit, after}. */
  chatMessages(id, sessionId, o = {}) {
    return this.request("GET", `/api/instances/${enc(id)}/chat/messages`, {
      query: { session_id: sessionId, tail: o.tail ? "true" : undefined, limit: o.limit, after: o.after },
    });
  }
  /** `GET .../chat/events`: yields `ready` once, then `message` (a whole persisted message) per change. */
  async *chatEvents(id, sessionId, o = {}) {
    const res = await this.request("GET", `/api/instances/${enc(id)}/chat/events`, {
      query: { session_id: sessionId, after: o.after },
      headers: { accept: "text/event-stream", ...(o.lastEventId ? { "last-event-id": String(o.lastEventId) } : {}) },
      raw: true,
      signal: o.signal,
    });
    yield* parseSse(res.body);
  }
}

async function errorFrom(res) {
  const text = await res.text().catch(() => "");
  let env;
  try {
    env = JSON.parse(text);
  } catch {}
  const header = Number.parseInt(res.headers.get("retry-after") ?? "", 10);
  const e = env?.error;
  return new ApiError({
    status: res.status,
    code: typeof e?.code === "string" ? e.code : `HTTP_${res.status}`,
    message: typeof e?.message === "string" ? e.message : text.trim().slice(0, 300) || res.statusText || "no message",
    retryAfter: Number.isFinite(e?.retryAfter) ? e.retryAfter : Number.isFinite(header) ? header : undefined,
    requestId: res.headers.get("x-request-id") ?? undefined,
    body: env ?? text,
  });
}

// =================================================================================================
// CLI
// =================================================================================================

class UsageError extends Error {}

const GLOBAL_HELP = `Global options (anywhere before a literal --):
  --base-url URL   service origin (default: $OCAAS_BASE_URL, else ${DEFAULT_BASE_URL})
  --api-key KEY    API key (default: $OCAAS_API_KEY, else $OPENCLAW_API_KEY)
  --json           print the raw JSON answer (streams: one JSON object per SSE event)
  --retries N      retries of 429/503 answers, honouring Retry-After (default 3)
  -h, --help       help for any command`;

const WAIT_OPTS = {
  wait: { flag: true, help: "wait until the instance is ready" },
  "wait-timeout": { help: "seconds to wait (default 300)" },
};

/** Every command: usage line, summary, options (flag = takes no value), runner. */
const COMMANDS = {
  info: {
    usage: "info",
    summary: "service metadata: version, runtime, limits, features (GET /api; no key needed)",
    run: async (c, a) => out(a, await c.info()),
  },
  "instances list": {
    usage: "instances list",
    summary: "list your instances",
    run: async (c, a) => {
      const list = await c.listInstances();
      if (a.json) return out(a, list);
      if (!list.length) return void console.error("(no instances)");
      table(["ID", "STATUS", "NAME", "CREATED"], list.map((i) => [i.id, i.status, i.name, i.created_at]));
    },
  },
  "instances create": {
    usage: "instances create [--name NAME] [--instructions TEXT | --instructions-file FILE] [--invite-code CODE] [--provider-base-url URL --provider-model ID [--provider-api-key KEY]] [--desktop] [--wait [--wait-timeout S]]",
    summary: "create an instance; prints its id (status provisioning; --wait: until ready)",
    options: {
      name: { help: "display name (1-64 printable characters)" },
      instructions: { help: "standing instructions, written to /workspace/AGENTS.md" },
      "instructions-file": { help: "read the instructions from a local file" },
      "invite-code": { help: "invite code, when the account has no subscription" },
      "provider-base-url": { help: "bring your own OpenAI-compatible provider, e.g. https://api.openai.com/v1" },
      "provider-model": { help: "the provider's model id" },
      "provider-api-key": { help: "the provider's key (stored encrypted, never returned)" },
      desktop: { flag: true, help: "start the virtual desktop with the sandbox" },
      ...WAIT_OPTS,
    },
    run: async (c, a) => {
      const body = {};
      if (a.opts.name !== undefined) body.name = a.opts.name;
      if (a.opts["invite-code"] !== undefined) body.invite_code = a.opts["invite-code"];
      if (a.opts.instructions !== undefined) body.instructions = a.opts.instructions;
      if (a.opts["instructions-file"] !== undefined) body.instructions = fs.readFileSync(a.opts["instructions-file"], "utf8");
      if (a.opts.desktop) body.desktop = true;
      if (a.opts["provider-base-url"] !== undefined || a.opts["provider-model"] !== undefined) {
        body.provider = { base_url: a.opts["provider-base-url"], model: a.opts["provider-model"] };
        if (a.opts["provider-api-key"] !== undefined) body.provider.api_key = a.opts["provider-api-key"];
      }
      const inst = await c.createInstance(body);
      note(`created instance ${inst.id} (${inst.name}, ${inst.status})`);
      // The id goes out at once, so a caller has it even if the wait fails.
      if (!a.json) console.log(inst.id);
      if (a.opts.wait) await waitCli(c, inst.id, a);
      if (a.json) out(a, a.opts.wait ? await c.getInstance(inst.id) : inst);
    },
  },
  "instances get": {
    usage: "instances get <id>",
    summary: "show one instance",
    args: ["id"],
    run: async (c, a) => out(a, await c.getInstance(a.id), true),
  },
  "instances status": {
    usage: "instances status <id>",
    summary: "status, readiness, gateway state, token usage and every transition",
    args: ["id"],
    run: async (c, a) => out(a, await c.instanceStatus(a.id), true),
  },
  "instances update": {
    usage: "instances update <id> (--instructions TEXT | --instructions-file FILE)",
    summary: "replace the instructions (/workspace/AGENTS.md)",
    args: ["id"],
    options: {
      instructions: { help: "new instructions" },
      "instructions-file": { help: "read them from a local file ('-' = stdin)" },
    },
    run: async (c, a) => {
      let text = a.opts.instructions;
      if (a.opts["instructions-file"] !== undefined) text = readLocalText(a.opts["instructions-file"]);
      if (text === undefined) throw new UsageError("give --instructions or --instructions-file");
      out(a, await c.updateInstance(a.id, { instructions: text }), true);
    },
  },
  "instances delete": {
    usage: "instances delete <id>",
    summary: "delete the instance and its workspace for good",
    args: ["id"],
    run: async (c, a) => {
      await c.deleteInstance(a.id);
      note(`deleted ${a.id}`);
      if (a.json) out(a, { id: a.id, deleted: true });
    },
  },
  "instances shutdown": {
    usage: "instances shutdown <id>",
    summary: "stop the sandbox, keep the workspace",
    args: ["id"],
    run: async (c, a) => lifecycle(a, await c.shutdownInstance(a.id)),
  },
  "instances start": {
    usage: "instances start <id> [--wait [--wait-timeout S]]",
    summary: "start a stopped or failed instance",
    args: ["id"],
    options: WAIT_OPTS,
    run: async (c, a) => {
      const inst = await c.startInstance(a.id);
      if (a.opts.wait) await waitCli(c, a.id, a);
      lifecycle(a, a.opts.wait ? await c.getInstance(a.id) : inst);
    },
  },
  "instances reboot": {
    usage: "instances reboot <id> [--wait [--wait-timeout S]]",
    summary: "replace the sandbox with a fresh one (workspace kept)",
    args: ["id"],
    options: WAIT_OPTS,
    run: async (c, a) => {
      const inst = await c.rebootInstance(a.id);
      if (a.opts.wait) {
        await sleep(500); // let the reboot leave "ready" before polling
        await waitCli(c, a.id, a);
      }
      lifecycle(a, a.opts.wait ? await c.getInstance(a.id) : inst);
    },
  },
  "instances wait-ready": {
    usage: "instances wait-ready <id> [--timeout S] [--gateway]",
    summary: "wait until the instance is ready (--gateway: and its OpenClaw agent has booted)",
    args: ["id"],
    options: {
      timeout: { help: "seconds to wait (default 300)" },
      gateway: { flag: true, help: "also wait for the OpenClaw gateway (chat) to be ready, ~20 s after boot" },
    },
    run: async (c, a) => {
      a.opts["wait-timeout"] = a.opts.timeout;
      const st = await waitCli(c, a.id, a, a.opts.gateway);
      a.json ? out(a, st) : console.log(`${a.id} ready`);
    },
  },
  "instances vnc-url": {
    usage: "instances vnc-url <id>",
    summary: "desktop URL and short-lived websocket token: {url, wsUrl, token, expiresAt}",
    args: ["id"],
    run: async (c, a) => out(a, await c.vncUrl(a.id), true),
  },
  "files ls": {
    usage: "files ls <id> [path]",
    summary: "list a directory (default /workspace)",
    args: ["id", "path?"],
    run: async (c, a) => {
      const r = await c.listFiles(a.id, a.path ?? "/workspace");
      if (a.json) return out(a, r);
      const t = { directory: "d", file: "-", symlink: "l", other: "?" };
      table(
        ["TYPE", "SIZE", "MODIFIED", "PATH"],
        r.entries.map((e) => [t[e.type] ?? "?", String(e.size), e.modified_at, e.path + (e.type === "directory" ? "/" : "")]),
      );
    },
  },
  "files read": {
    usage: "files read <id> <path>",
    summary: "print a UTF-8 text file (<= 10 MiB; use download for binary)",
    args: ["id", "path"],
    run: async (c, a) => {
      const r = await c.readFile(a.id, a.path);
      a.json ? out(a, r) : process.stdout.write(r.content);
    },
  },
  "files write": {
    usage: "files write <id> <path> [content | -]",
    summary: "create or replace a text file with CONTENT, or stdin when omitted or '-'",
    args: ["id", "path", "content?"],
    run: async (c, a) => {
      const content = a.content === undefined || a.content === "-" ? await readStdin() : a.content;
      const r = await c.writeFile(a.id, a.path, content);
      a.json ? out(a, r) : console.log(`wrote ${r.path} (${r.size} bytes)`);
    },
  },
  "files upload": {
    usage: "files upload <id> <local-file> [remote-path]",
    summary: "upload any local file, streamed (default target /workspace/<name>; a path ending in / is a directory)",
    args: ["id", "local", "remote?"],
    run: async (c, a) => {
      const st = fs.statSync(a.local);
      if (!st.isFile()) throw new UsageError(`${a.local} is not a file`);
      let remote = a.remote ?? "/workspace/";
      if (remote.endsWith("/")) remote += path.basename(a.local);
      const r = await c.uploadFile(a.id, remote, fs.createReadStream(a.local));
      a.json ? out(a, r) : console.log(`uploaded ${r.path} (${r.size} bytes)`);
    },
  },
  "files download": {
    usage: "files download <id> <remote-path> [local-file | -]",
    summary: "download any file, streamed (default ./<name>; '-' = stdout)",
    args: ["id", "remote", "local?"],
    run: async (c, a) => {
      const res = await c.downloadFile(a.id, a.remote);
      const local = a.local ?? path.basename(a.remote);
      if (local === "-") return pipeline(Readable.fromWeb(res.body), process.stdout);
      await pipeline(Readable.fromWeb(res.body), fs.createWriteStream(local));
      const size = fs.statSync(local).size;
      a.json ? out(a, { path: a.remote, local, size }) : note(`downloaded ${a.remote} -> ${local} (${size} bytes)`);
    },
  },
  "files mkdir": {
    usage: "files mkdir <id> <path>",
    summary: "create a directory and its missing parents",
    args: ["id", "path"],
    run: async (c, a) => ok(a, await c.mkdir(a.id, a.path, true)),
  },
  "files rm": {
    usage: "files rm <id> <path> [-r | --recursive]",
    summary: "delete a file or directory (-r for a non-empty directory)",
    args: ["id", "path"],
    options: { recursive: { flag: true, help: "delete a non-empty directory" } },
    run: async (c, a) => ok(a, await c.remove(a.id, a.path, !!a.opts.recursive)),
  },
  "files mv": {
    usage: "files mv <id> <from> <to> [--overwrite]",
    summary: "move or rename (the target's directory must exist; an existing target is 409 CONFLICT unless --overwrite)",
    args: ["id", "from", "to"],
    options: { overwrite: { flag: true, help: "replace an existing target" } },
    run: async (c, a) => ok(a, await c.rename(a.id, a.from, a.to, !!a.opts.overwrite)),
  },
  exec: {
    usage: "exec <id> [--cwd DIR] [--timeout DURATION] [--env K=V]... <command...>",
    summary: "run a shell command (/bin/sh -c) in /workspace; prints stdout/stderr, exits with its exit code",
    args: ["id", "command..."],
    options: {
      cwd: { help: "working directory inside /workspace (default /workspace)" },
      timeout: { help: "kill after this long: seconds, or 500ms / 90s / 5m (default 30s, max 10m)" },
      env: { multi: true, help: "extra environment variable K=V (repeatable)" },
    },
    run: async (c, a) => {
      const o = { cwd: a.opts.cwd };
      if (a.opts.timeout !== undefined) o.timeoutMs = parseDuration(a.opts.timeout);
      if (a.opts.env) {
        o.env = {};
        for (const kv of a.opts.env) {
          const i = kv.indexOf("=");
          if (i <= 0) throw new UsageError(`--env wants K=V, got ${JSON.stringify(kv)}`);
          o.env[kv.slice(0, i)] = kv.slice(i + 1);
        }
      }
      const r = await c.exec(a.id, a.command.join(" "), o);
      if (a.json) out(a, r);
      else {
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        if (r.timed_out) note(`error: TIMED_OUT: the command ran past its timeout (${o.timeoutMs ?? 30000} ms) and was killed (exit code ${r.exit_code})`);
        if (r.truncated) note("note: output was cut at 1 MiB per stream (truncated: true)");
      }
      process.exitCode = r.exit_code > 255 || r.exit_code < 0 ? 255 : r.exit_code;
    },
  },
  "chat sessions": {
    usage: "chat sessions <id>",
    summary: "list chat sessions",
    args: ["id"],
    run: async (c, a) => {
      const list = await c.listChatSessions(a.id);
      if (a.json) return out(a, list);
      if (!list.length) return void console.error("(no sessions)");
      table(["ID", "MESSAGES", "LAST_ACTIVITY", "TITLE"], list.map((s) => [s.id, String(s.message_count), s.last_activity_at, s.title]));
    },
  },
  "chat new": {
    usage: "chat new <id> [--title TITLE]",
    summary: "create a chat session; prints its id",
    args: ["id"],
    options: { title: { help: "1-200 characters (default: Chat <time>)" } },
    run: async (c, a) => {
      const s = await c.createChatSession(a.id, a.opts.title);
      a.json ? out(a, s) : console.log(s.id);
    },
  },
  "chat send": {
    usage: "chat send <id> [--session SID] <message | ->",
    summary: "send a message and wait for the reply (prints it; the session id goes to stderr)",
    args: ["id", "message..."],
    options: { session: { help: "session to continue (default: a new session)" } },
    run: async (c, a) => {
      const r = await c.chat(a.id, await messageArg(a), { sessionId: a.opts.session });
      if (a.json) return out(a, r);
      if (!a.opts.session) note(`session: ${r.session_id}`);
      const text = r.assistant_message.content;
      process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
    },
  },
  "chat stream": {
    usage: "chat stream <id> [--session SID] <message | ->",
    summary: "send a message and print the reply as it streams (SSE); status lines go to stderr",
    args: ["id", "message..."],
    options: { session: { help: "session to continue (default: a new session)" } },
    run: async (c, a) => {
      let printed = "";
      let failure;
      for await (const ev of c.chatStream(a.id, await messageArg(a), { sessionId: a.opts.session })) {
        if (a.json) {
          console.log(JSON.stringify(ev));
        } else if (ev.event === "status") {
          if (ev.data?.session_id && !a.opts.session) note(`session: ${ev.data.session_id}`);
          note(`[${ev.data?.state}] ${ev.data?.detail ?? ""}`);
        } else if (ev.event === "message" && ev.data?.type === "delta") {
          process.stdout.write(ev.data.content);
          printed += ev.data.content;
        } else if (ev.event === "message" && ev.data?.message?.role === "assistant") {
          // The persisted reply: print what the deltas did not already show.
          const text = ev.data.message.content ?? "";
          if (text.startsWith(printed)) process.stdout.write(text.slice(printed.length));
          else process.stdout.write(`\n${text}`);
          printed = text;
        } else if (ev.event === "system_notification") {
          note(`[${ev.data?.kind}] ${ev.data?.message}`);
        }
        if (ev.event === "complete") {
          if (ev.data?.error) failure = ev.data.error;
          else if (!a.json) {
            const u = ev.data?.usage;
            note(`[complete] message ${ev.data?.message_id} in ${ev.data?.duration_ms} ms${u ? `, tokens ${u.input_tokens} in / ${u.output_tokens} out` : ""}`);
          }
          break;
        }
      }
      if (!a.json && printed && !printed.endsWith("\n")) process.stdout.write("\n");
      if (failure) {
        const code = failure.code ?? "INTERNAL";
        throw new ApiError({ status: ERROR_STATUS[code] ?? 500, code, message: failure.message ?? "the turn failed", body: failure });
      }
    },
  },
  "chat history": {
    usage: "chat history <id> --session SID [--limit N] [--after MESSAGE_ID]",
    summary: "messages in chronological order: the latest N (default 50), or those after a message id",
    args: ["id"],
    options: {
      session: { help: "session id (required)" },
      limit: { help: "1-500 (default 50)" },
      after: { help: "only messages after this message id (oldest first) instead of the latest N" },
    },
    run: async (c, a) => {
      if (!a.opts.session) throw new UsageError("--session is required");
      const r = await c.chatMessages(a.id, a.opts.session, {
        tail: a.opts.after === undefined,
        limit: a.opts.limit,
        after: a.opts.after,
      });
      if (a.json) return out(a, r);
      for (const m of r.messages) {
        const extra = m.status === "complete" ? "" : ` (${m.status}${m.error ? `: ${m.error}` : ""})`;
        console.log(`--- ${m.role} ${m.created_at} ${m.id}${extra}`);
        console.log(m.content);
      }
      if (r.has_more) note(a.opts.after === undefined ? "(older messages exist: raise --limit)" : `(more: --after ${r.messages.at(-1)?.id})`);
    },
  },
  "chat events": {
    usage: "chat events <id> --session SID [--after MESSAGE_ID]",
    summary: "follow persisted message changes live (SSE) until interrupted",
    args: ["id"],
    options: {
      session: { help: "session id (required)" },
      after: { help: "first replay messages created after this message id" },
    },
    run: async (c, a) => {
      if (!a.opts.session) throw new UsageError("--session is required");
      for await (const ev of c.chatEvents(a.id, a.opts.session, { after: a.opts.after })) {
        if (a.json) console.log(JSON.stringify(ev));
        else if (ev.event === "ready") note(`[ready] session ${ev.data?.session_id}`);
        else if (ev.event === "message") {
          const m = ev.data;
          console.log(`[${ev.id}] ${m.role} ${m.status} ${m.id}: ${m.content}`);
        }
      }
    },
  },
};

const GROUP_ALIASES = { instance: "instances", i: "instances", file: "files", f: "files" };
const SUB_ALIASES = {
  instances: { ls: "list", rm: "delete", show: "get", wait: "wait-ready" },
  files: { list: "ls", cat: "read", delete: "rm", rename: "mv", put: "upload", get: "download" },
  chat: { create: "new", "session-create": "new", messages: "history", ask: "send" },
};
const GLOBAL_OPTS = {
  "base-url": {},
  "api-key": {},
  json: { flag: true },
  retries: {},
  help: { flag: true },
};
const SHORT = { h: "help", r: "recursive" };

function resolveCommand(words) {
  if (!words.length) return { name: null, used: 0 };
  let [g, s] = words;
  g = GROUP_ALIASES[g] ?? g;
  if (COMMANDS[g]) return { name: g, used: 1 };
  if (s !== undefined) {
    s = SUB_ALIASES[g]?.[s] ?? s;
    if (COMMANDS[`${g} ${s}`]) return { name: `${g} ${s}`, used: 2 };
  }
  const group = Object.keys(COMMANDS).some((k) => k.startsWith(`${g} `));
  return { name: null, group: group ? g : null, used: group ? 1 : 0, unknown: words.slice(0, 2).join(" ") };
}

/** Split argv into positionals and options. For `exec`, everything from the command on is literal. */
function parseArgv(argv) {
  const pos = [];
  const opts = {};
  let literal = false;
  const spec = () => {
    const { name } = resolveCommand(pos);
    return { ...GLOBAL_OPTS, ...(name ? COMMANDS[name].options ?? {} : {}) };
  };
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i];
    if (literal || t === "-" || !t.startsWith("-")) {
      pos.push(t);
      // `exec <id> <command...>`: once the command starts, nothing more is an option.
      if (resolveCommand(pos).name === "exec" && pos.length >= 3) literal = true;
      continue;
    }
    if (t === "--") {
      literal = true;
      continue;
    }
    let name;
    let value;
    if (t.startsWith("--")) {
      const eq = t.indexOf("=");
      name = eq < 0 ? t.slice(2) : t.slice(2, eq);
      if (eq >= 0) value = t.slice(eq + 1);
    } else {
      name = SHORT[t.slice(1)];
      if (!name) throw new UsageError(`unknown option ${t}`);
    }
    const o = spec()[name];
    if (!o) {
      const cmd = resolveCommand(pos).name;
      throw new UsageError(`unknown option --${name}${cmd ? ` for '${cmd}'` : ""}${cmd === "exec" ? " (options go before the command; or put the command after --)" : ""}`);
    }
    if (o.flag) {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      opts[name] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      value = argv[++i];
    }
    if (o.multi) (opts[name] ??= []).push(value);
    else opts[name] = value;
  }
  return { pos, opts };
}

function commandHelp(name) {
  const c = COMMANDS[name];
  const lines = [`usage: node openclaw_api_client.mjs ${c.usage}`, "", c.summary];
  const o = Object.entries(c.options ?? {});
  if (o.length) {
    lines.push("", "Options:");
    for (const [k, v] of o) lines.push(`  --${k}${v.flag ? "" : " VALUE"}`.padEnd(28) + ` ${v.help ?? ""}`);
  }
  lines.push("", GLOBAL_HELP);
  return lines.join("\n");
}

/** A usage line without its options: `exec <id> [--cwd DIR] <command...>` → `exec <id> <command...>`. */
function synopsis(usage) {
  let s = usage;
  for (let prev; prev !== s; ) {
    prev = s;
    s = s.replace(/\s*\[[^[\]]*--[^[\]]*\](\.\.\.)?/g, "").replace(/\s*\([^()]*--[^()]*\)/g, "");
  }
  return s;
}

function overviewHelp(group) {
  const names = Object.keys(COMMANDS).filter((k) => !group || k === group || k.startsWith(`${group} `));
  const width = Math.max(...names.map((n) => synopsis(COMMANDS[n].usage).length)) + 2;
  const lines = [
    "OpenClaw as a Service: API client",
    `usage: node openclaw_api_client.mjs <command> [args] [options]   (docs: ${DEFAULT_BASE_URL}/llms.txt)`,
    "",
    "Commands:",
    ...names.map((n) => `  ${synopsis(COMMANDS[n].usage).padEnd(width)}${COMMANDS[n].summary}`),
    "",
    "Errors print `error: CODE (HTTP status): message` to stderr and exit 1 (usage errors exit 2);",
    "exec exits with the command's exit code. `<command> --help` shows a command's options.",
    "",
    GLOBAL_HELP,
  ];
  return lines.join("\n");
}

/** Run the CLI with `argv` (without node and script). Resolves with the process exit code. */
export async function main(argv = process.argv.slice(2)) {
  let parsed;
  try {
    parsed = parseArgv(argv);
  } catch (e) {
    console.error(`error: ${e.message}\n(run with --help for usage)`);
    return 2;
  }
  const { pos, opts } = parsed;
  const { name, group, used, unknown } = resolveCommand(pos);
  if (!name) {
    if (opts.help || !pos.length || pos[0] === "help") {
      console.log(overviewHelp(group));
      return 0;
    }
    if (group && used === pos.length) console.error(`error: '${group}' needs a subcommand\n\n${overviewHelp(group)}`);
    else if (group) console.error(`error: unknown command '${unknown}'\n\n${overviewHelp(group)}`);
    else console.error(`error: unknown command '${pos[0]}'\n\n${overviewHelp()}`);
    return 2;
  }
  const cmd = COMMANDS[name];
  if (opts.help) {
    console.log(commandHelp(name));
    return 0;
  }
  const a = { json: !!opts.json, opts };
  const rest = pos.slice(used);
  const specs = cmd.args ?? [];
  for (const spec of specs) {
    const key = spec.replace(/[?.]+$/, "");
    if (spec.endsWith("...")) {
      a[key] = rest.splice(0);
      if (!a[key].length) return usage(name, `missing <${key}>`);
    } else if (rest.length) a[key] = rest.shift();
    else if (!spec.endsWith("?")) return usage(name, `missing <${key}>`);
  }
  if (rest.length) return usage(name, `unexpected argument ${JSON.stringify(rest[0])}`);

  let client;
  try {
    const retries = opts.retries === undefined ? undefined : Number(opts.retries);
    if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) return usage(name, "--retries wants a whole number");
    client = new OpenClawClient({
      baseUrl: opts["base-url"],
      apiKey: opts["api-key"],
      retries,
      onRetry: ({ waitS, error }) => note(`retrying in ${waitS} s: ${error.message}`),
    });
    await cmd.run(client, a);
    return process.exitCode ?? 0;
  } catch (e) {
    if (e instanceof UsageError) return usage(name, e.message);
    if (e instanceof ApiError) {
      const retry = e.retryAfter !== undefined ? ` (retry after ${e.retryAfter} s)` : "";
      console.error(`error: ${e.code} (${e.status}): ${e.apiMessage}${retry}`);
    } else if (e instanceof NetworkError || e instanceof ClientError) {
      console.error(`error: ${e.message}`);
    } else if (e?.code === "ENOENT" || e?.code === "EACCES" || e?.code === "EISDIR") {
      console.error(`error: ${e.message}`);
    } else {
      console.error(`error: ${e?.stack ?? e}`);
    }
    return 1;
  }
}

function usage(name, msg) {
  console.error(`error: ${msg}\nusage: node openclaw_api_client.mjs ${COMMANDS[name].usage}\n(run '${name} --help' for details)`);
  return 2;
}

// --- CLI helpers ---------------------------------------------------------------------------

function note(msg) {
  console.error(msg);
}

function out(a, value, pretty = !a.json) {
  console.log(pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value));
}

function ok(a, r) {
  a.json ? out(a, r) : console.log(`ok ${r.path}`);
}

function lifecycle(a, inst) {
  a.json ? out(a, inst) : console.log(`${inst.id} ${inst.status}`);
}

function table(head, rows) {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? "").length)));
  const line = (r) => r.map((c, i) => (i === r.length - 1 ? String(c ?? "") : String(c ?? "").padEnd(w[i]))).join("  ");
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

async function waitCli(c, id, a, gateway = false) {
  const secs = a.opts["wait-timeout"] === undefined ? 300 : Number(a.opts["wait-timeout"]);
  if (!(secs > 0)) throw new UsageError("the wait timeout must be a positive number of seconds");
  const started = Date.now();
  const st = await c.waitReady(id, {
    timeoutMs: secs * 1000,
    gateway,
    onProgress: (s) => {
      const why = s.status_reason ? ` (${s.status_reason})` : "";
      const gw = gateway && s.gateway ? `, gateway ${s.gateway.state}` : "";
      note(`status: ${s.status}${why}${gw}`);
    },
  });
  note(`ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return st;
}

function parseDuration(raw) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(raw).trim());
  if (!m) throw new UsageError(`--timeout wants seconds or a duration like 500ms, 90s, 5m; got ${JSON.stringify(raw)}`);
  const n = Number(m[1]);
  const ms = m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000;
  return Math.max(1, Math.round(ms));
}

async function readStdin() {
  if (process.stdin.isTTY) note("(reading from stdin; end with Ctrl-D)");
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function readLocalText(file) {
  return file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(file, "utf8");
}

async function messageArg(a) {
  return a.message.length === 1 && a.message[0] === "-" ? readStdin() : a.message.join(" ");
}

// Run as a CLI when executed directly (not when imported).
const invoked = (() => {
  try {
    return process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
})();
if (invoked) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      console.error(`error: ${e?.stack ?? e}`);
      process.exitCode = 1;
    },
  );
}
