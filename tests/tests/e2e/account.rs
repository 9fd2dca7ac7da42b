//! The `/account` page in a real browser: `tests/browser/account.mjs` drives headless Chromium
//! (playwright-core) as a new customer — sign up, redeem an invite code, create a key with two
//! permissions, use it with the API, revoke it, sign out and in — against the real binary run
//! with the `invite_or_subscription` gate. Screenshots land in
//! `target/screenshots/account-*.png`.
//!
//! Needs `scripts/vendor-web.sh` to have run (playwright-core; `make` runs it) and Chromium.

use e2e::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_page_in_a_browser() {
    let static_dir = e2e::repo_root().join("web-static");
    let s = Server::start_with(&[
        (
            "OCAAS_CONSOLE__STATIC_DIR",
            static_dir.to_str().expect("utf-8 path"),
        ),
        ("OCAAS_ACCESS__GATE", "invite_or_subscription"),
        // The defaults a customer meets (the harness turns limits off for other scenarios).
        ("OCAAS_RATE_LIMITS__CHAT_PER_MIN", "100"),
        ("OCAAS_RATE_LIMITS__READ_PER_MIN", "1000"),
        ("OCAAS_RATE_LIMITS__WRITE_PER_MIN", "600"),
        ("OCAAS_RATE_LIMITS__SIGN_IN_PER_MIN", "20"),
    ])
    .await;
    let stdout = e2e::run_browser_script("account.mjs", &s).await;
    println!("{stdout}");
}
