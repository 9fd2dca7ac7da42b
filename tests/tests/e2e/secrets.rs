//! (j) Secrets never leak: the service's model key and a tenant's BYOK key reach only their own
//! provider (added by the orchestrator's model proxy, never by the sandbox), and neither
//! they nor the API keys show up in API answers, the log (at `debug`), the database in the
//! clear, or anything a sandbox can read. No gateway: the calls the gateway would make are
//! sent straight to each sandbox's model socket.

use std::path::{Path, PathBuf};

use e2e::{Server, random_hex, unix_request};
use orchestrator::scripted_model::ScriptedModel;
use serde_json::{Value, json};

use crate::common::inst;

/// Every regular file under `dir`, recursively (sockets and other special files skipped).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                todo.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Whether `bytes` contain `needle`.
fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_leak() {
    // The service's default provider and a tenant's own provider: two stand-in servers.
    let default_model = ScriptedModel::start().expect("default scripted model");
    let byok_model = ScriptedModel::start().expect("byok scripted model");
    let default_key = format!("sk-default-{}", random_hex(32));
    let byok_key = format!("sk-byok-{}", random_hex(32));

    let s = Server::start_with(&[
        ("OCAAS_MODEL__BASE_URL", default_model.base_url.as_str()),
        ("OCAAS_MODEL__API_KEY", default_key.as_str()),
        ("OCAAS_MODEL__MODEL_ID", "m1"),
        ("OCAAS_MODEL__ALLOW_PRIVATE_BASE_URLS", "true"),
        ("OCAAS_LOG_LEVEL", "debug"),
    ])
    .await;
    let k = s.key.clone();
    // Every API answer received, to search for the secrets at the end.
    let mut answers: Vec<String> = Vec::new();
    let mut keep = |r: &e2e::Resp| {
        let headers: Vec<String> = r
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v.as_bytes())))
            .collect();
        answers.push(format!("{}\n{}\n{}", r.what, headers.join("\n"), r.text));
    };

    // An API key of the admin account, used for the rest of the session.
    let r = s.post(&k, "/api/keys", &json!({"name": "ci"})).await;
    let api_key = r.expect(201)["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key in {}", r.text))
        .to_owned();
    let r = s.get(&api_key, "/api/account").await;
    r.expect(200);
    keep(&r);

    // (a) an instance on the default provider; (b) a BYOK instance.
    let r = s.post(&api_key, "/api/instances", &json!({})).await;
    let a = r.expect(201)["id"].as_str().expect("id").to_owned();
    keep(&r);
    let r = s
        .post(
            &api_key,
            "/api/instances",
            &json!({"provider": {"base_url": byok_model.base_url, "api_key": byok_key, "model": "m2"}}),
        )
        .await;
    let b = r.expect(201)["id"].as_str().expect("id").to_owned();
    keep(&r);
    s.wait_ready(&api_key, &a).await;
    s.wait_ready(&api_key, &b).await;

    // What each sandbox's gateway would send: no key, the placeholder model; streamed or not.
    let cases = [
        (&a, &default_model, &default_key, "m1", &byok_model),
        (&b, &byok_model, &byok_key, "m2", &default_model),
    ];
    for (id, theirs, key, model, other) in cases {
        let sandbox = s.status(&api_key, id).await["sandbox_id"]
            .as_str()
            .expect("sandbox_id")
            .to_owned();
        let sock = s.model_socket(&sandbox);
        let before_other = other.recorded().len();
        for (i, stream) in [false, true].into_iter().enumerate() {
            let text = format!("hello {id} {i}");
            let body = json!({"model": "default", "stream": stream,
                "messages": [{"role": "user", "content": text}]});
            let (status, answer) =
                unix_request(&sock, "POST", "/v1/chat/completions", &[], Some(&body))
                    .await
                    .unwrap_or_else(|e| panic!("model socket {}: {e:#}", sock.display()));
            assert_eq!(status, 200, "{id}: {answer}");
            // The reply (streamed word by word, or whole) carries the scripted answer.
            let joined: String = if stream {
                answer
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                    .filter_map(|v| {
                        v["choices"][0]["delta"]["content"]
                            .as_str()
                            .map(str::to_owned)
                    })
                    .collect()
            } else {
                serde_json::from_str::<Value>(&answer).expect("JSON answer")["choices"][0]
                    ["message"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            assert_eq!(joined, format!("You said: {text}"), "{answer}");
            // The sandbox sees what the model answers: never a key.
            for secret in [&default_key, &byok_key] {
                assert!(!answer.contains(secret.as_str()), "{answer}");
            }
        }
        let rec = theirs.recorded();
        let ours: Vec<_> = rec
            .iter()
            .filter(|r| r.body.to_string().contains(&format!("hello {id}")))
            .collect();
        assert_eq!(ours.len(), 2, "{id}: provider saw {rec:?}");
        for r in ours {
            assert_eq!(
                r.authorization.as_deref(),
                Some(format!("Bearer {key}").as_str()),
                "{id}: wrong key reached the provider"
            );
            assert_eq!(
                r.body["model"], model,
                "{id}: model not rewritten: {}",
                r.body
            );
        }
        assert_eq!(
            other.recorded().len(),
            before_other,
            "{id}: the other provider got this instance's calls"
        );
    }

    // Every API view of the instances and keys.
    for path in ["/api/instances".to_owned(), "/api/keys".to_owned()] {
        let r = s.get(&api_key, &path).await;
        r.expect(200);
        keep(&r);
    }
    for id in [&a, &b] {
        for suffix in ["", "/status"] {
            let r = s.get(&api_key, &inst(id, suffix)).await;
            r.expect(200);
            keep(&r);
        }
    }
    for answer in &answers {
        for secret in [&default_key, &byok_key] {
            assert!(
                !answer.contains(secret.as_str()),
                "a model key is in an API answer: {answer}"
            );
        }
    }

    // Inside each sandbox: files, /tmp, /run, every process's environment.
    for id in [&a, &b] {
        for secret in [&default_key, &byok_key] {
            let v = s
                .exec(
                    &api_key,
                    id,
                    &format!(
                        "grep -rs {secret} /state /workspace /tmp /run; \
                         cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c {secret}"
                    ),
                )
                .await;
            assert_eq!(
                v["stdout"].as_str().map(str::trim),
                Some("0"),
                "{id}: the sandbox can read a model key: {v}"
            );
        }
    }
    // From the host: the command lines and environments of every sandbox process (bwrap's
    // `--setenv` arguments included).
    let procs = s.sandbox_procs(None);
    assert!(!procs.is_empty(), "no sandbox processes found");
    for p in &procs {
        for what in ["cmdline", "environ"] {
            let bytes = std::fs::read(format!("/proc/{}/{what}", p.pid)).unwrap_or_default();
            for secret in [&default_key, &byok_key] {
                assert!(
                    !contains(&bytes, secret),
                    "a model key is in /proc/{}/{what} ({})",
                    p.pid,
                    p.comm
                );
            }
        }
    }

    // The database holds the BYOK key encrypted only; the service key is not stored at all.
    for f in ["ocaas.db", "ocaas.db-wal", "ocaas.db-shm"] {
        let bytes = std::fs::read(s.data_dir().join(f)).unwrap_or_default();
        for secret in [&default_key, &byok_key] {
            assert!(
                !contains(&bytes, secret),
                "a model key is in {f} in the clear"
            );
        }
    }

    // The log, at debug level: no model key, no API key.
    let log = std::fs::read(s.log_path()).expect("orchestrator log");
    assert!(
        contains(&log, "request done"),
        "the log is not being written"
    );
    for (what, secret) in [
        ("the service model key", default_key.as_str()),
        ("the BYOK key", byok_key.as_str()),
        ("the admin key", k.as_str()),
        ("the created API key", api_key.as_str()),
    ] {
        assert!(!contains(&log, secret), "{what} is in the orchestrator log");
    }

    // Anything else under the data directory (sandbox run state, instance storage), except
    // the database: no model key in the clear.
    for f in files_under(s.data_dir()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        for secret in [&default_key, &byok_key] {
            assert!(
                !contains(&bytes, secret),
                "a model key is in {} in the clear",
                f.display()
            );
        }
    }

    let leaks = s.shutdown();
    assert!(leaks.processes.is_empty(), "{leaks:?}");
}
