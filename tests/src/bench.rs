//! `ocaas-bench`: how much the orchestrator costs on top of talking to a sandbox's agent
//! directly. Starts the real orchestrator (through the e2e harness), then prints:
//!
//! 1. instance create → ready (median of N creates, status polled every 10 ms);
//! 2. exec `true`: p50/p99 through the orchestrator vs. straight to the agent's unix socket;
//! 3. `files/read` of a 1 MB text file: p50 both ways;
//! 4. `files/download` of a 100 MB file: throughput both ways;
//! 5. terminals (`terminal/ws` vs the agent's `GET /pty`): keystroke echo round trip p50/p99
//!    (one key, until readline echoes it) and bulk output throughput (`cat` of a ~100 MB file);
//! 6. chat, when OpenClaw is installed (a second server, with the real gateway, one instance):
//!    gateway boot (create → `gateway.state == "ready"`), the first turn after that, and sync
//!    turn round trips through the orchestrator vs. straight to the gateway through the agent.
//!    No provider is configured, so the model is the orchestrator's scripted stand-in.
//! 7. the warm pool (`bench/pool.rs`): create → ready, create → first reply, wake → first exec
//!    and wake → first reply, each warm (a pooled sandbox) and cold, against their goals.
//! 8. the storage move of a Kubernetes warm wake (`bench/storage_move.rs`): the workspace and
//!    home streamed from one agent into another through the orchestrator's copy, by size.
//!
//! Numbers only: nothing timed is asserted. Must run as root (it reads the sandbox's
//! `meta.json` for the agent token), like the service itself.
//!
//! Usage: `ocaas-bench [--iterations N] [--creates N] [--reads N] [--download-mb N]
//! [--chat-turns N] [--pool-samples N] [--move-samples N]`

#[path = "bench/pool.rs"]
mod pool;
#[path = "bench/storage_move.rs"]
mod storage_move;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use e2e::Server;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest as _},
};

/// Where `scripts/install-openclaw.sh` installs OpenClaw (as root).
const OPENCLAW_DIR: &str = "/var/cache/ocaas/openclaw";
/// How long the chat section waits for the gateway to boot.
const GATEWAY_BOOT_TIMEOUT: Duration = Duration::from_secs(300);

struct Args {
    iterations: usize,
    creates: usize,
    reads: usize,
    download_mb: u64,
    chat_turns: usize,
    pool_samples: usize,
    move_samples: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        iterations: 200,
        creates: 5,
        reads: 50,
        download_mb: 100,
        chat_turns: 30,
        pool_samples: 3,
        move_samples: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!(
                "ocaas-bench [--iterations N (exec calls, default 200)] [--creates N (default 5)] \
                 [--reads N (1 MB reads, default 50)] [--download-mb N (default 100)] \
                 [--chat-turns N (chat round trips each way, default 30)] \
                 [--pool-samples N (warm/cold pairs, default 3)] \
                 [--move-samples N (storage moves per size, default 3)]"
            );
            std::process::exit(0);
        }
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag.clone(), None),
        };
        let value = inline.or_else(|| it.next()).unwrap_or_default();
        let n: u64 = value.parse().unwrap_or_else(|_| {
            eprintln!("{name} expects a number, got `{value}`");
            std::process::exit(2)
        });
        match name.as_str() {
            "--iterations" => a.iterations = n.max(1) as usize,
            "--creates" => a.creates = n.max(1) as usize,
            "--reads" => a.reads = n.max(1) as usize,
            "--download-mb" => a.download_mb = n.max(1),
            "--chat-turns" => a.chat_turns = n.max(1) as usize,
            "--pool-samples" => a.pool_samples = n.max(1) as usize,
            "--move-samples" => a.move_samples = n.max(1) as usize,
            other => {
                eprintln!("unknown argument {other} (try --help)");
                std::process::exit(2)
            }
        }
    }
    a
}

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// A keep-alive HTTP/1 connection straight to a sandbox agent's unix socket.
struct Direct {
    sender: SendRequest<Full<Bytes>>,
    auth: String,
}

