//! Black-box harness: starts the REAL `orchestrator` binary on a private data directory and a
//! free port, talks to it over HTTP only, and watches the host's `/proc` to see which sandbox
//! processes it runs.
//!
//! Every HTTP call made through [`Server::send`] (and so every helper built on it) panics on a
//! `5xx` answer: no request in the suite may ever produce a server error.
//!
//! Sandbox processes are recognised from the outside, without trusting the orchestrator: a
//! process is one of ours when its mount table binds a directory of *our* data directory's
//! `instances/` (the sandbox's `/workspace` and `/state`), plus the outer `bwrap` that is the
//! parent of such a process. See [`Server::sandbox_procs`].

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde_json::{Value, json};
use tempfile::TempDir;

pub mod ws;

/// How long the orchestrator may take to answer `/readyz` after it is launched.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an instance may take to become `ready`.
const INSTANCE_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERM'd orchestrator may take to exit (it stops its sandboxes first, one
/// after the other, each allowed 20 s before it is killed).
const STOP_TIMEOUT: Duration = Duration::from_secs(120);

/// The directory holding the `orchestrator` and `sandbox-agent` binaries: `$OCAAS_BIN_DIR`,
/// else the directory of the running executable (for a test binary in `<target>/debug/deps/`,
/// its parent `<target>/debug/`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OCAAS_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe has a parent").to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir
}

/// Path of the orchestrator binary; panics with a hint when it is not built.
pub fn orchestrator_bin() -> PathBuf {
    let dir = bin_dir();
    let bin = dir.join("orchestrator");
    assert!(
        bin.exists() && dir.join("sandbox-agent").exists(),
        "orchestrator/sandbox-agent not found in {}: run `cargo build --workspace` first (same profile and CARGO_TARGET_DIR), or set OCAAS_BIN_DIR",
        dir.display()
    );
    bin
}

/// The OpenClaw install `make` provides (`scripts/install-openclaw.sh`): `$OCAAS_OPENCLAW_DIR`,
/// else `/var/cache/ocaas/openclaw`. `None` (with a loud note) when missing, unless
/// `OCAAS_REQUIRE_OPENCLAW` is set (as `make test` does): then a missing install fails.
pub fn openclaw_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(
        std::env::var("OCAAS_OPENCLAW_DIR").unwrap_or_else(|_| "/var/cache/ocaas/openclaw".into()),
    );
    if dir.join("app/node_modules/openclaw/openclaw.mjs").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("OCAAS_REQUIRE_OPENCLAW").is_err(),
        "OCAAS_REQUIRE_OPENCLAW is set but OpenClaw is not installed in {}",
        dir.display()
    );
    eprintln!("SKIPPED: OpenClaw is not installed; run `make test`");
    None
}

/// A Node.js binary: the Node 24 `make` installs with OpenClaw, else `node` on `PATH`.
pub fn node_bin() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("OCAAS_OPENCLAW_DIR").unwrap_or_else(|_| "/var/cache/ocaas/openclaw".into()),
    );
    let bundled = dir.join("node/bin/node");
    if bundled.exists() {
        bundled
    } else {
        PathBuf::from("node")
    }
}

/// How long a browser script may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

