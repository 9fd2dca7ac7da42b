//! (n) The interactive API reference works offline: `tests/browser/docs.mjs` loads `/docs` in
//! headless Chromium with every request off this machine blocked, finds every operation of the
//! spec on the page, authorizes with a key and tries `GET /api/account` from the page.
//! Screenshots: `target/screenshots/docs-*.png`.

use e2e::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_in_a_browser() {
    let s = Server::start().await;
    let stdout = e2e::run_browser_script("docs.mjs", &s).await;
    println!("{stdout}");
}