impl Direct {
    async fn connect(socket: &Path, token: &str) -> anyhow::Result<Direct> {
        let stream = tokio::net::UnixStream::connect(socket).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Direct {
            sender,
            auth: format!("Bearer {token}"),
        })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
        self.send_with(method, path, &[], body).await
    }

    /// [`Direct::send`] with extra request headers.
    async fn send_with(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
        self.sender.ready().await?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "sandbox-agent")
            .header("authorization", &self.auth);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let bytes = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(v)?)
            }
            None => Bytes::new(),
        };
        let resp = self
            .sender
            .send_request(req.body(Full::new(bytes))?)
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "agent answered {} to {method} {path}",
            resp.status()
        );
        Ok(resp)
    }

    /// Send and read the whole body.
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<Bytes> {
        let resp = self.send(method, path, body).await?;
        Ok(resp.into_body().collect().await?.to_bytes())
    }
}

/// A terminal websocket straight to a sandbox agent's `GET /pty` over its unix socket.
async fn agent_pty(
    socket: &Path,
    token: &str,
) -> anyhow::Result<WebSocketStream<tokio::net::UnixStream>> {
    let stream = tokio::net::UnixStream::connect(socket).await?;
    let mut req = "ws://sandbox-agent/pty?cols=200&rows=50".into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (ws, _) = tokio_tungstenite::client_async(req, stream).await?;
    Ok(ws)
}

/// The binary payload of the next message (empty for text frames); an error when closed.
async fn pty_next<S>(ws: &mut WebSocketStream<S>) -> anyhow::Result<Bytes>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
        .await
        .context("terminal output timed out")?
        .context("terminal closed")??;
    match msg {
        Message::Binary(b) => Ok(b),
        Message::Close(c) => anyhow::bail!("terminal closed: {c:?}"),
        _ => Ok(Bytes::new()),
    }
}

/// Read until the output contains `needle` (checked across chunk boundaries); bytes read.
async fn pty_until<S>(ws: &mut WebSocketStream<S>, needle: &[u8]) -> anyhow::Result<usize>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut tail: Vec<u8> = Vec::new();
    let mut n = 0;
    loop {
        let chunk = pty_next(ws).await?;
        n += chunk.len();
        tail.extend_from_slice(&chunk);
        if tail.windows(needle.len()).any(|w| w == needle) {
            return Ok(n);
        }
        let keep = tail.len().saturating_sub(needle.len());
        tail.drain(..keep);
    }
}

async fn pty_send<S>(ws: &mut WebSocketStream<S>, input: &str) -> anyhow::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::binary(input.as_bytes().to_vec())).await?;
    Ok(())
}

/// Wait for the shell: a marker echoed by a command.
async fn pty_ready<S>(ws: &mut WebSocketStream<S>) -> anyhow::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    pty_send(ws, "echo READY-$((20+1))\n").await?;
    pty_until(ws, b"READY-21").await?;
    Ok(())
}

/// One keystroke until readline echoes it; the line is cleared (Ctrl-U) every 50 keys.
async fn pty_echo<S>(ws: &mut WebSocketStream<S>, i: usize) -> anyhow::Result<Duration>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if i % 50 == 49 {
        pty_send(ws, "\u{15}").await?;
        pty_send(ws, "echo CLEAR-$((30+3))\n").await?;
        pty_until(ws, b"CLEAR-33").await?;
    }
    let t0 = Instant::now();
    pty_send(ws, "x").await?;
    pty_until(ws, b"x").await?;
    Ok(t0.elapsed())
}

/// `cat cat.txt` until the end marker; (bytes, time).
async fn pty_cat<S>(ws: &mut WebSocketStream<S>) -> anyhow::Result<(usize, Duration)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    pty_send(ws, "\u{15}clear\n").await?;
    let t0 = Instant::now();
    pty_send(ws, "cat cat.txt; echo CAT-$((40+2))\n").await?;
    let n = pty_until(ws, b"CAT-42").await?;
    Ok((n, t0.elapsed()))
}

/// One table row: a metric measured through the orchestrator and directly.
struct Row {
    what: String,
    orch: String,
    direct: String,
    ratio: String,
}

