//! `ocaas-bench`: how much the orchestrator costs on top of talking to a sandbox's agent
//! directly. Starts the real orchestrator (through the e2e harness), then prints:
//!
//! 1. instance create → ready (median of N creates, status polled every 10 ms);
//! 2. exec `true`: p50/p99 through the orchestrator vs. straight to the agent's unix socket;
//! 3. `files/read` of a 1 MB text file: p50 both ways;
//! 4. `files/download` of a 100 MB file: throughput both ways.
//!
//! Numbers only: nothing timed is asserted. Must run as root (it reads the sandbox's
//! `meta.json` for the agent token), like the service itself.
//!
//! Usage: `ocaas-bench [--iterations N] [--creates N] [--reads N] [--download-mb N]`

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use e2e::Server;
use futures_util::StreamExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use reqwest::Method;
use serde_json::json;

struct Args {
    iterations: usize,
    creates: usize,
    reads: usize,
    download_mb: u64,
}

fn parse_args() -> Args {
    let mut a = Args {
        iterations: 200,
        creates: 5,
        reads: 50,
        download_mb: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!(
                "ocaas-bench [--iterations N (exec calls, default 200)] [--creates N (default 5)] \
                 [--reads N (1 MB reads, default 50)] [--download-mb N (default 100)]"
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
        self.sender.ready().await?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "sandbox-agent")
            .header("authorization", &self.auth);
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
