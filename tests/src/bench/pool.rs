//! Section 7 of `ocaas-bench`: what the warm pool buys, against the goals of the sleep/pool
//! issue. One orchestrator with the real OpenClaw gateway and a pool of one sandbox. Each
//! sample pairs a *warm* start (a sandbox from the pool) with a *cold* one (taken right after,
//! while the pool refills, so it boots its own gateway):
//!
//! - create → ready (files and exec usable), and create → first chat reply;
//! - wake (a sleeping instance) → first exec reply, and wake → first chat reply.
//!
//! The model is the orchestrator's scripted stand-in. Nothing is asserted; a run takes a few
//! minutes (each warm sample waits for the pool to refill, ~20 s).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use e2e::Server;
use serde_json::{Value, json};

use super::{OPENCLAW_DIR, ms, pct};

/// How long to wait for the pool to refill, an instance to sleep, a reply to come.
const WAIT: Duration = Duration::from_secs(300);

struct Samples {
    create_ready: Vec<Duration>,
    create_reply: Vec<Duration>,
    wake_exec: Vec<Duration>,
    wake_reply: Vec<Duration>,
}

impl Samples {
    fn new() -> Self {
        Samples {
            create_ready: Vec::new(),
            create_reply: Vec::new(),
            wake_exec: Vec::new(),
            wake_reply: Vec::new(),
        }
    }
}

pub async fn pool_bench(samples: usize) -> anyhow::Result<()> {
    println!(
        "warm pool: real OpenClaw gateway, pool of 1; warm = a pooled sandbox, cold = none left (model = scripted stand-in)"
    );
    if !std::path::Path::new(OPENCLAW_DIR)
        .join("app/node_modules/openclaw/openclaw.mjs")
        .exists()
    {
        println!("  skipped: OpenClaw not installed");
        println!();
        return Ok(());
    }
    let s = Server::start_with(&[
        ("OCAAS_LOCAL__KEEP_SANDBOXES_ON_SHUTDOWN", "true"),
        ("OCAAS_LOCAL__OPENCLAW_DIR", OPENCLAW_DIR),
        ("OCAAS_POOL__SIZE", "1"),
        ("OCAAS_LIMITS__MAX_INSTANCES_PER_ACCOUNT", "100"),
    ])
    .await;
    let k = s.key.clone();
    let client = s.client();
    let (mut warm, mut cold) = (Samples::new(), Samples::new());
    for i in 0..samples {
        eprintln!("pool bench: sample {}/{samples}", i + 1);
        // Creates: warm (from the pool), then cold (the pool is empty until it refills).
        wait_pool(&s).await?;
        let w = create_and_chat(&s, &client, &k, "from the pool", &mut warm).await?;
        let c = create_and_chat(&s, &client, &k, "cold start", &mut cold).await?;
        // Wakes by exec, then by chat: each instance naps (idle 2 s) before each.
        for wake in [wake_exec as WakeFn, wake_chat as WakeFn] {
            wait_status(&s, &k, &w, "sleeping").await?;
            wait_status(&s, &k, &c, "sleeping").await?;
            wait_pool(&s).await?;
            let (samples, how) = (&mut warm, "from the pool");
            wake(&s, &client, &k, &w, how, samples).await?;
            let (samples, how) = (&mut cold, "cold start");
            wake(&s, &client, &k, &c, how, samples).await?;
        }
        for id in [&w, &c] {
            s.delete(&k, &format!("/api/instances/{id}"))
                .await
                .expect(204);
        }
    }
    print_table(samples, &mut warm, &mut cold);
    Ok(())
}

/// Create an instance that naps after 2 s idle; time until `ready`, then until the first
/// chat reply. `how` is what its status reason must say (pool or cold).
async fn create_and_chat(
    s: &Server,
    client: &reqwest::Client,
    k: &str,
    how: &str,
    out: &mut Samples,
) -> anyhow::Result<String> {
    let t0 = Instant::now();
    let created = s
        .post(k, "/api/instances", &json!({"idle_timeout_s": 2}))
        .await;
    let v = created.expect(201).clone();
    let id = v["id"].as_str().context("no id")?.to_owned();
    let reason = v["status_reason"].as_str().unwrap_or_default();
    anyhow::ensure!(reason.contains(how), "expected a {how}, got: {v}");
    loop {
        let st = s.status(k, &id).await;
        if st["status"] == "ready" {
            break;
        }
        anyhow::ensure!(st["status"] != "failed", "instance failed: {st}");
        anyhow::ensure!(t0.elapsed() < WAIT, "never ready: {st}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    out.create_ready.push(t0.elapsed());
    chat(client, s, k, &id).await?;
    out.create_reply.push(t0.elapsed());
    Ok(id)
}

type WakeFn = for<'a> fn(
    &'a Server,
    &'a reqwest::Client,
    &'a str,
    &'a str,
    &'a str,
    &'a mut Samples,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>,
>;

fn wake_exec<'a>(
    s: &'a Server,
    client: &'a reqwest::Client,
    k: &'a str,
    id: &'a str,
    how: &'a str,
    out: &'a mut Samples,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>> {
    Box::pin(async move {
        let t0 = Instant::now();
        let r = client
            .post(format!("{}/api/instances/{id}/terminal/exec", s.base))
            .bearer_auth(k)
            .json(&json!({"command": "true"}))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "exec answered {}", r.status());
        out.wake_exec.push(t0.elapsed());
        check_wake(s, k, id, how).await
    })
}