fn latency_row(what: &str, orch: Duration, direct: Duration) -> Row {
    Row {
        what: what.to_owned(),
        orch: ms(orch),
        direct: ms(direct),
        ratio: format!("{:.2}x", orch.as_secs_f64() / direct.as_secs_f64()),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args();
    sandbox_bench(&args).await?;
    chat_bench(&args).await?;
    pool::pool_bench(args.pool_samples).await?;
    storage_move::storage_move_bench(args.move_samples).await?;
    Ok(())
}

/// Sections 1–4: instance creation, exec, files/read and files/download.
async fn sandbox_bench(args: &Args) -> anyhow::Result<()> {
    eprintln!(
        "starting the orchestrator from {}",
        e2e::bin_dir().display()
    );
    // Sandboxes are left running at the end and killed by the harness: a graceful stop of
    // each one can take many seconds and is not what is measured here.
    let s = Server::start_with(&[("OCAAS_LOCAL__KEEP_SANDBOXES_ON_SHUTDOWN", "true")]).await;
    let k = s.key.clone();

    // 1. create → ready. An account may own 5 instances and the node runs 12, so creates
    //    beyond 5 use further accounts and are capped at 12.
    let n_creates = args.creates.min(12);
    if n_creates < args.creates {
        eprintln!("note: the node runs at most 12 instances; measuring {n_creates} creates");
    }
    let mut creates = Vec::new();
    let mut id = String::new();
    let mut owner = k.clone();
    for i in 0..n_creates {
        if i > 0 && i % 5 == 0 {
            owner = s.create_account(&format!("bench-{i}")).await;
        }
        let t0 = Instant::now();
        let new_id = s.create_instance(&owner).await;
        s.wait_ready(&owner, &new_id).await;
        creates.push(t0.elapsed());
        if i == 0 {
            id = new_id;
        }
    }
    creates.sort();
    let status = s.status(&k, &id).await;
    let sandbox = status["sandbox_id"]
        .as_str()
        .expect("sandbox_id")
        .to_owned();
    let meta = s
        .sandbox_meta(&sandbox)
        .expect("meta.json of the sandbox (run as root)");
    let token = meta["token"].as_str().expect("token in meta.json");
    let mut direct = Direct::connect(&s.agent_socket(&sandbox), token).await?;
    let client = s.client();
    let inst = |suffix: &str| format!("{}/api/instances/{id}{suffix}", s.base);
    let mut rows = Vec::new();

    // 2. exec `true`.
    let body = json!({ "command": "true" });
    let orch_exec = || async {
        let r = client
            .post(inst("/terminal/exec"))
            .bearer_auth(&k)
            .json(&body)
            .send()
            .await
            .expect("exec");
        assert!(r.status().is_success(), "exec: {}", r.status());
        r.bytes().await.expect("exec body");
    };
    for _ in 0..10 {
        orch_exec().await;
        direct.call("POST", "/exec", Some(&body)).await?;
    }
    let mut orch = Vec::with_capacity(args.iterations);
    let mut dir = Vec::with_capacity(args.iterations);
    for _ in 0..args.iterations {
        let t0 = Instant::now();
        orch_exec().await;
        orch.push(t0.elapsed());
        let t0 = Instant::now();
        direct.call("POST", "/exec", Some(&body)).await?;
        dir.push(t0.elapsed());
    }
    orch.sort();
    dir.sort();
    rows.push(latency_row(
        &format!("exec `true` p50 (n={})", args.iterations),
        pct(&orch, 50.0),
        pct(&dir, 50.0),
    ));
    rows.push(latency_row(
        &format!("exec `true` p99 (n={})", args.iterations),
        pct(&orch, 99.0),
        pct(&dir, 99.0),
    ));

    // 3. files/read of 1 MB of text.
    let text: String = (0..1_000_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    s.write_file(&k, &id, "/workspace/one-mb.txt", &text)
        .await
        .expect(200);
    let read_url = s.url(
        &format!("/api/instances/{id}/files/read"),
        &[("path", "/workspace/one-mb.txt")],
    );
    let orch_read = || async {
        let r = client
            .get(read_url.clone())
            .bearer_auth(&k)
            .send()
            .await
            .expect("read");
        assert!(r.status().is_success(), "read: {}", r.status());
        let b = r.bytes().await.expect("read body");
        assert!(b.len() > 1_000_000);
    };
    let direct_path = "/files/read?path=%2Fworkspace%2Fone-mb.txt";
    for _ in 0..3 {
        orch_read().await;
        direct.call("GET", direct_path, None).await?;
    }
    let (mut orch, mut dir) = (Vec::new(), Vec::new());
    for _ in 0..args.reads {
        let t0 = Instant::now();
        orch_read().await;
        orch.push(t0.elapsed());
        let t0 = Instant::now();
        let b = direct.call("GET", direct_path, None).await?;
        dir.push(t0.elapsed());
        assert!(b.len() > 1_000_000);
    }
    orch.sort();
    dir.sort();
    rows.push(latency_row(
        &format!("files/read 1 MB p50 (n={})", args.reads),
        pct(&orch, 50.0),
        pct(&dir, 50.0),
    ));

    // 4. files/download of a big file made inside the sandbox; best of 3 each way.
    let bytes = args.download_mb * 1_000_000;
    let made = s
        .exec_req(
            &k,
            &id,
            &json!({ "command": format!("head -c {bytes} /dev/urandom > dl.bin"),
                     "timeout_ms": 600000 }),
        )
        .await;
    assert_eq!(made.expect(200)["exit_code"], 0, "{}", made.text);
    let dl_url = s.url(
        &format!("/api/instances/{id}/files/download"),
        &[("path", "/workspace/dl.bin")],
    );
    let (mut orch_best, mut dir_best) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let t0 = Instant::now();
        let (resp, _) = s
            .send_streaming(s.request_url(Method::GET, dl_url.clone(), Some(&k)))
            .await;
        let mut n = 0u64;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            n += chunk?.len() as u64;
        }
        orch_best = orch_best.min(t0.elapsed());
        assert_eq!(n, bytes);

        let t0 = Instant::now();
        let resp = direct
            .send("GET", "/files/download?path=%2Fworkspace%2Fdl.bin", None)
            .await?;
        let mut body = resp.into_body();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                n += data.len() as u64;
            }
        }
        dir_best = dir_best.min(t0.elapsed());
        assert_eq!(n, bytes);
    }
    let mbps = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    rows.push(Row {
        what: format!("files/download {} MB (best of 3)", args.download_mb),
        orch: format!("{:.0} MB/s", mbps(orch_best)),
        direct: format!("{:.0} MB/s", mbps(dir_best)),
        // For throughput, "orchestrator/direct" is the share of the direct speed it reaches.
        ratio: format!("{:.2}x", mbps(orch_best) / mbps(dir_best)),
    });

    // 5. Terminals: keystroke echo and bulk output, both ways.
    let term_url = format!("{}?cols=200&rows=50", inst("/terminal/ws"));
    let (mut orch_ws, _) = e2e::ws::connect(&term_url, Some(&k), None).await?;
    let mut direct_ws = agent_pty(&s.agent_socket(&sandbox), token).await?;
    let keys = args.iterations;
    let (mut orch, mut dir) = (Vec::new(), Vec::new());
    pty_ready(&mut orch_ws).await?;
    pty_ready(&mut direct_ws).await?;
    for i in 0..keys {
        orch.push(pty_echo(&mut orch_ws, i).await?);
        dir.push(pty_echo(&mut direct_ws, i).await?);
    }
    orch.sort();
    dir.sort();
    rows.push(latency_row(
        &format!("terminal key echo p50 (n={keys})"),
        pct(&orch, 50.0),
        pct(&dir, 50.0),
    ));
    rows.push(latency_row(
        &format!("terminal key echo p99 (n={keys})"),
        pct(&orch, 99.0),
        pct(&dir, 99.0),
    ));
    let made = s
        .exec_req(
            &k,
            &id,
            &json!({ "command": format!("head -c {} /dev/urandom | base64 > cat.txt", bytes * 3 / 4),
                     "timeout_ms": 600000 }),
        )
        .await;
    assert_eq!(made.expect(200)["exit_code"], 0, "{}", made.text);
    let (orch_n, orch_t) = pty_cat(&mut orch_ws).await?;
    let (dir_n, dir_t) = pty_cat(&mut direct_ws).await?;
    let mbps = |n: usize, d: Duration| n as f64 / 1e6 / d.as_secs_f64();
    rows.push(Row {
        what: format!("terminal `cat` of {} MB", orch_n / 1_000_000),
        orch: format!("{:.0} MB/s", mbps(orch_n, orch_t)),
        direct: format!("{:.0} MB/s", mbps(dir_n, dir_t)),
        ratio: format!("{:.2}x", mbps(orch_n, orch_t) / mbps(dir_n, dir_t)),
    });

    // The table.
    println!();
    println!(
        "instance create -> ready: median {} (n={}, min {}, max {})",
        ms(pct(&creates, 50.0)),
        creates.len(),
        ms(creates[0]),
        ms(creates[creates.len() - 1])
    );
    println!();
    let w = rows.iter().map(|r| r.what.len()).max().unwrap_or(0).max(6);
    println!(
        "{:<w$}  {:>14}  {:>14}  {:>12}",
        "metric", "orchestrator", "direct", "orch/direct"
    );
    println!("{}", "-".repeat(w + 2 + 14 + 2 + 14 + 2 + 12));
    for r in &rows {
        println!(
            "{:<w$}  {:>14}  {:>14}  {:>12}",
            r.what, r.orch, r.direct, r.ratio
        );
    }
    println!();

    drop(direct);
    Ok(())
}

