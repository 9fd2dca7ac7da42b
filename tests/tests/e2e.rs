//! Black-box end-to-end scenarios against the real `orchestrator` binary and real bubblewrap
//! sandboxes. Each scenario starts its own server (nextest runs every test in its own
//! process, so nothing can be shared between tests) and walks through many steps; every HTTP
//! call goes through the harness, which fails the test on any `5xx`.
//!
//! | test                                      | proves                                         |
//! |-------------------------------------------|------------------------------------------------|
//! | `seed::seed_001_curl_session`             | (a) the seed 001 session, step by step         |
//! | `big_files::big_files_round_trip`         | (b) 50 MiB streamed up and down, SHA-256 equal |
//! | `escapes::paths_cannot_escape_workspace`  | (c) no path or symlink leads out of /workspace |
//! | `boundary::sandbox_boundary_from_inside`  | (d) uid, caps, read-only fs, pid/net/fs views  |
//! | `tenancy::tenancy_isolation_and_auth`     | (e) other accounts get 404; keys are checked   |
//! | `lifecycle::lifecycle_and_persistence`    | (f) shutdown/start/reboot/crash/delete, no leak|
//! | `restart::survives_orchestrator_restart`  | (g) re-adoption after SIGTERM and kill -9      |
//! | `bad_input::bad_input_is_rejected_cleanly`| (h) precise 4xx for bad requests, never 5xx    |
//! | `disconnects::abandoned_calls_leave_nothing_behind` | hung-up uploads and execs leave nothing |
//! | `secrets::secrets_never_leak`             | (j) model and API keys stay out of answers, logs, the DB and sandboxes |
//! | `live::terminals_over_the_orchestrator`   | (k) terminal/ws: echo + exit status, resize, reattach, several at once |
//! | `live::desktop_over_the_orchestrator`     | (k) vnc-url + vnc/ws: RFB handshake, non-blank frame; 401/404/409/400 |
//! | `sleep::sleeps_when_idle_and_wakes_on_any_call` | (o) idle → sleeping, no process left; exec/files/terminal/reboot wake it |
//! | `bundle::the_served_client_drives_the_service` | (m) the agent bundle as served; its client runs the whole flow, chat included |
//! | `docs::docs_in_a_browser`                 | (n) `/docs` offline in Chromium: every operation listed, try-it-out works |
//! | `console::console_in_a_browser`           | (l) the web console in headless Chromium: sign-in, files, terminal, desktop |
//! | `account::account_page_in_a_browser`      | the /account page in Chromium: sign up, invite, key with permissions, use, revoke |
//!
//! Needs: root (sandboxes are dropped to uid 10001), bubblewrap, and the workspace binaries
//! built (`cargo build --workspace`; or point `OCAAS_BIN_DIR` at them). Set
//! `OCAAS_E2E_KEEP_DATA=1` to keep each server's data directory (with `orchestrator.log`).

#[path = "e2e/common.rs"]
mod common;

#[path = "e2e/seed.rs"]
mod seed;

#[path = "e2e/big_files.rs"]
mod big_files;

#[path = "e2e/escapes.rs"]
mod escapes;

#[path = "e2e/boundary.rs"]
mod boundary;

#[path = "e2e/tenancy.rs"]
mod tenancy;

#[path = "e2e/lifecycle.rs"]
mod lifecycle;

#[path = "e2e/restart.rs"]
mod restart;

#[path = "e2e/bad_input.rs"]
mod bad_input;

#[path = "e2e/disconnects.rs"]
mod disconnects;

#[path = "e2e/secrets.rs"]
mod secrets;

#[path = "e2e/live.rs"]
mod live;

#[path = "e2e/bundle.rs"]
mod bundle;

#[path = "e2e/sleep.rs"]
mod sleep;

#[path = "e2e/docs.rs"]
mod docs;

#[path = "e2e/console.rs"]
mod console;

#[path = "e2e/account.rs"]
mod account;
