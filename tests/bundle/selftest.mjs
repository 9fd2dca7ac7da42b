#!/usr/bin/env node
// End-to-end check of the helper CLI against a running service: every step runs
// `node openclaw_api_client.mjs ...` as a child process, as an agent would.
//
//   node selftest.mjs --base-url http://127.0.0.1:8080 --api-key KEY [--chat] [--keep]
//
// --chat also exercises chat (needs the OpenClaw gateway; the first turn takes ~20-40 s).
// --keep leaves the instance in place. Exits 1 on any mismatch.

import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));

const argv = process.argv.slice(2);
const flag = (n) => argv.includes(`--${n}`);
const opt = (n) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
// The client under test: as served by the service (downloaded by the e2e test), else the
// repository's copy.
const CLIENT = opt("client") ?? path.join(HERE, "../../orchestrator/bundle/openclaw_api_client.mjs");
if (flag("help")) {
  console.log("usage: node selftest.mjs --base-url URL --api-key KEY [--client PATH] [--chat] [--keep]");
  process.exit(0);
}
const BASE = opt("base-url") ?? process.env.OCAAS_BASE_URL;
const KEY = opt("api-key") ?? process.env.OCAAS_API_KEY;
if (!BASE || !KEY) {
  console.error("selftest: give --base-url and --api-key (or OCAAS_BASE_URL / OCAAS_API_KEY)");
  process.exit(2);
}

// The children get the URL and key only through flags, never the environment.
const childEnv = { ...process.env };
for (const k of ["OCAAS_BASE_URL", "OCAAS_API_KEY", "OPENCLAW_API_KEY"]) delete childEnv[k];

let failures = 0;
let checks = 0;

function check(name, cond, detail) {
  checks++;
  if (cond) console.log(`ok   ${name}`);
  else {
    failures++;
    console.log(`FAIL ${name}${detail === undefined ? "" : `\n     ${String(detail).replace(/\n/g, "\n     ")}`}`);
  }
  return cond;
}

