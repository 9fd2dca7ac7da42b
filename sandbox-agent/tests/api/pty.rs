//! `GET /pty` end to end: a real shell on a real PTY, driven over a websocket.

use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{
        self, Message,
        client::IntoClientRequest as _,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};

use crate::common::{Agent, spawn_agent, spawn_agent_with};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(20);

/// Upgrade `GET /pty<query>` with `auth` (or the agent's token).
async fn connect(agent: &Agent, query: &str, auth: Option<&str>) -> Result<Ws, tungstenite::Error> {
    let url = format!("{}/pty{query}", agent.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    let auth = auth.map_or_else(|| format!("Bearer {}", agent.token), str::to_owned);
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
    connect_async(req).await.map(|(ws, _)| ws)
}

/// The HTTP status of a refused upgrade.
async fn refused(agent: &Agent, query: &str, auth: Option<&str>) -> u16 {
    match connect(agent, query, auth).await {
        Err(tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("upgrade of {query} accepted"),
    }
}

/// One terminal connection: output is collected as (lossy) text, control frames as JSON.
struct Term {
    ws: Ws,
    id: String,
    /// Output not yet consumed by [`Term::expect`] (only the last 64 KiB are kept).
    out: String,
}

enum Frame {
    Text(Value),
    Close(Option<CloseFrame>),
}

impl Term {
    async fn open(agent: &Agent, query: &str) -> Term {
        let ws = connect(agent, query, None).await.expect("upgrade");
        let mut term = Term {
            ws,
            id: String::new(),
            out: String::new(),
        };
        let Frame::Text(hello) = term.next_frame().await else {
            panic!("closed before the session frame");
        };
        assert_eq!(hello["type"], "session", "{hello}");
        term.id = hello["id"].as_str().unwrap().to_owned();
        term
    }

    async fn send(&mut self, input: &str) {
        self.ws
            .send(Message::binary(input.as_bytes().to_vec()))
            .await
            .unwrap();
    }

    async fn send_json(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    /// The next text or close frame; binary output in between goes into `out`.
    async fn next_frame(&mut self) -> Frame {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match msg {
                Some(Ok(Message::Binary(b))) => self.push(&b),
                Some(Ok(Message::Text(t))) => {
                    return Frame::Text(serde_json::from_str(&t).unwrap());
                }
                Some(Ok(Message::Close(frame))) => return Frame::Close(frame),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return Frame::Close(None),
            }
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.out.push_str(&String::from_utf8_lossy(bytes));
        if self.out.len() > 1 << 20 {
            let mut cut = self.out.len() - (64 << 10);
            while !self.out.is_char_boundary(cut) {
                cut += 1;
            }
            self.out.drain(..cut);
        }
    }

    /// Read output until it contains `needle`; returns (and consumes) the output up to and
    /// including it.
    async fn expect(&mut self, needle: &str) -> String {
        self.expect_within(needle, WAIT).await
    }

    /// [`Term::expect`] with its own deadline (for bulk output on a busy machine).
    async fn expect_within(&mut self, needle: &str, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(at) = self.out.find(needle) {
                let rest = self.out.split_off(at + needle.len());
                return std::mem::replace(&mut self.out, rest);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = tokio::time::timeout(left, self.ws.next()).await;
            match msg {
                Ok(Some(Ok(Message::Binary(b)))) => self.push(&b),
                Ok(Some(Ok(Message::Text(t)))) => panic!("waiting for {needle:?}, got {t}"),
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("waiting for {needle:?}: {other:?}; output: {}", self.out),
                Err(_) => panic!("timed out waiting for {needle:?}; output: {}", self.out),
            }
        }
    }

    /// Run `echo pid-$$-end` and return the shell's pid.
    async fn shell_pid(&mut self) -> i32 {
        self.send("echo pid-$$-end\n").await;
        self.number("pid-", "-end").await
    }

    /// Wait for `<prefix><digits><suffix>` in the output; the number.
    async fn number(&mut self, prefix: &str, suffix: &str) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.expect(suffix).await;
            if let Some(at) = out.rfind(prefix) {
                let digits = &out[at + prefix.len()..out.len() - suffix.len()];
                if let Ok(n) = digits.parse() {
                    return n;
                }
            }
            assert!(Instant::now() < deadline, "no {prefix}N{suffix}");
        }
    }
}

/// Whether process `pid` is running (zombies count as gone: the container's init may be slow
/// to reap reparented children).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

async fn wait_gone(pid: i32, within: Duration) {
    let deadline = Instant::now() + within;
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} is still alive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line["VmRSS:".len()..]
        .split_ascii_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn errors_before_the_upgrade() {
    let agent = spawn_agent().await;
    assert_eq!(refused(&agent, "", Some("Bearer nope")).await, 401);
    assert_eq!(refused(&agent, "?session=nope", None).await, 404);
    assert_eq!(refused(&agent, "?cols=0", None).await, 422);
    // Without upgrade headers the envelope is readable.
    agent
        .expect_error("/pty?cols=1001", 422, "VALIDATION_FAILED")
        .await;
    agent
        .expect_error("/pty?rows=abc", 400, "BAD_REQUEST")
        .await;
    agent
        .expect_error("/pty?session=nope", 404, "NOT_FOUND")
        .await;
    agent
        .expect_error("/pty?cwd=../etc", 400, "PATH_OUTSIDE_WORKSPACE")
        .await;
    agent.expect_error("/pty", 400, "BAD_REQUEST").await;
    let res = agent.client.get(agent.url("/pty")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert!(agent.terminals.is_empty());
}

#[tokio::test]
async fn runs_a_shell() {
    let agent = spawn_agent().await;
    std::fs::create_dir(agent.ws.path().join("sub")).unwrap();
    let mut term = Term::open(&agent, "?cwd=/workspace/sub").await;
    assert_eq!(term.id.len(), 32);
    term.send("echo hi-$((40+2))\n").await;
    term.expect("hi-42").await;
    term.send("echo term-$TERM-dir-$(basename \"$PWD\")-end\n")
        .await;
    term.expect("term-xterm-256color-dir-sub-end").await;

    term.send_json(json!({"type":"resize","cols":100,"rows":30}))
        .await;
    term.send("stty size\n").await;
    term.expect("30 100").await;

    // Bad control frames are answered, and the terminal goes on.
    term.send_json(json!({"type":"resize","cols":0,"rows":30}))
        .await;
    let Frame::Text(err) = term.next_frame().await else {
        panic!("closed")
    };
    assert_eq!(err["type"], "error", "{err}");
    term.ws.send(Message::text("not json")).await.unwrap();
    let Frame::Text(err) = term.next_frame().await else {
        panic!("closed")
    };
    assert_eq!(err["type"], "error", "{err}");

    term.send("exit 3\n").await;
    let Frame::Text(exit) = term.next_frame().await else {
        panic!("closed without an exit frame; output: {}", term.out)
    };
    assert_eq!(exit, json!({"type":"exit","code":3}));
    let Frame::Close(Some(close)) = term.next_frame().await else {
        panic!("no close frame")
    };
    assert_eq!(close.code, CloseCode::Normal);
    // An ended terminal is forgotten.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(agent.terminals.is_empty());
    assert_eq!(
        refused(&agent, &format!("?session={}", term.id), None).await,
        404
    );
}

#[tokio::test]
async fn terminals_are_independent() {
    let agent = spawn_agent().await;
    let mut a = Term::open(&agent, "?cols=50&rows=10").await;
    let mut b = Term::open(&agent, "").await;
    assert_ne!(a.id, b.id);
    assert_eq!(agent.terminals.len(), 2);
    let (pa, pb) = (a.shell_pid().await, b.shell_pid().await);
    assert_ne!(pa, pb);
    a.send("X=alpha; stty size\n").await;
    a.expect("10 50").await;
    b.send("echo x-${X:-unset}-end; stty size\n").await;
    b.expect("x-unset-end").await;
    b.expect("24 80").await;
    a.send("echo x-$X-end\n").await;
    a.expect("x-alpha-end").await;
}

#[tokio::test]
async fn reattach_replays_the_scrollback() {
    let agent = spawn_agent().await;
    let mut term = Term::open(&agent, "").await;
    term.send("echo marker-$((0+1))\n").await;
    term.expect("marker-1").await;
    let id = term.id.clone();
    drop(term); // no close frame: the TCP connection just goes away

    let mut again = Term::open(&agent, &format!("?session={id}&cols=90&rows=20")).await;
    assert_eq!(again.id, id);
    again.expect("marker-1").await;
    again.send("echo live-$((1+1)); stty size\n").await;
    again.expect("live-2").await;
    again.expect("20 90").await;

    // A second client takes over; the first is closed with 1000 "taken over".
    let mut third = Term::open(&agent, &format!("?session={id}")).await;
    let Frame::Close(Some(close)) = again.next_frame().await else {
        panic!("first client not closed")
    };
    assert_eq!(close.code, CloseCode::Normal);
    assert_eq!(close.reason.as_str(), "taken over");
    third.send("echo third-$((1+2))\n").await;
    third.expect("third-3").await;
}

#[tokio::test]
async fn grace_period_expires() {
    let agent = spawn_agent_with(|c| c.with_pty_grace(Duration::from_secs(1))).await;
    let mut term = Term::open(&agent, "").await;
    let pid = term.shell_pid().await;
    assert!(alive(pid));
    let id = term.id.clone();
    drop(term);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(alive(pid), "killed before the grace period ended");
    wait_gone(pid, Duration::from_secs(5)).await;
    agent
        .expect_error(&format!("/pty?session={id}"), 404, "NOT_FOUND")
        .await;
    assert_eq!(refused(&agent, &format!("?session={id}"), None).await, 404);
}

#[tokio::test]
async fn normal_close_kills_everything() {
    let agent = spawn_agent().await;
    let mut term = Term::open(&agent, "").await;
    let pid = term.shell_pid().await;
    term.send("sleep 1000 & echo bg-$!-end\n").await;
    let bg = term.number("bg-", "-end").await;
    assert!(alive(bg));
    term.ws
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }))
        .await
        .unwrap();
    wait_gone(pid, Duration::from_secs(3)).await;
    wait_gone(bg, Duration::from_secs(3)).await;
    assert!(agent.terminals.is_empty());
}