/// Section 5: chat with the real OpenClaw gateway — one server, one instance. No provider
/// is configured, so the orchestrator answers model calls with its scripted stand-in.
async fn chat_bench(args: &Args) -> anyhow::Result<()> {
    println!(
        "chat: real OpenClaw gateway; model = the orchestrator's scripted stand-in (not a real LLM)"
    );
    if !Path::new(OPENCLAW_DIR)
        .join("app/node_modules/openclaw/openclaw.mjs")
        .exists()
    {
        println!("  skipped: OpenClaw not installed");
        println!();
        return Ok(());
    }
    eprintln!("starting an orchestrator with the OpenClaw gateway ({OPENCLAW_DIR})");
    let s = Server::start_with(&[
        ("OCAAS_LOCAL__KEEP_SANDBOXES_ON_SHUTDOWN", "true"),
        ("OCAAS_LOCAL__OPENCLAW_DIR", OPENCLAW_DIR),
    ])
    .await;
    let k = s.key.clone();

    // Gateway boot: create → the status shows the gateway ready (polled every 100 ms).
    let t0 = Instant::now();
    let id = s.create_instance(&k).await;
    let mut instance_ready = None;
    let mut seen_crashed = false;
    let status = loop {
        let st = s.status(&k, &id).await;
        if instance_ready.is_none() && st["status"] == "ready" {
            instance_ready = Some(t0.elapsed());
        }
        match st["gateway"]["state"].as_str() {
            Some("ready") => break st,
            Some("disabled") => anyhow::bail!("the sandbox runs no gateway: {st}"),
            Some("crashed") => seen_crashed = true,
            _ => {}
        }
        anyhow::ensure!(st["status"] != "failed", "instance failed: {st}");
        anyhow::ensure!(
            t0.elapsed() < GATEWAY_BOOT_TIMEOUT,
            "gateway not ready within {GATEWAY_BOOT_TIMEOUT:?}: {st}\n--- log tail ---\n{}",
            s.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let boot = t0.elapsed();
    let gw = &status["gateway"];
    let restarts = gw["restarts"].as_u64().unwrap_or(0);

    // The first turn once the gateway is ready (a new session).
    let client = s.client();
    let chat_url = format!("{}/api/instances/{id}/chat", s.base);
    let (first, v) = orch_turn(&client, &chat_url, &k, None, "ping").await?;
    let session = v["session_id"]
        .as_str()
        .context("no session_id in the chat answer")?
        .to_owned();

    // Round trips: the same session through the orchestrator; a session of its own straight
    // to the gateway through the agent's socket. Interleaved, after one warm-up turn direct.
    let sandbox = status["sandbox_id"]
        .as_str()
        .context("no sandbox_id in the status")?
        .to_owned();
    let meta = s
        .sandbox_meta(&sandbox)
        .context("meta.json of the sandbox (run as root)")?;
    let token = meta["token"]
        .as_str()
        .context("no token in meta.json")?
        .to_owned();
    let socket = s.agent_socket(&sandbox);
    direct_turn(&socket, &token, "bench-direct").await?;
    let (mut orch, mut dir) = (Vec::new(), Vec::new());
    for _ in 0..args.chat_turns {
        orch.push(
            orch_turn(&client, &chat_url, &k, Some(&session), "ping")
                .await?
                .0,
        );
        dir.push(direct_turn(&socket, &token, "bench-direct").await?);
    }
    orch.sort();
    dir.sort();

    let mib = |v: &Value| {
        v.as_u64()
            .map(|b| format!("{:.0} MiB", b as f64 / 1_048_576.0))
            .unwrap_or_else(|| "n/a".into())
    };
    let opt_ms = |v: &Value| {
        v.as_u64()
            .map(|m| format!("{m} ms"))
            .unwrap_or_else(|| "n/a".into())
    };
    println!(
        "  instance create -> ready:             {}",
        instance_ready.map_or_else(|| "n/a".into(), ms)
    );
    println!(
        "  instance create -> gateway ready:     {}  (gateway.boot_ms {}, gateway.rss_bytes {}, restarts {restarts}{})",
        ms(boot),
        opt_ms(&gw["boot_ms"]),
        mib(&gw["rss_bytes"]),
        if seen_crashed {
            ", seen crashed while booting"
        } else {
            ""
        }
    );
    println!("  first turn once ready (new session):  {}", ms(first));
    println!();
    let n = args.chat_turns;
    let rows = [
        (
            format!("chat turn p50 (n={n})"),
            pct(&orch, 50.0),
            pct(&dir, 50.0),
        ),
        (
            format!("chat turn p99 (n={n})"),
            pct(&orch, 99.0),
            pct(&dir, 99.0),
        ),
    ];
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(6);
    println!(
        "{:<w$}  {:>14}  {:>14}  {:>12}  {:>12}",
        "metric", "orchestrator", "direct", "orch/direct", "overhead"
    );
    println!("{}", "-".repeat(w + 2 + 14 + 2 + 14 + 2 + 12 + 2 + 12));
    for (what, o, d) in &rows {
        let r = latency_row(what, *o, *d);
        let overhead = (o.as_secs_f64() - d.as_secs_f64()) * 1000.0;
        println!(
            "{:<w$}  {:>14}  {:>14}  {:>12}  {:>12}",
            r.what,
            r.orch,
            r.direct,
            r.ratio,
            format!("{overhead:+.3} ms")
        );
    }
    println!(
        "(orchestrator: sync `POST /api/instances/{{id}}/chat`, answer read whole; direct: \
         `POST /gateway/v1/chat/completions` on the agent socket, streamed to `data: [DONE]`)"
    );
    println!();
    Ok(())
}

/// One sync turn through the orchestrator: `POST /api/instances/{id}/chat`. Returns the time
/// to the whole answer and the answer.
async fn orch_turn(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    session: Option<&str>,
    text: &str,
) -> anyhow::Result<(Duration, Value)> {
    let mut body = json!({ "message": text });
    if let Some(sid) = session {
        body["session_id"] = json!(sid);
    }
    let t0 = Instant::now();
    let r = client.post(url).bearer_auth(key).json(&body).send().await?;
    let status = r.status();
    let bytes = r.bytes().await?;
    let took = t0.elapsed();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    anyhow::ensure!(
        status.is_success(),
        "chat answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    let reply = v["assistant_message"]["content"]
        .as_str()
        .unwrap_or_default();
    anyhow::ensure!(reply.contains("You said:"), "unexpected chat reply: {v}");
    Ok((took, v))
}

/// One turn straight to the gateway through the agent (a fresh connection, as the
/// orchestrator makes one per call): the time until `data: [DONE]`. The rest of the stream is
/// drained (untimed) so the gateway finishes the turn normally.
async fn direct_turn(socket: &Path, token: &str, session: &str) -> anyhow::Result<Duration> {
    let body = json!({
        "model": "openclaw/default",
        "messages": [{"role": "user", "content": "ping"}],
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let t0 = Instant::now();
    let mut d = Direct::connect(socket, token).await?;
    let resp = d
        .send_with(
            "POST",
            "/gateway/v1/chat/completions",
            &[("x-openclaw-session-key", session)],
            Some(&body),
        )
        .await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut done = None;
    loop {
        let limit = if done.is_some() {
            Duration::from_secs(5)
        } else {
            Duration::from_secs(300)
        };
        let Ok(next) = tokio::time::timeout(limit, body.frame()).await else {
            anyhow::ensure!(
                done.is_some(),
                "the gateway stalled: {}",
                String::from_utf8_lossy(&buf)
            );
            break;
        };
        let Some(frame) = next else { break };
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
        }
        if done.is_none() && buf.windows(12).any(|w| w == b"data: [DONE]") {
            done = Some(t0.elapsed());
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let done =
        done.with_context(|| format!("no `data: [DONE]` in the gateway's stream: {text}"))?;
    let reply: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    anyhow::ensure!(
        reply.contains("You said:"),
        "unexpected reply from the gateway: {text}"
    );
    Ok(done)
}