/// `NODE` and `NODE_MODULES` from `scripts/vendor-web.sh --check`; panics with what to run
/// when the console's browser libraries (and playwright-core) are not vendored.
pub fn web_tools() -> (String, String) {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/vendor-web.sh"))
        .arg("--check")
        .output()
        .expect("run scripts/vendor-web.sh --check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    match (out.status.success(), value("NODE"), value("NODE_MODULES")) {
        (true, Some(node), Some(modules)) => (node, modules),
        _ => panic!(
            "the web console's vendored libraries are missing: run `scripts/vendor-web.sh` \
             (make does) — {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// Run `tests/browser/<script>` (headless Chromium through playwright-core) against `server`
/// with its admin key; panics with the script's output and the server's log unless it
/// succeeds. Returns what the script printed.
pub async fn run_browser_script(script: &str, server: &Server) -> String {
    let root = repo_root();
    let (node, modules) = web_tools();
    let chromium = std::env::var("OCAAS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: `apt-get install chromium` (or set OCAAS_CHROMIUM)"
    );
    let child = tokio::process::Command::new(&node)
        .arg(root.join("tests/browser").join(script))
        .arg(&server.base)
        .arg(&server.key)
        .current_dir(&root)
        .env("OCAAS_WEB_NODE_MODULES", &modules)
        .env("OCAAS_CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {node}: {e}"));
    let out = tokio::time::timeout(BROWSER_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{script} did not finish within {BROWSER_TIMEOUT:?}; server log tail:\n{}",
                server.log_tail()
            )
        })
        .expect("wait for the browser script");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server log tail\n{}",
        out.status,
        server.log_tail()
    );
    stdout
}

/// The repository's root (for scripts and fixtures the tests run).
pub fn repo_root() -> PathBuf {
    // Read when the tests run (cargo sets it then): a binary reused from a checkout at another
    // path must not run that checkout's scripts.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).into(),
            PathBuf::from,
        )
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A free TCP port on 127.0.0.1 (bind port 0, read it, let it go).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A process identity that survives pid reuse: pid plus start time (clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Proc {
    pub pid: i32,
    pub start: u64,
}

/// What `/proc/<pid>/stat` and `status` say about one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub start: u64,
    /// `comm` (the executable name, at most 15 characters).
    pub comm: String,
    /// Real uid.
    pub uid: u32,
    /// `/proc/<pid>/ns/pid` link text, e.g. `pid:[4026532257]`.
    pub pid_ns: String,
}

impl ProcInfo {
    pub fn id(&self) -> Proc {
        Proc {
            pid: self.pid,
            start: self.start,
        }
    }
}

/// `(comm, state, ppid, start time)` of `pid`.
fn read_stat(pid: i32) -> Option<(String, char, i32, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
    let state = rest.first()?.chars().next()?;
    let ppid = rest.get(1)?.parse().ok()?;
    let start = rest.get(19)?.parse().ok()?;
    Some((comm, state, ppid, start))
}

/// Details of a running (non-zombie) process.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let (comm, state, ppid, start) = read_stat(pid)?;
    if state == 'Z' || state == 'X' {
        return None;
    }
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())?;
    let pid_ns = fs::read_link(format!("/proc/{pid}/ns/pid"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Some(ProcInfo {
        pid,
        ppid,
        start,
        comm,
        uid,
        pid_ns,
    })
}

/// Whether this exact process (pid and start time) is still running (zombies are not).
pub fn alive(p: Proc) -> bool {
    matches!(read_stat(p.pid), Some((_, state, _, start)) if start == p.start && state != 'Z' && state != 'X')
}

/// Every pid in the host's `/proc`.
pub fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Send `signal` (e.g. `TERM`, `KILL`) to `pid` with `kill(1)` (no unsafe code here).
pub fn signal(pid: i32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The last `max` bytes of a file, lossily decoded.
pub fn file_tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return format!("(cannot open {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// What a stopped server left behind.
#[derive(Debug, Default)]
pub struct Leaks {
    /// Sandbox processes still running.
    pub processes: Vec<ProcInfo>,
    /// `ocaas-<sandbox id>` cgroup directories that still exist.
    pub cgroups: Vec<PathBuf>,
}

/// The cgroup directories named `ocaas-<sandbox_id>` that exist now, in any hierarchy this
/// process belongs to (the orchestrator we start inherits our cgroups and creates a
/// sandbox's cgroups below its own).
pub fn cgroup_dirs(sandbox_id: &str) -> Vec<PathBuf> {
    let name = format!("ocaas-{sandbox_id}");
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let root = Path::new("/sys/fs/cgroup");
    let mut bases: BTreeSet<PathBuf> = BTreeSet::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            bases.insert(root.join(rel));
            bases.insert(root.join("unified").join(rel));
        } else {
            bases.insert(root.join(controllers).join(rel));
            for c in controllers.split(',') {
                bases.insert(root.join(c).join(rel));
            }
        }
    }
    bases
        .into_iter()
        .map(|b| b.join(&name))
        .filter(|d| d.is_dir())
        .collect()
}

/// One HTTP answer, fully read.
#[derive(Debug, Clone)]
pub struct Resp {
    /// `METHOD url`, for messages.
    pub what: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
}

impl Resp {
    /// Assert the status and return the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "{} answered {} (expected {status}): {}",
            self.what, self.status, self.text
        );
        &self.json
    }

    /// Assert an error answer: this status, the error envelope, this code, a message.
    #[track_caller]
    pub fn expect_err(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.json["error"]["code"].as_str()),
            (status, Some(code)),
            "{} answered {} {} (expected {status} {code})",
            self.what,
            self.status,
            self.text
        );
        assert!(
            self.json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}: error without a message: {}",
            self.what,
            self.text
        );
    }

    /// `error.code`, if this is an error envelope.
    pub fn code(&self) -> Option<&str> {
        self.json["error"]["code"].as_str()
    }
}

