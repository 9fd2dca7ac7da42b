//! `/files/*` end to end: content round trips, namespace operations, and confinement.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::spawn_agent;

const OUTSIDE: &str = "PATH_OUTSIDE_WORKSPACE";

#[tokio::test]
async fn write_read_and_list() {
    let agent = spawn_agent().await;
    let (status, body) = agent
        .post(
            "/files/write",
            json!({"path": "/workspace/docs/a.txt", "content": "héllo"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"path": "/workspace/docs/a.txt", "size": 6}));

    let (status, body) = agent.get("/files/read?path=docs/a.txt").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"path": "/workspace/docs/a.txt", "content": "héllo", "size": 6})
    );

    // Replacing keeps no temporary files around.
    agent
        .post(
            "/files/write",
            json!({"path": "docs/a.txt", "content": "v2"}),
        )
        .await;
    agent
        .post("/files/write", json!({"path": "zeta.txt", "content": ""}))
        .await;
    agent
        .post("/files/mkdir", json!({"path": "/workspace/bdir"}))
        .await;
    let (status, body) = agent.get("/files").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["path"], "/workspace");
    let names: Vec<(&str, &str)> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("bdir", "directory"),
            ("docs", "directory"),
            ("zeta.txt", "file")
        ]
    );
    let (_, docs) = agent.get("/files?path=/workspace/docs").await;
    let entry = &docs["entries"][0];
    assert_eq!(entry["path"], "/workspace/docs/a.txt");
    assert_eq!(entry["size"], 2);
    let modified = entry["modified_at"].as_str().unwrap();
    assert!(
        modified.ends_with('Z') && modified.len() == 20,
        "{modified}"
    );
    assert_eq!(docs["entries"].as_array().unwrap().len(), 1, "{docs}");

    agent
        .expect_error("/files/read?path=missing.txt", 404, "NOT_FOUND")
        .await;
    agent
        .expect_error("/files/read?path=docs", 409, "CONFLICT")
        .await;
    agent
        .expect_error("/files?path=zeta.txt", 409, "CONFLICT")
        .await;
    agent
        .expect_error("/files?path=nope", 404, "NOT_FOUND")
        .await;
    let (_, body) = agent.get("/files/read?path=missing.txt").await;
    assert_eq!(
        body["error"]["message"],
        "no such file or directory: /workspace/missing.txt"
    );
}

#[tokio::test]
async fn read_refuses_binary_and_huge_files() {
    let agent = spawn_agent().await;
    std::fs::write(agent.ws.path().join("bin"), [0xff, 0xfe, 0]).unwrap();
    agent
        .expect_error("/files/read?path=bin", 422, "NOT_TEXT")
        .await;
    let big = std::fs::File::create(agent.ws.path().join("big")).unwrap();
    big.set_len(10 * 1024 * 1024 + 1).unwrap();
    agent
        .expect_error("/files/read?path=big", 413, "PAYLOAD_TOO_LARGE")
        .await;
}