#[tokio::test]
async fn shutdown_kills_terminals() {
    let agent = spawn_agent().await;
    let mut term = Term::open(&agent, "").await;
    let pid = term.shell_pid().await;
    agent.terminals.kill_all();
    wait_gone(pid, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_client_that_does_not_read_stops_the_shell() {
    let agent = spawn_agent().await;
    let mut term = Term::open(&agent, "").await;
    term.send("stty -echo\n").await;
    term.send("echo ready-$((2+2))\n").await;
    term.expect("ready-4").await;
    let before = rss_kib();
    // 30 MB the shell would write in well under the 2 s we do not read, if anything on the
    // way buffered without bound.
    term.send("yes | head -c 30000000; echo done-$((3+3))\n")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 10 * 1024, "RSS grew by {grown} KiB");
    // Draining 30 MB through a PTY in a debug build on a loaded machine takes a while.
    term.expect_within("done-6", Duration::from_secs(120)).await;
}

#[tokio::test]
async fn a_signal_is_128_plus() {
    let agent = spawn_agent().await;
    let mut term = Term::open(&agent, "").await;
    term.send("kill -KILL $$\n").await;
    let Frame::Text(exit) = term.next_frame().await else {
        panic!("closed without an exit frame")
    };
    assert_eq!(exit, json!({"type":"exit","code":137}));
}
