//! (b) Big files: streamed raw upload and download of 50 MiB, checked end to end with
//! SHA-256 on both sides of the sandbox boundary.

use std::sync::{Arc, Mutex};

use e2e::{PseudoRandom, Server, hex};
use futures_util::StreamExt as _;
use reqwest::Method;
use sha2::{Digest, Sha256};

use crate::common::{entry, inst};

const BIG: u64 = 50 * 1024 * 1024;

/// Stream a download into SHA-256; returns (hex digest, byte count, content-length header).
async fn download_sha256(
    s: &Server,
    key: &str,
    id: &str,
    path: &str,
) -> (String, u64, Option<u64>) {
    let url = s.url(&inst(id, "/files/download"), &[("path", path)]);
    let (resp, _) = s
        .send_streaming(s.request_url(Method::GET, url, Some(key)))
        .await;
    assert_eq!(resp.status().as_u16(), 200, "download {path}");
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/octet-stream")
    );
    let len = resp.content_length();
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("download {path} broke after {n} bytes: {e}"));
        n += chunk.len() as u64;
        hasher.update(&chunk);
    }
    (hex(&hasher.finalize()), n, len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_files_round_trip() {
    let s = Server::start().await;
    let k = s.key.as_str();
    let id = s.create_instance(k).await;
    s.wait_ready(k, &id).await;

    // 1. Raw upload of 50 MiB of deterministic pseudo-random bytes, generated and hashed chunk
    //    by chunk as reqwest pulls them (never more than one chunk in memory).
    let hasher = Arc::new(Mutex::new(Sha256::new()));
    let h = hasher.clone();
    let chunks = futures_util::stream::iter(PseudoRandom::new(0x0CAA5, BIG)).map(move |c| {
        h.lock().unwrap().update(&c);
        Ok::<_, std::io::Error>(c)
    });
    let url = s.url(
        &inst(&id, "/files/upload"),
        &[("path", "/workspace/big.bin")],
    );
    let r = s
        .send(
            s.request_url(Method::POST, url, Some(k))
                .header("content-type", "application/octet-stream")
                .body(reqwest::Body::wrap_stream(chunks)),
        )
        .await;
    let v = r.expect(201);
    assert_eq!(v["path"], "/workspace/big.bin", "{}", r.text);
    assert_eq!(v["size"], BIG, "{}", r.text);
    let local = hex(&hasher.lock().unwrap().clone().finalize());

    // 2. The listing shows the full size and no leftover temporary file.
    let l = s.list_dir(k, &id, "/workspace").await;
    let listing = l.expect(200);
    assert_eq!(
        entry(listing, "big.bin").map(|e| &e["size"]),
        Some(&BIG.into())
    );
    assert!(
        !l.text.contains(".ocaas-upload"),
        "temporary upload file left behind: {}",
        l.text
    );

    // 3. Download streams it back byte-identical, with a Content-Length.
    let (got, n, len) = download_sha256(&s, k, &id, "/workspace/big.bin").await;
    assert_eq!((n, len), (BIG, Some(BIG)));
    assert_eq!(got, local, "downloaded bytes differ from the uploaded ones");

    // 4. Inside the sandbox the file has the same hash.
    let out = s.sh(k, &id, "sha256sum /workspace/big.bin").await;
    assert_eq!(out.split_whitespace().next(), Some(local.as_str()), "{out}");

    // 5. Too big for files/read (a text API): 413, pointing at download.
    s.read_file(k, &id, "/workspace/big.bin")
        .await
        .expect_err(413, "PAYLOAD_TOO_LARGE");

    // 6. A file made inside the sandbox downloads byte-identical to what the sandbox hashes.
    let out = s
        .sh(
            k,
            &id,
            "head -c 10000000 /dev/urandom > r.bin; sha256sum r.bin",
        )
        .await;
    let inside = out.split_whitespace().next().expect("hash").to_owned();
    let (got, n, _) = download_sha256(&s, k, &id, "r.bin").await;
    assert_eq!(n, 10_000_000);
    assert_eq!(
        got, inside,
        "download of r.bin differs from the sandbox's file"
    );
    // Binary, under the read limit: files/read says it is not text.
    s.read_file(k, &id, "/workspace/r.bin")
        .await
        .expect_err(422, "NOT_TEXT");

    // 7. Replacing the big file with a small raw upload leaves only the small content.
    let url = s.url(&inst(&id, "/files/upload"), &[("path", "big.bin")]);
    let r = s
        .send(
            s.request_url(Method::POST, url, Some(k))
                .header("content-type", "application/octet-stream")
                .body("small now"),
        )
        .await;
    assert_eq!(r.expect(201)["size"], 9);
    assert_eq!(
        s.read_file(k, &id, "big.bin").await.expect(200)["content"],
        "small now"
    );

    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "sandbox processes left after shutdown: {:?}",
        leaked.processes
    );
}