#[tokio::test]
async fn json_uploads() {
    let agent = spawn_agent().await;
    let upload = |body: Value| agent.post("/files/upload", body);
    let (status, body) = upload(json!({
        "targetDir": "/workspace/up", "fileName": "a.txt", "content": "hi"
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({"path": "/workspace/up/a.txt", "size": 2}));
    assert_eq!(
        std::fs::read(agent.ws.path().join("up/a.txt")).unwrap(),
        b"hi"
    );

    let (status, body) = upload(json!({
        "targetDir": "", "fileName": "b.bin", "content": "AP8A/w==", "encoding": "base64"
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({"path": "/workspace/b.bin", "size": 4}));
    assert_eq!(
        std::fs::read(agent.ws.path().join("b.bin")).unwrap(),
        [0, 255, 0, 255]
    );

    for name in ["", ".", "..", "a/b", "../x"] {
        let (status, body) = upload(json!({
            "targetDir": "/workspace", "fileName": name, "content": "x"
        }))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert_eq!(body["error"]["code"], "VALIDATION_FAILED");
    }
    let (status, body) = upload(json!({
        "targetDir": "/workspace", "fileName": "c", "content": "@@@", "encoding": "base64"
    }))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "VALIDATION_FAILED");
    let (status, body) = upload(json!({
        "targetDir": "/etc", "fileName": "c", "content": "x"
    }))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], OUTSIDE);
}

#[tokio::test]
async fn raw_upload_streams_and_downloads_identically() {
    let agent = spawn_agent().await;
    let data: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    // Send in 64 KiB chunks without a Content-Length (chunked transfer encoding).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        data.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let res = agent
        .authed(Method::POST, "/files/upload?path=/workspace/blobs/x.bin")
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"path": "/workspace/blobs/x.bin", "size": data.len()})
    );
    let leftovers: Vec<_> = std::fs::read_dir(agent.ws.path().join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["x.bin"]);

    let res = agent
        .authed(Method::GET, "/files/download?path=blobs/x.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(headers["content-length"], data.len().to_string().as_str());
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"x.bin\""
    );
    let downloaded = res.bytes().await.unwrap();
    assert!(downloaded[..] == data[..], "downloaded bytes differ");

    // A raw upload needs ?path=; downloading a directory is a conflict.
    let res = agent
        .authed(Method::POST, "/files/upload")
        .header("content-type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    agent
        .expect_error("/files/download?path=blobs", 409, "CONFLICT")
        .await;
    agent
        .expect_error("/files/download?path=nope", 404, "NOT_FOUND")
        .await;
}

#[tokio::test]
async fn mkdir_rename_delete() {
    let agent = spawn_agent().await;
    let ok = |path: &str| json!({"path": path, "ok": true});
    let (status, body) = agent.post("/files/mkdir", json!({"path": "a/b/c"})).await;
    assert_eq!((status, body), (StatusCode::OK, ok("/workspace/a/b/c")));
    let (status, _) = agent.post("/files/mkdir", json!({"path": "a/b/c"})).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "parents=true tolerates an existing dir"
    );
    agent
        .expect_post(
            "/files/mkdir",
            json!({"path": "a/b/c", "parents": false}),
            409,
        )
        .await;
    agent
        .expect_post(
            "/files/mkdir",
            json!({"path": "x/y", "parents": false}),
            404,
        )
        .await;
    agent
        .expect_post(
            "/files/mkdir",
            json!({"path": "/workspace", "parents": false}),
            409,
        )
        .await;

    agent
        .post("/files/write", json!({"path": "a/f.txt", "content": "1"}))
        .await;
    agent
        .post("/files/write", json!({"path": "g.txt", "content": "2"}))
        .await;
    let (status, body) = agent
        .post(
            "/files/rename",
            json!({"from": "a/f.txt", "to": "/workspace/h.txt"}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, ok("/workspace/h.txt")));
    agent
        .expect_post("/files/rename", json!({"from": "a/f.txt", "to": "z"}), 404)
        .await;
    agent
        .expect_post(
            "/files/rename",
            json!({"from": "h.txt", "to": "g.txt"}),
            409,
        )
        .await;
    let (status, _) = agent
        .post(
            "/files/rename",
            json!({"oldPath": "h.txt", "newPath": "g.txt", "overwrite": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        std::fs::read_to_string(agent.ws.path().join("g.txt")).unwrap(),
        "1"
    );
    agent
        .expect_post(
            "/files/rename",
            json!({"from": "/workspace", "to": "w2"}),
            409,
        )
        .await;
    agent
        .expect_post(
            "/files/rename",
            json!({"from": "g.txt", "to": "../g.txt"}),
            400,
        )
        .await;
    agent
        .expect_post("/files/rename", json!({"from": "a", "to": "a/b/a"}), 409)
        .await;

    agent
        .expect_post("/files/delete", json!({"path": "a"}), 409)
        .await;
    let (status, body) = agent
        .post("/files/delete", json!({"path": "a", "recursive": true}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, ok("/workspace/a")));
    agent
        .expect_post("/files/delete", json!({"path": "a"}), 404)
        .await;
    let (_, body) = agent
        .expect_post(
            "/files/delete",
            json!({"path": "/workspace", "recursive": true}),
            409,
        )
        .await;
    assert_eq!(
        body["error"]["message"],
        "refusing to delete the workspace root"
    );
    let (status, _) = agent.post("/files/delete", json!({"path": "g.txt"})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!agent.ws.path().join("g.txt").exists());
}