fn wake_chat<'a>(
    s: &'a Server,
    client: &'a reqwest::Client,
    k: &'a str,
    id: &'a str,
    how: &'a str,
    out: &'a mut Samples,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>> {
    Box::pin(async move {
        let t0 = Instant::now();
        chat(client, s, k, id).await?;
        out.wake_reply.push(t0.elapsed());
        check_wake(s, k, id, how).await
    })
}

/// The last wake of `id` came up the way the sample says.
async fn check_wake(s: &Server, k: &str, id: &str, how: &str) -> anyhow::Result<()> {
    let st = s.status(k, id).await;
    let reason = st["transitions"]
        .as_array()
        .and_then(|t| t.iter().rev().find(|t| t["to"] == "waking"))
        .and_then(|t| t["reason"].as_str())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(reason.contains(how), "expected a {how} wake: {st}");
    Ok(())
}

/// One sync chat turn in a new session; errors unless the scripted reply comes back.
async fn chat(client: &reqwest::Client, s: &Server, k: &str, id: &str) -> anyhow::Result<()> {
    let r = client
        .post(format!("{}/api/instances/{id}/chat", s.base))
        .bearer_auth(k)
        .json(&json!({"message": "ping"}))
        .timeout(WAIT)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(
        status == 200
            && v["assistant_message"]["content"]
                .as_str()
                .is_some_and(|c| c.contains("You said:")),
        "chat answered {status}: {v}"
    );
    Ok(())
}

async fn wait_pool(s: &Server) -> anyhow::Result<()> {
    let t0 = Instant::now();
    loop {
        let api = s.get(&s.key, "/api").await.expect(200).clone();
        if api["warm_pool"]["ready"].as_u64() >= Some(1) {
            return Ok(());
        }
        anyhow::ensure!(t0.elapsed() < WAIT, "the pool never refilled: {api}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_status(s: &Server, k: &str, id: &str, status: &str) -> anyhow::Result<()> {
    let t0 = Instant::now();
    loop {
        let st = s.status(k, id).await;
        if st["status"] == status {
            return Ok(());
        }
        anyhow::ensure!(t0.elapsed() < WAIT, "never {status}: {st}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_table(n: usize, warm: &mut Samples, cold: &mut Samples) {
    let rows: [(&str, &str, &mut Vec<Duration>, &mut Vec<Duration>); 4] = [
        (
            "create -> ready (files/exec)",
            "<= 100 ms",
            &mut warm.create_ready,
            &mut cold.create_ready,
        ),
        (
            "create -> first chat reply",
            "<= 1 s",
            &mut warm.create_reply,
            &mut cold.create_reply,
        ),
        (
            "wake -> first exec",
            "<= 200 ms",
            &mut warm.wake_exec,
            &mut cold.wake_exec,
        ),
        (
            "wake -> first chat reply",
            "<= 1 s",
            &mut warm.wake_reply,
            &mut cold.wake_reply,
        ),
    ];
    println!(
        "{:<30}  {:>10}  {:>12}  {:>12}  {:>12}  {:>12}  {:>10}",
        format!("metric (n={n} each)"),
        "goal",
        "warm p50",
        "warm p99",
        "cold p50",
        "cold p99",
        "cold/warm"
    );
    println!("{}", "-".repeat(30 + 2 + 10 + 4 * 14 + 12));
    for (what, goal, w, c) in rows {
        w.sort();
        c.sort();
        let (w50, c50) = (pct(w, 50.0), pct(c, 50.0));
        println!(
            "{:<30}  {:>10}  {:>12}  {:>12}  {:>12}  {:>12}  {:>10}",
            what,
            goal,
            ms(w50),
            ms(pct(w, 99.0)),
            ms(c50),
            ms(pct(c, 99.0)),
            format!("{:.1}x", c50.as_secs_f64() / w50.as_secs_f64())
        );
    }
    println!(
        "(warm: the instance is handed a pooled sandbox whose gateway already booted and warmed up; \
         cold: it starts its own sandbox and gateway. A wake also replays the session's history \
         to a pooled gateway; exec needs no gateway.)"
    );
    println!();
}
