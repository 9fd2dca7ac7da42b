//! (k) The web console in a real browser: `tests/browser/console.mjs` drives headless Chromium
//! (playwright-core) through sign-in, instance creation, file upload/download/edit, a terminal,
//! the desktop (noVNC), deletion and sign-out against a real server, with every request off
//! this machine blocked. Screenshots of each step land in `target/screenshots/`.
//!
//! Needs `scripts/vendor-web.sh` to have run (xterm.js and noVNC in `web-static/vendor/`,
//! playwright-core in its cache; `make` runs it) and Chromium (`/usr/bin/chromium`, or
//! `$OCAAS_CHROMIUM`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use e2e::Server;

/// How long the whole browser run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `NODE` and `NODE_MODULES` from `scripts/vendor-web.sh --check`; panics with what to run
/// when the console's browser libraries are not vendored.
fn vendored(root: &Path) -> (String, String) {
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/vendor-web.sh"))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_browser() {
    let root = repo_root();
    let (node, modules) = vendored(&root);
    let chromium = std::env::var("OCAAS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: `apt-get install chromium` (or set OCAAS_CHROMIUM)"
    );

    let static_dir = root.join("web-static");
    let s = Server::start_with(&[(
        "OCAAS_CONSOLE__STATIC_DIR",
        static_dir.to_str().expect("utf-8 path"),
    )])
    .await;

    let child = tokio::process::Command::new(&node)
        .arg(root.join("tests/browser/console.mjs"))
        .arg(&s.base)
        .arg(&s.key)
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
                "the browser test did not finish within {BROWSER_TIMEOUT:?}; server log tail:\n{}",
                s.log_tail()
            )
        })
        .expect("wait for the browser test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server log tail\n{}",
        out.status,
        s.log_tail()
    );
    // Shown with `--nocapture`: what the browser did.
    println!("{stdout}");
}
