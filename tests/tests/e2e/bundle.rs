//! (m) The agent bundle as a reader gets it: every document is served with its content type
//! and this server's origin in place of `{{BASE_URL}}`, and the helper client *as served*
//! drives a live server through `tests/bundle/selftest.mjs`: instances, files (write, read,
//! upload, download), exec with exit codes, clear errors, and chat (sync and streamed) with the
//! real OpenClaw gateway.

use std::process::Command;

use e2e::Server;

const DOCUMENTS: &[(&str, &str)] = &[
    ("/llms.txt", "text/plain"),
    ("/llms-full.md", "text/markdown"),
    ("/agent.md", "text/markdown"),
    ("/skills/openclaw-api-control/SKILL.md", "text/markdown"),
    (
        "/skills/openclaw-api-control/scripts/openclaw_api_client.mjs",
        "text/javascript",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_client_drives_the_service() {
    let Some(openclaw) = e2e::openclaw_dir() else {
        return;
    };
    let s = Server::start_with(&[(
        "OCAAS_LOCAL__OPENCLAW_DIR",
        openclaw.to_str().expect("utf-8 path"),
    )])
    .await;
    let client = s.client();
    let dir = tempfile::tempdir().unwrap();
    for (path, content_type) in DOCUMENTS {
        let resp = client
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(content_type), "{path}: {ct}");
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains("{{BASE_URL}}"),
            "{path} still has the placeholder"
        );
        if !path.ends_with(".mjs") {
            assert!(
                text.contains(&s.base),
                "{path} does not name this server's origin"
            );
        }
        let name = path.rsplit('/').next().unwrap();
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let skill = std::fs::read_to_string(dir.path().join("SKILL.md")).unwrap();
    assert!(
        skill.starts_with("---\nname: openclaw-api-control\n"),
        "SKILL.md front matter"
    );

    let served_client = dir.path().join("openclaw_api_client.mjs");
    let key = s.key.clone();
    let base = s.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(e2e::node_bin())
            .arg(e2e::repo_root().join("tests/bundle/selftest.mjs"))
            .args(["--base-url", &base, "--api-key", &key, "--chat", "--client"])
            .arg(&served_client)
            .env_remove("OCAAS_BASE_URL")
            .env_remove("OCAAS_API_KEY")
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "selftest failed ({}):\n{stdout}\n{stderr}\n--- server log ---\n{}",
        output.status,
        s.log_tail()
    );
    eprintln!("{stdout}");
    s.shutdown();
}
