//! (k) The web console in a real browser: `tests/browser/console.mjs` drives headless Chromium
//! (playwright-core) through sign-in, instance creation, file upload/download/edit, a terminal,
//! the desktop (noVNC), deletion and sign-out against a real server, with every request off
//! this machine blocked. Screenshots of each step land in `target/screenshots/`.
//!
//! Needs `scripts/vendor-web.sh` to have run (xterm.js and noVNC in `web-static/vendor/`,
//! playwright-core in its cache; `make` runs it) and Chromium (`/usr/bin/chromium`, or
//! `$OCAAS_CHROMIUM`).

use e2e::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_browser() {
    let static_dir = e2e::repo_root().join("web-static");
    let s = Server::start_with(&[(
        "OCAAS_CONSOLE__STATIC_DIR",
        static_dir.to_str().expect("utf-8 path"),
    )])
    .await;
    let stdout = e2e::run_browser_script("console.mjs", &s).await;
    // Shown with `--nocapture`: what the browser did.
    println!("{stdout}");
}