/** Run the CLI; returns {code, stdout, stderr}. `auth: false` leaves out URL and key. */
function cli(args, { input, auth = true, timeoutS = 300 } = {}) {
  const full = auth ? ["--base-url", BASE, "--api-key", KEY, ...args] : args;
  const r = spawnSync(process.execPath, [CLIENT, ...full], {
    input,
    encoding: "utf8",
    env: childEnv,
    timeout: timeoutS * 1000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const res = { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "", signal: r.signal };
  res.show = `$ node openclaw_api_client.mjs ${args.join(" ")}\nexit ${res.code}${r.signal ? ` (${r.signal})` : ""}\nstdout: ${res.stdout.slice(0, 800)}\nstderr: ${res.stderr.slice(0, 800)}`;
  return res;
}

function json(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const ERROR_LINE = /^error: ([A-Z_]+) \((\d{3})\): .+/m;

function expectError(name, r, code, status) {
  const m = ERROR_LINE.exec(r.stderr);
  check(name, r.code === 1 && m && m[1] === code && m[2] === String(status), r.show);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ocaas-selftest-"));
let id;

try {
  // --- service and bad requests that need no instance ----------------------------------------
  let r = cli(["info", "--json"]);
  const info = json(r.stdout);
  check("info (GET /api)", r.code === 0 && info?.name, r.show);
  r = cli(["--base-url", `${BASE.replace(/\/+$/, "")}/api/`, "--api-key", KEY, "instances", "list"], { auth: false });
  check("--base-url accepts a trailing /api", r.code === 0, r.show);
  r = cli(["--base-url", BASE, "--api-key", "not-a-key", "instances", "list"], { auth: false });
  expectError("a bad key is `error: UNAUTHORIZED (401): ...`", r, "UNAUTHORIZED", 401);
  r = cli(["instances", "get", "00000000-0000-0000-0000-000000000000"]);
  expectError("an unknown instance is `error: NOT_FOUND (404): ...`", r, "NOT_FOUND", 404);
  r = cli(["--base-url", "http://127.0.0.1:1", "--api-key", KEY, "--retries", "0", "instances", "list"], { auth: false });
  check("an unreachable service is `error: cannot reach ...`", r.code === 1 && /^error: cannot reach http:\/\/127\.0\.0\.1:1\//m.test(r.stderr), r.show);
  r = cli(["files", "read"]);
  check("a usage error exits 2 with the usage line", r.code === 2 && /usage: node openclaw_api_client\.mjs files read/.test(r.stderr), r.show);
  r = cli(["instances", "create", "--nope"]);
  check("an unknown option exits 2", r.code === 2 && /unknown option --nope/.test(r.stderr), r.show);

  // --help for the overview and every command.
  r = cli(["--help"], { auth: false });
  check("--help lists the commands", r.code === 0 && /instances create/.test(r.stdout) && /chat stream/.test(r.stdout), r.show);
  const commands = [...r.stdout.matchAll(/^  ((?:instances|files|chat) [a-z-]+|exec|info)\b/gm)].map((m) => m[1]);
  check("--help shows at least 25 commands", commands.length >= 25, commands.join(", "));
  const badHelp = commands.filter((c) => {
    const h = cli([...c.split(" "), "--help"], { auth: false });
    return h.code !== 0 || !h.stdout.startsWith(`usage: node openclaw_api_client.mjs ${c}`);
  });
  check("every command has --help", badHelp.length === 0, badHelp.join(", "));

  // --- create and wait -------------------------------------------------------------------------
  const name = `selftest-${Date.now()}`;
  r = cli(["instances", "create", "--name", name, "--wait"]);
  id = r.stdout.trim();
  if (!check("instances create --wait prints the id", r.code === 0 && /^[0-9a-f-]{36}$/.test(id), r.show)) {
    throw new Error("cannot go on without an instance");
  }
  r = cli(["instances", "status", id, "--json"]);
  const st = json(r.stdout);
  check("instances status: ready", r.code === 0 && st?.ready === true && st.status === "ready", r.show);
  r = cli(["instances", "list"]);
  check("instances list shows it", r.code === 0 && r.stdout.includes(id) && r.stdout.includes(name), r.show);

  // --- files -------------------------------------------------------------------------------------
  const text = "Hello from selftest\nline 2 with 'quotes' and $dollars\n";
  r = cli(["files", "write", id, "notes/hello.txt", text]);
  check("files write (argument)", r.code === 0 && /wrote \/workspace\/notes\/hello\.txt \(\d+ bytes\)/.test(r.stdout), r.show);
  r = cli(["files", "read", id, "/workspace/notes/hello.txt"]);
  check("files read returns the same text", r.code === 0 && r.stdout === text, r.show);
  r = cli(["files", "write", id, "notes/stdin.txt"], { input: "from stdin\n" });
  const r2 = cli(["files", "read", id, "notes/stdin.txt"]);
  check("files write (stdin)", r.code === 0 && r2.stdout === "from stdin\n", `${r.show}\n${r2.show}`);
  r = cli(["files", "ls", id, "notes", "--json"]);
  const names = json(r.stdout)?.entries?.map((e) => e.name) ?? [];
  check("files ls", r.code === 0 && names.includes("hello.txt") && names.includes("stdin.txt"), r.show);

  const blob = crypto.randomBytes(3 * 1024 * 1024 + 17);
  const up = path.join(tmp, "blob.bin");
  const down = path.join(tmp, "blob.down");
  fs.writeFileSync(up, blob);
  r = cli(["files", "upload", id, up, "bin/"]);
  check("files upload (streamed, 3 MiB)", r.code === 0 && r.stdout.includes(`/workspace/bin/blob.bin (${blob.length} bytes)`), r.show);
  r = cli(["files", "download", id, "bin/blob.bin", down]);
  check("files download matches the upload", r.code === 0 && fs.existsSync(down) && fs.readFileSync(down).equals(blob), r.show);
  r = cli(["files", "read", id, "bin/blob.bin"]);
  expectError("files read of a binary file is NOT_TEXT (422)", r, "NOT_TEXT", 422);
  r = cli(["files", "mkdir", id, "a/b/c"]);
  check("files mkdir", r.code === 0, r.show);
  r = cli(["files", "mv", id, "notes/stdin.txt", "a/b/c/moved.txt"]);
  check("files mv", r.code === 0, r.show);
  r = cli(["files", "mv", id, "a/b/c/moved.txt", "notes/hello.txt"]);
  expectError("files mv onto an existing file is CONFLICT (409)", r, "CONFLICT", 409);
  r = cli(["files", "rm", id, "a"]);
  expectError("files rm of a non-empty directory is CONFLICT (409)", r, "CONFLICT", 409);
  r = cli(["files", "rm", "-r", id, "a"]);
  check("files rm -r", r.code === 0, r.show);
  r = cli(["files", "read", id, "/etc/passwd"]);
  expectError("a path outside /workspace is PATH_OUTSIDE_WORKSPACE (400)", r, "PATH_OUTSIDE_WORKSPACE", 400);

  // --- exec --------------------------------------------------------------------------------------
  r = cli(["exec", id, "cat", "notes/hello.txt"]);
  check("exec cat prints the file", r.code === 0 && r.stdout === text, r.show);
  r = cli(["exec", id, "echo out; echo oops >&2; exit 3"]);
  check("exec propagates the exit code and both streams", r.code === 3 && r.stdout === "out\n" && r.stderr.includes("oops"), r.show);
  r = cli(["exec", id, "--", "ls", "-la", "notes"]);
  check("exec passes dashed arguments through (after --)", r.code === 0 && r.stdout.includes("hello.txt"), r.show);
  r = cli(["exec", id, "ls", "-la", "notes"]);
  check("exec passes dashed arguments after the command word", r.code === 0 && r.stdout.includes("hello.txt"), r.show);
  r = cli(["exec", "--cwd", "notes", "--env", "GREETING=hi there", id, 'pwd; echo "$GREETING"']);
  check("exec --cwd and --env", r.code === 0 && r.stdout === "/workspace/notes\nhi there\n", r.show);
  r = cli(["exec", "--timeout", "1", id, "sleep 10"]);
  check("exec --timeout kills the command (exit 137, message)", r.code === 137 && /timed? ?out/i.test(r.stderr), r.show);
  r = cli(["exec", "--json", id, "echo hi"]);
  const ex = json(r.stdout);
  check("exec --json prints the raw response", r.code === 0 && ex?.stdout === "hi\n" && ex.exit_code === 0 && "duration_ms" in ex, r.show);
  r = cli(["exec", id, " "]);
  expectError("an empty command is VALIDATION_FAILED (422)", r, "VALIDATION_FAILED", 422);

  // --- chat --------------------------------------------------------------------------------------
  if (flag("chat")) {
    const scripted = /scripted/i.test(info?.model?.provider ?? "");
    r = cli(["instances", "wait-ready", id, "--gateway", "--timeout", "240"]);
    check("instances wait-ready --gateway", r.code === 0, r.show);
    r = cli(["chat", "new", id, "--title", "selftest"]);
    const sid = r.stdout.trim();
    check("chat new prints the session id", r.code === 0 && /^[0-9a-f-]{36}$/.test(sid), r.show);
    r = cli(["chat", "send", id, "--session", sid, "selftest ping"]);
    check("chat send (sync) prints the reply", r.code === 0 && r.stdout.trim().length > 0 && (!scripted || r.stdout.includes("selftest ping")), r.show);
    r = cli(["chat", "stream", id, "--session", sid, "selftest stream"]);
    check(
      "chat stream prints the reply and completes",
      r.code === 0 && r.stdout.trim().length > 0 && (!scripted || r.stdout.includes("selftest stream")) && /\[complete\]/.test(r.stderr),
      r.show,
    );
    r = cli(["chat", "stream", "--json", id, "--session", sid, "selftest json"]);
    const events = r.stdout.trim().split("\n").map(json);
    check(
      "chat stream --json: one SSE event per line, `complete` last",
      r.code === 0 && events.every(Boolean) && events[0]?.event === "status" && events.at(-1)?.event === "complete" && !events.at(-1)?.data?.error,
      r.show,
    );
    r = cli(["chat", "history", id, "--session", sid, "--json"]);
    const hist = json(r.stdout);
    const roles = hist?.messages?.map((m) => m.role).join(",");
    check("chat history has the 3 turns in order", r.code === 0 && roles === "user,assistant,user,assistant,user,assistant", r.show);
    r = cli(["chat", "sessions", id]);
    check("chat sessions lists the session", r.code === 0 && r.stdout.includes(sid), r.show);
    r = cli(["chat", "send", id, "a new session please"]);
    check("chat send without --session reports the new session on stderr", r.code === 0 && /^session: [0-9a-f-]{36}$/m.test(r.stderr), r.show);
    if (scripted) {
      r = cli(["chat", "send", id, "--session", sid, "run: echo made-by-agent > agent.txt"]);
      const f = cli(["files", "read", id, "agent.txt"]);
      check("the agent ran a tool in the workspace (scripted `run:`)", r.code === 0 && f.stdout === "made-by-agent\n", `${r.show}\n${f.show}`);
    }
    r = cli(["chat", "send", id, "--session", "00000000-0000-0000-0000-000000000000", "hello"]);
    expectError("chat with an unknown session is NOT_FOUND (404)", r, "NOT_FOUND", 404);
  }

  // --- lifecycle ---------------------------------------------------------------------------------
  r = cli(["instances", "shutdown", id]);
  check("instances shutdown", r.code === 0 && r.stdout.startsWith(id), r.show);
  for (let i = 0; i < 60; i++) {
    const s = json(cli(["instances", "get", id, "--json"]).stdout);
    if (s?.status === "stopped") break;
    spawnSync("sleep", ["0.5"]);
  }
  r = cli(["exec", id, "true"]);
  expectError("exec on a stopped instance is INSTANCE_NOT_RUNNING (409)", r, "INSTANCE_NOT_RUNNING", 409);
  r = cli(["instances", "start", id, "--wait"]);
  check("instances start --wait", r.code === 0 && r.stdout.trim() === `${id} ready`, r.show);
  r = cli(["files", "read", id, "notes/hello.txt"]);
  check("the workspace survived the restart", r.code === 0 && r.stdout === text, r.show);
} catch (e) {
  check("selftest ran to the end", false, e?.stack ?? e);
} finally {
  if (id && !flag("keep")) {
    const r = cli(["instances", "delete", id]);
    check("instances delete", r.code === 0, r.show);
    const g = cli(["instances", "get", id]);
    expectError("a deleted instance is NOT_FOUND (404)", g, "NOT_FOUND", 404);
  } else if (id) {
    console.log(`(kept instance ${id})`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

console.log(`\n${checks - failures}/${checks} checks passed`);
process.exit(failures ? 1 : 0);