/// A running orchestrator on a private data directory.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The bootstrap admin key.
    pub key: String,
    pub port: u16,
    data: TempDir,
    /// The data directory's unique file name, used to recognise our sandboxes in `/proc`.
    data_name: String,
    child: Option<Child>,
    env: Vec<(String, String)>,
    client: reqwest::Client,
    log_path: PathBuf,
    /// Every sandbox process ever observed (by [`Server::sandbox_procs`]).
    seen: Mutex<BTreeSet<Proc>>,
    /// Every sandbox id ever observed (in status views and under `<data>/sandboxes/`).
    sandbox_ids: Mutex<BTreeSet<String>>,
}

impl Server {
    /// Start an orchestrator with the harness defaults: a bootstrap admin key, pretty logs,
    /// and `local.keep_sandboxes_on_shutdown=false` so a graceful stop stops its sandboxes.
    pub async fn start() -> Server {
        Server::start_with(&[]).await
    }

    /// [`Server::start`] with extra `OCAAS_*` variables (later entries win).
    pub async fn start_with(env: &[(&str, &str)]) -> Server {
        let bin = orchestrator_bin();
        let data = tempfile::Builder::new()
            .prefix("ocaas-e2e-")
            .tempdir()
            .expect("create data dir");
        // The sandbox uid (10001) must traverse the data dir for bubblewrap's binds.
        fs::set_permissions(data.path(), fs::Permissions::from_mode(0o711))
            .expect("chmod data dir");
        let data_name = data
            .path()
            .file_name()
            .expect("tempdir has a name")
            .to_string_lossy()
            .into_owned();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let key = format!("e2e-admin-{}-{nanos}", std::process::id());
        let mut all_env: Vec<(String, String)> = vec![
            ("OCAAS_BOOTSTRAP_API_KEY".into(), key.clone()),
            ("OCAAS_LOG_FORMAT".into(), "pretty".into()),
            ("OCAAS_LOG_LEVEL".into(), "info".into()),
            (
                "OCAAS_LOCAL__KEEP_SANDBOXES_ON_SHUTDOWN".into(),
                "false".into(),
            ),
            // No OpenClaw gateway unless a test asks for one (pass the install directory):
            // each gateway needs ~1 GB and ~15 s to boot.
            ("OCAAS_LOCAL__OPENCLAW_DIR".into(), String::new()),
            // No warm pool unless a test asks for one: its sandboxes run gateways too.
            ("OCAAS_POOL__SIZE".into(), "0".into()),
            // Scenarios make many calls with one key: no rate limits unless a test sets them.
            ("OCAAS_RATE_LIMITS__CHAT_PER_MIN".into(), "0".into()),
            ("OCAAS_RATE_LIMITS__READ_PER_MIN".into(), "0".into()),
            ("OCAAS_RATE_LIMITS__WRITE_PER_MIN".into(), "0".into()),
            ("OCAAS_RATE_LIMITS__SIGN_IN_PER_MIN".into(), "0".into()),
        ];
        all_env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let port = free_port();
        let log_path = data.path().join("orchestrator.log");
        let mut server = Server {
            base: format!("http://127.0.0.1:{port}"),
            key,
            port,
            data,
            data_name,
            child: None,
            env: all_env,
            client: new_client(),
            log_path,
            seen: Mutex::new(BTreeSet::new()),
            sandbox_ids: Mutex::new(BTreeSet::new()),
        };
        // The port was free a moment ago; another process may take it before the
        // orchestrator binds it. Then try another.
        for _ in 0..4 {
            if server.try_launch(&bin).await {
                return server;
            }
            server.port = free_port();
            server.base = format!("http://127.0.0.1:{}", server.port);
        }
        server.launch(&bin).await;
        server
    }

