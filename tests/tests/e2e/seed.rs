//! (a) The seed 001 "curl session", step by step, as a customer would do it.

use std::time::{Duration, Instant};

use e2e::Server;
use reqwest::Method;
use serde_json::json;

use crate::common::{assert_timestamp, entry, has_transition, inst, transitions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_curl_session() {
    let s = Server::start().await;
    let k = s.key.as_str();

    // 1. Create: 201 at once, status `provisioning`, a sandbox id, a Location header.
    let r = s
        .post(k, "/api/instances", &json!({ "name": "seed-001" }))
        .await;
    let created = r.expect(201).clone();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["status"], "provisioning", "{created}");
    assert_eq!(created["name"], "seed-001", "{created}");
    assert!(
        created["sandbox_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("sandy-")),
        "{created}"
    );
    assert_timestamp(&created["created_at"]);
    assert_eq!(
        r.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(inst(&id, "").as_str())
    );

    // 2. Poll the status until ready; the history records provisioning → ready, timestamped
    //    and in order.
    let st = s.wait_ready(k, &id).await;
    let tr = transitions(&st);
    assert_eq!(
        tr.first(),
        Some(&(None, "provisioning".to_owned())),
        "first transition: {st}"
    );
    assert!(has_transition(&st, "provisioning", "ready"), "{st}");
    let ats: Vec<&str> = st["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_timestamp(&t["at"]);
            t["at"].as_str().unwrap()
        })
        .collect();
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "out of order: {st}");
    assert_eq!(st["desired_state"], "running", "{st}");
    // The instance itself, and the account's list, agree.
    let got = s.get(k, &inst(&id, "")).await;
    assert_eq!(got.expect(200)["status"], "ready");
    let list = s.get(k, "/api/instances").await;
    assert!(
        list.expect(200)
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id.as_str()),
        "{}",
        list.text
    );

    // 3. Write a text file.
    let notes = "hello from seed 001\nsecond line\n";
    let w = s.write_file(k, &id, "/workspace/notes.txt", notes).await;
    assert_eq!(
        w.expect(200),
        &json!({ "path": "/workspace/notes.txt", "size": notes.len() })
    );

    // 4. The listing of /workspace shows it as a file with its size.
    let l = s.list_dir(k, &id, "/workspace").await;
    let listing = l.expect(200);
    assert_eq!(listing["path"], "/workspace");
    let e = entry(listing, "notes.txt").unwrap_or_else(|| panic!("not listed: {}", l.text));
    assert_eq!(e["type"], "file", "{e}");
    assert_eq!(e["size"], notes.len(), "{e}");
    assert_eq!(e["path"], "/workspace/notes.txt", "{e}");

    // 5. Read it back (workspace-relative paths name the same file).
    for p in ["/workspace/notes.txt", "notes.txt"] {
        let rd = s.read_file(k, &id, p).await;
        let v = rd.expect(200);
        assert_eq!(v["content"], notes, "{p}");
        assert_eq!(v["size"], notes.len(), "{p}");
        assert_eq!(v["path"], "/workspace/notes.txt", "{p}");
    }

    // 6. Upload with the JSON shape (utf8 and base64), into a directory that is created.
    let up = s
        .post(
            k,
            &inst(&id, "/files/upload"),
            &json!({ "targetDir": "/workspace/uploads", "fileName": "data.json",
                     "content": "{\"a\":1}" }),
        )
        .await;
    assert_eq!(
        up.expect(201),
        &json!({ "path": "/workspace/uploads/data.json", "size": 7 })
    );
    let up = s
        .post(
            k,
            &inst(&id, "/files/upload"),
            &json!({ "targetDir": "/workspace/uploads", "fileName": "b64.txt",
                     "content": "aGVsbG8gd29ybGQ=", "encoding": "base64" }),
        )
        .await;
    assert_eq!(up.expect(201)["size"], 11);
    let rd = s.read_file(k, &id, "/workspace/uploads/data.json").await;
    assert_eq!(rd.expect(200)["content"], "{\"a\":1}");
    let rd = s.read_file(k, &id, "/workspace/uploads/b64.txt").await;
    assert_eq!(rd.expect(200)["content"], "hello world");

    // 7. exec `pwd`: the workspace, exit 0, no stderr.
    let v = s.exec(k, &id, "pwd").await;
    assert_eq!(
        (&v["stdout"], &v["stderr"], &v["exit_code"], &v["timed_out"]),
        (&json!("/workspace\n"), &json!(""), &json!(0), &json!(false)),
        "{v}"
    );
    assert_eq!(v["command"], "pwd");
    assert_eq!(v["truncated"], false);
    assert!(v["duration_ms"].is_u64(), "{v}");
    // The file written through the API is what the shell sees.
    assert_eq!(s.sh(k, &id, "cat notes.txt").await, notes);

    // 8. stderr and a non-zero exit code come back as they are.
    let v = s.exec(k, &id, "echo err >&2; exit 3").await;
    assert_eq!(
        (&v["stdout"], &v["stderr"], &v["exit_code"]),
        (&json!(""), &json!("err\n"), &json!(3)),
        "{v}"
    );

    // 9. A command past its timeout is killed: back within 5 s, timed_out, exit 137.
    let t0 = Instant::now();
    let v = s
        .exec_req(k, &id, &json!({ "command": "sleep 30", "timeout_ms": 500 }))
        .await
        .expect(200)
        .clone();
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}: {v}");
    assert_eq!(
        (&v["timed_out"], &v["exit_code"]),
        (&json!(true), &json!(137)),
        "{v}"
    );
    // The whole process group went with it: no `sleep 30` left in the sandbox.
    assert_eq!(
        s.sh(k, &id, "ps -eo args | grep -c '^sleep 30' || true")
            .await,
        "0\n"
    );

    // 10. cwd and env.
    let r = s
        .post(
            k,
            &inst(&id, "/files/mkdir"),
            &json!({ "path": "/workspace/sub/deeper" }),
        )
        .await;
    assert_eq!(
        r.expect(200),
        &json!({ "path": "/workspace/sub/deeper", "ok": true })
    );
    let v = s
        .exec_req(
            k,
            &id,
            &json!({ "command": "echo \"$FOO\"; pwd", "cwd": "sub/deeper",
                     "env": { "FOO": "bar baz" } }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(v["stdout"], "bar baz\n/workspace/sub/deeper\n", "{v}");

    // 11. rename and delete.
    let r = s
        .post(
            k,
            &inst(&id, "/files/rename"),
            &json!({ "from": "/workspace/uploads/b64.txt", "to": "/workspace/sub/moved.txt" }),
        )
        .await;
    r.expect(200);
    s.read_file(k, &id, "/workspace/uploads/b64.txt")
        .await
        .expect_err(404, "NOT_FOUND");
    assert_eq!(
        s.read_file(k, &id, "/workspace/sub/moved.txt")
            .await
            .expect(200)["content"],
        "hello world"
    );
    // Renaming onto an existing file without `overwrite` is a conflict.
    s.post(
        k,
        &inst(&id, "/files/rename"),
        &json!({ "from": "/workspace/sub/moved.txt", "to": "/workspace/notes.txt" }),
    )
    .await
    .expect_err(409, "CONFLICT");
    // A non-empty directory needs `recursive`.
    s.post(
        k,
        &inst(&id, "/files/delete"),
        &json!({ "path": "/workspace/sub" }),
    )
    .await
    .expect_err(409, "CONFLICT");
    s.post(
        k,
        &inst(&id, "/files/delete"),
        &json!({ "path": "/workspace/sub", "recursive": true }),
    )
    .await
    .expect(200);
    let l = s.list_dir(k, &id, "/workspace").await;
    assert!(entry(l.expect(200), "sub").is_none(), "{}", l.text);
    assert_eq!(
        s.sh(k, &id, "test -e sub && echo yes || echo no").await,
        "no\n"
    );

    // 12. GET /api describes the service without a key.
    let api = s.send(s.request(Method::GET, "/api", None)).await;
    assert_eq!(api.expect(200)["runtime"]["kind"], "local", "{}", api.text);

    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "sandbox processes left after shutdown: {:?}",
        leaked.processes
    );
}