    /// [`Self::launch`], but `false` (instead of a panic) when the port was taken.
    async fn try_launch(&mut self, bin: &Path) -> bool {
        let before = fs::metadata(&self.log_path).map(|m| m.len()).unwrap_or(0);
        match self.launch_inner(bin).await {
            Ok(()) => true,
            Err(status) => {
                let log = fs::read(&self.log_path).unwrap_or_default();
                let new = String::from_utf8_lossy(&log[(before as usize).min(log.len())..]);
                if new.contains("Address already in use") {
                    return false;
                }
                panic!(
                    "orchestrator exited during start-up ({status}); log tail:\n{}",
                    self.log_tail()
                );
            }
        }
    }

    /// Launch the binary on this server's data dir and port, and wait for `/readyz`.
    async fn launch(&mut self, bin: &Path) {
        if let Err(status) = self.launch_inner(bin).await {
            panic!(
                "orchestrator exited during start-up ({status}); log tail:\n{}",
                self.log_tail()
            );
        }
    }

    /// Launch and wait for `/readyz`; `Err` with the exit status if it exited first.
    async fn launch_inner(&mut self, bin: &Path) -> Result<(), std::process::ExitStatus> {
        assert!(self.child.is_none(), "orchestrator already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open orchestrator log");
        let mut cmd = Command::new(bin);
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.data.path())
            // No stray ./ocaas.toml from wherever the tests run.
            .current_dir(self.data.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        for (k, _) in std::env::vars() {
            if k.starts_with("OCAAS_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot launch {}: {e}", bin.display()));
        self.child = Some(child);
        self.client = new_client();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(status);
            }
            let ready = self
                .client
                .get(format!("{}/readyz", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .map(|r| r.status() == StatusCode::OK)
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                panic!(
                    "orchestrator not ready within {READY_TIMEOUT:?}; log tail:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stop the orchestrator with `sig` and wait for it to exit (SIGKILL after a timeout).
    fn stop_process(&mut self, sig: &str) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id() as i32;
        signal(pid, sig);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    eprintln!(
                        "orchestrator {pid} did not exit within {STOP_TIMEOUT:?} of SIG{sig}; killing it"
                    );
                    let _ = child.kill();
                    let _ = child.wait();
                    return;
                }
            }
        }
    }

    /// SIGTERM the orchestrator, wait for it to exit, and start it again on the same data
    /// directory and port with the same settings.
    pub async fn restart(&mut self) {
        self.stop_process("TERM");
        self.launch(&orchestrator_bin()).await;
    }

    /// Like [`Server::restart`], with settings changed for the new process.
    pub async fn restart_with(&mut self, env: &[(&str, &str)]) {
        self.stop_process("TERM");
        self.env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.launch(&orchestrator_bin()).await;
    }

    /// SIGTERM the orchestrator and wait for it to exit, without starting it again.
    pub fn terminate(&mut self) {
        self.stop_process("TERM");
    }

    /// SIGKILL the orchestrator (no chance to clean up) and wait for it to die.
    pub fn kill9(&mut self) {
        self.stop_process("KILL");
    }

    /// Start the orchestrator again after [`Server::terminate`] or [`Server::kill9`].
    pub async fn start_again(&mut self) {
        self.launch(&orchestrator_bin()).await;
    }

    /// Stop the orchestrator gracefully (SIGTERM) and report what it left behind: every
    /// sandbox process this harness ever saw (or can still find under this data directory)
    /// that is still alive, and the cgroups of every sandbox it ever saw that still exist.
    /// With `keep_sandboxes_on_shutdown=false` (the default here) both must be empty.
    /// Leftover processes are killed afterwards by `Drop`.
    pub fn shutdown(mut self) -> Leaks {
        self.sandbox_procs(None);
        self.stop_process("TERM");
        let mut left: BTreeSet<Proc> = self
            .seen
            .lock()
            .expect("seen")
            .iter()
            .copied()
            .filter(|p| alive(*p))
            .collect();
        left.extend(self.scan(None).iter().map(ProcInfo::id));
        let processes = left
            .into_iter()
            .filter_map(|p| proc_info(p.pid).filter(|i| i.start == p.start))
            .collect();
        let cgroups = self
            .sandbox_ids
            .lock()
            .expect("sandbox ids")
            .iter()
            .flat_map(|sid| cgroup_dirs(sid))
            .collect();
        Leaks { processes, cgroups }
    }

    /// Sandbox ids seen so far (in status views and under `<data>/sandboxes/`).
    pub fn seen_sandbox_ids(&self) -> Vec<String> {
        self.sandbox_ids
            .lock()
            .expect("sandbox ids")
            .iter()
            .cloned()
            .collect()
    }

    /// The orchestrator's host pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The orchestrator's combined stdout/stderr (all runs, appended).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last 8 KiB of the orchestrator's log.
    pub fn log_tail(&self) -> String {
        file_tail(&self.log_path, 8192)
    }

    /// An HTTP client for this server (fresh after every (re)start).
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// `base + path` with query pairs, percent-encoded.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = Url::parse(&format!("{}{path}", self.base)).expect("valid url");
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// A request to `path` (which may carry a raw query string) with `key` as bearer token.
    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        self.request_url(method, self.url(path, &[]), key)
    }

    /// A request to a full URL with `key` as bearer token.
    pub fn request_url(&self, method: Method, url: Url, key: Option<&str>) -> RequestBuilder {
        let rb = self.client.request(method, url);
        match key {
            Some(k) => rb.bearer_auth(k),
            None => rb,
        }
    }

    /// Send a request and read the whole answer. Panics on a transport error or any `5xx`.
    pub async fn send(&self, rb: RequestBuilder) -> Resp {
        let resp = self.send_streaming(rb).await;
        let what = format!("{} {}", resp.1, resp.0.url());
        let status = resp.0.status().as_u16();
        let headers = resp.0.headers().clone();
        let text = resp
            .0
            .text()
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body failed: {e}"));
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            what,
            status,
            headers,
            text,
            json,
        }
    }

    /// Send a request and return the response with its body unread (for streaming), and the
    /// method. Panics on a transport error or any `5xx` (showing the body).
    pub async fn send_streaming(&self, rb: RequestBuilder) -> (reqwest::Response, Method) {
        let req = rb.build().expect("valid request");
        let method = req.method().clone();
        let what = format!("{method} {}", req.url());
        let resp = self
            .client
            .execute(req)
            .await
            .unwrap_or_else(|e| panic!("{what}: transport error: {e:?}"));
        if resp.status().is_server_error() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            panic!(
                "{what} answered {status}: {body}\n--- orchestrator log tail ---\n{}",
                self.log_tail()
            );
        }
        (resp, method)
    }

    pub async fn get(&self, key: &str, path: &str) -> Resp {
        self.send(self.request(Method::GET, path, Some(key))).await
    }

    pub async fn get_q(&self, key: &str, path: &str, query: &[(&str, &str)]) -> Resp {
        self.send(self.request_url(Method::GET, self.url(path, query), Some(key)))
            .await
    }

    pub async fn post(&self, key: &str, path: &str, body: &Value) -> Resp {
        self.send(self.request(Method::POST, path, Some(key)).json(body))
            .await
    }

    pub async fn delete(&self, key: &str, path: &str) -> Resp {
        self.send(self.request(Method::DELETE, path, Some(key)))
            .await
    }

    /// Create an account (as admin) and return its first key.
    pub async fn create_account(&self, name: &str) -> String {
        let r = self
            .post(&self.key, "/api/admin/accounts", &json!({ "name": name }))
            .await;
        let v = r.expect(201);
        assert_eq!(v["account"]["name"], name, "{}", r.text);
        v["key"]["key"]
            .as_str()
            .unwrap_or_else(|| panic!("no key in {}", r.text))
            .to_owned()
    }

    /// Create an instance (`201`, status `provisioning`) and return its id.
    pub async fn create_instance(&self, key: &str) -> String {
        let r = self.post(key, "/api/instances", &json!({})).await;
        let v = r.expect(201);
        assert_eq!(v["status"], "provisioning", "{}", r.text);
        v["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", r.text))
            .to_owned()
    }

    /// `GET /api/instances/{id}/status` (asserting `200`).
    pub async fn status(&self, key: &str, id: &str) -> Value {
        let v = self
            .get(key, &format!("/api/instances/{id}/status"))
            .await
            .expect(200)
            .clone();
        if let Some(sid) = v["sandbox_id"].as_str() {
            self.sandbox_ids
                .lock()
                .expect("sandbox ids")
                .insert(sid.to_owned());
        }
        v
    }

    /// Poll the status every 10 ms until it is `want`; panics on timeout, or on `failed`
    /// when that is not what is wanted. Returns the status view.
    pub async fn wait_status(&self, key: &str, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + INSTANCE_READY_TIMEOUT;
        loop {
            let s = self.status(key, id).await;
            if s["status"] == want {
                return s;
            }
            if s["status"] == "failed" && want != "failed" {
                panic!(
                    "instance {id} failed while waiting for {want}: {s}\n--- log tail ---\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "instance {id} not {want} within {INSTANCE_READY_TIMEOUT:?}: {s}\n--- log tail ---\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Wait until the instance is `ready` again, passing through `failed` (a crashed
    /// sandbox the supervisor restarts); returns the status view.
    pub async fn wait_recovered(&self, key: &str, id: &str) -> Value {
        let deadline = Instant::now() + INSTANCE_READY_TIMEOUT;
        loop {
            let s = self.status(key, id).await;
            if s["status"] == "ready" {
                return s;
            }
            if Instant::now() > deadline {
                panic!(
                    "instance {id} did not recover within {INSTANCE_READY_TIMEOUT:?}: {s}\n--- log tail ---\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Wait until the instance is `ready` (and says so); returns the status view.
    pub async fn wait_ready(&self, key: &str, id: &str) -> Value {
        let s = self.wait_status(key, id, "ready").await;
        assert_eq!(s["ready"], true, "{s}");
        s
    }

    /// `POST .../terminal/exec` with a full request body.
    pub async fn exec_req(&self, key: &str, id: &str, body: &Value) -> Resp {
        self.post(key, &format!("/api/instances/{id}/terminal/exec"), body)
            .await
    }

    /// Run `cmd` in the instance; asserts `200` and returns the `ExecResponse`.
    pub async fn exec(&self, key: &str, id: &str, cmd: &str) -> Value {
        self.exec_req(key, id, &json!({ "command": cmd }))
            .await
            .expect(200)
            .clone()
    }

    /// Run `cmd`; assert it exits 0 and return its stdout.
    pub async fn sh(&self, key: &str, id: &str, cmd: &str) -> String {
        let v = self.exec(key, id, cmd).await;
        assert_eq!(v["exit_code"], 0, "`{cmd}` failed: {v}");
        v["stdout"].as_str().unwrap_or_default().to_owned()
    }

    /// `POST .../files/write`.
    pub async fn write_file(&self, key: &str, id: &str, path: &str, content: &str) -> Resp {
        self.post(
            key,
            &format!("/api/instances/{id}/files/write"),
            &json!({ "path": path, "content": content }),
        )
        .await
    }

    /// `GET .../files/read?path=`.
    pub async fn read_file(&self, key: &str, id: &str, path: &str) -> Resp {
        self.get_q(
            key,
            &format!("/api/instances/{id}/files/read"),
            &[("path", path)],
        )
        .await
    }

    /// `GET .../files?path=`.
    pub async fn list_dir(&self, key: &str, id: &str, path: &str) -> Resp {
        self.get_q(
            key,
            &format!("/api/instances/{id}/files"),
            &[("path", path)],
        )
        .await
    }

    /// Every live process that belongs to one of this server's sandboxes (or, with
    /// `instance`, to that instance's sandboxes): processes whose mount table binds a
    /// directory under `<data>/instances/[<instance>/]`, plus their `bwrap` parents (the
    /// outer bwrap stays in the host's mount namespace). Found from `/proc` alone. Each one
    /// is remembered for [`Server::shutdown`]'s leak check.
    pub fn sandbox_procs(&self, instance: Option<&str>) -> Vec<ProcInfo> {
        let found = self.scan(instance);
        self.seen
            .lock()
            .expect("seen")
            .extend(found.iter().map(ProcInfo::id));
        found
    }

    fn scan(&self, instance: Option<&str>) -> Vec<ProcInfo> {
        if let Ok(dir) = fs::read_dir(self.data.path().join("sandboxes")) {
            let mut ids = self.sandbox_ids.lock().expect("sandbox ids");
            ids.extend(
                dir.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
        // An instance's sandbox binds its storage; all sandboxes include the warm pool's,
        // bound from `pool/<sandbox id>/` until they are claimed.
        let markers = match instance {
            Some(id) => vec![format!("/{}/instances/{id}/", self.data_name)],
            None => vec![
                format!("/{}/instances/", self.data_name),
                format!("/{}/pool/", self.data_name),
            ],
        };
        let mut inside: Vec<ProcInfo> = all_pids()
            .into_iter()
            .filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/mountinfo"))
                    .is_ok_and(|m| markers.iter().any(|marker| m.contains(marker)))
            })
            .filter_map(proc_info)
            .collect();
        let pids: BTreeSet<i32> = inside.iter().map(|p| p.pid).collect();
        let parents: BTreeSet<i32> = inside
            .iter()
            .map(|p| p.ppid)
            .filter(|pp| !pids.contains(pp))
            .collect();
        for pp in parents {
            if let Some(info) = proc_info(pp).filter(|i| i.comm == "bwrap") {
                inside.push(info);
            }
        }
        inside.sort_by_key(|p| p.pid);
        inside
    }

    /// The `sandbox-agent` processes serving `instance` (normally exactly one).
    pub fn agent_procs(&self, instance: &str) -> Vec<ProcInfo> {
        self.sandbox_procs(Some(instance))
            .into_iter()
            .filter(|p| p.comm == "sandbox-agent")
            .collect()
    }

    /// Read `<data>/sandboxes/<sandbox_id>/meta.json` (root-only; the suite runs as root).
    pub fn sandbox_meta(&self, sandbox_id: &str) -> Option<Value> {
        let p = self
            .data_dir()
            .join("sandboxes")
            .join(sandbox_id)
            .join("meta.json");
        serde_json::from_slice(&fs::read(p).ok()?).ok()
    }

    /// The agent socket of a sandbox.
    pub fn agent_socket(&self, sandbox_id: &str) -> PathBuf {
        self.data_dir()
            .join("sandboxes")
            .join(sandbox_id)
            .join("sock/agent.sock")
    }

    /// The model socket of a sandbox: the orchestrator serves it, and the sandbox's gateway
    /// sends its model calls there (bound into the sandbox as `/run/ocaas/model.sock`).
    pub fn model_socket(&self, sandbox_id: &str) -> PathBuf {
        self.data_dir()
            .join("sandboxes")
            .join(sandbox_id)
            .join("sock/model.sock")
    }
}

/// One HTTP/1.1 request over a unix socket (a fresh connection); returns the status and the
/// whole body, lossily decoded. `body` is sent as JSON.
pub async fn unix_request(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> anyhow::Result<(u16, String)> {
    use http_body_util::{BodyExt as _, Full};

    let stream = tokio::net::UnixStream::connect(socket).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let bytes = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            bytes::Bytes::from(serde_json::to_vec(v)?)
        }
        None => bytes::Bytes::new(),
    };
    let resp = sender.send_request(req.body(Full::new(bytes))?).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A fresh random-looking token of `len` lower-case hex digits (SHA-256 of the time, the pid
/// and a counter; unique per call, not cryptographic).
pub fn random_hex(len: usize) -> String {
    use sha2::{Digest as _, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::new();
    while out.len() < len {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let seed = format!("{nanos}-{}-{n}", std::process::id());
        out.push_str(&hex(&Sha256::digest(seed.as_bytes())));
    }
    out.truncate(len);
    out
}

impl Drop for Server {
    /// SIGTERM the orchestrator and wait; then SIGKILL any sandbox process of this data
    /// directory that is still around (left on purpose with `keep_sandboxes_on_shutdown`, or
    /// leaked), so no test leaves processes behind.
    fn drop(&mut self) {
        if self.child.is_some() {
            self.sandbox_procs(None);
            self.stop_process("TERM");
        }
        let mut left: BTreeSet<Proc> = self
            .seen
            .lock()
            .map(|s| s.iter().copied().filter(|p| alive(*p)).collect())
            .unwrap_or_default();
        left.extend(self.scan(None).iter().map(ProcInfo::id));
        for p in &left {
            if alive(*p) {
                signal(p.pid, "KILL");
            }
        }
        // Let the kernel tear the namespaces down before the data dir is removed.
        let deadline = Instant::now() + Duration::from_secs(5);
        while left.iter().any(|p| alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Host hygiene: remove the cgroups of our sandboxes that are still there (already
        // reported by `shutdown()`, if the test called it). A cgroup whose last process has
        // just exited can refuse removal for a moment, hence the retries.
        let ids: Vec<String> = self
            .sandbox_ids
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for sid in ids {
            for dir in cgroup_dirs(&sid) {
                for _ in 0..50 {
                    if fs::remove_dir(&dir).is_ok() || !dir.exists() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        if std::env::var_os("OCAAS_E2E_KEEP_DATA").is_some() {
            eprintln!("keeping data dir {}", self.data.path().display());
            self.data.disable_cleanup(true);
        }
    }
}

/// An HTTP client with the harness's timeouts. The workspace builds reqwest with
/// `rustls-no-provider`, so a process-wide rustls crypto provider is installed first
/// (idempotent; it would only matter for https).
pub fn new_client() -> reqwest::Client {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(300))
        .build()
        .expect("reqwest client")
}

/// Deterministic pseudo-random bytes (SplitMix64), generated chunk by chunk, so a large
/// file can be streamed and re-derived without being held in memory.
#[derive(Debug, Clone)]
pub struct PseudoRandom {
    state: u64,
    remaining: u64,
}

impl PseudoRandom {
    pub fn new(seed: u64, len: u64) -> Self {
        PseudoRandom {
            state: seed,
            remaining: len,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next chunk of at most `max` bytes (`max` a multiple of 8), or `None` at the end.
    pub fn next_chunk(&mut self, max: usize) -> Option<Vec<u8>> {
        if self.remaining == 0 {
            return None;
        }
        let n = (max as u64).min(self.remaining) as usize;
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        self.remaining -= n as u64;
        Some(out)
    }
}

impl Iterator for PseudoRandom {
    type Item = Vec<u8>;
    fn next(&mut self) -> Option<Vec<u8>> {
        self.next_chunk(256 * 1024)
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
