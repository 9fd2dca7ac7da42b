//! The agent bundle never goes stale: every API path `llms.txt`, `llms-full.md`, `agent.md`,
//! `SKILL.md` and the helper client mention exists in the served OpenAPI spec, with a method the
//! spec has for it where the text names one (`GET /api/...`).

use std::collections::{BTreeMap, BTreeSet};

use orchestrator::api::bundle::DOCUMENTS;

use crate::helpers::{ADMIN_KEY, spawn_app};

/// `/api/instances/{id}/files` → `/api/instances/{}/files`: any placeholder segment (`{x}`,
/// `$ID`, `<id>`, `INSTANCE_ID`, `:id`, `${id}`) becomes `{}`.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let placeholder = seg.starts_with('{')
                || seg.starts_with('$')
                || seg.starts_with('<')
                || seg.starts_with(':')
                || (seg.len() > 1
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()));
            if placeholder { "{}" } else { seg }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `/api...` path in `text`, with the HTTP method written right before it (if any).
fn mentioned(text: &str) -> Vec<(Option<String>, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("/api") {
        let before = &rest[..at];
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || "/{}$<>_-.:".contains(c)) || c == '`')
            .unwrap_or(tail.len());
        let mut path = tail[..end].trim_end_matches(['.', ':', ',']).to_owned();
        // Not an API path: a host name (`https://api.openai.com`) or code (`/api$/`).
        let next = path.as_bytes().get(4).copied();
        if before.ends_with('/') || !matches!(next, None | Some(b'/')) {
            rest = &tail[end.max(1)..];
            continue;
        }
        // `.../files/read` style elisions and wildcards name no single route.
        if path.contains("...") || path.contains('*') {
            rest = &tail[end..];
            continue;
        }
        // A URL: only its path counts.
        if let Some(q) = path.find('?') {
            path.truncate(q);
        }
        let method = before
            .split_whitespace()
            .last()
            .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphabetic()))
            .filter(|w| ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(w))
            .map(|w| w.to_ascii_lowercase());
        // Paths glued to a base URL (`{{BASE_URL}}/api/...`, `$BASE/api/...`) count too.
        if path.len() > "/api".len() || path == "/api" {
            found.push((method, path));
        }
        rest = &tail[end.max(1)..];
    }
    found
}

#[tokio::test]
async fn every_path_the_bundle_mentions_is_in_the_spec() {
    let app = spawn_app().await;
    let (status, spec) = app.get("/api/openapi.json", ADMIN_KEY).await;
    assert_eq!(status, 200);
    let routes: BTreeMap<String, BTreeSet<String>> = spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(p, item)| {
            let methods = item
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            (shape(p), methods)
        })
        .collect();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (doc, _, text) in DOCUMENTS {
        for (method, path) in mentioned(text) {
            checked += 1;
            let key = shape(&path);
            match routes.get(&key) {
                None => missing.push(format!("{doc}: {path} (no such path)")),
                Some(methods) => {
                    if let Some(m) = &method
                        && !methods.contains(m)
                    {
                        missing.push(format!(
                            "{doc}: {} {path} (no such method)",
                            m.to_uppercase()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} paths found: is the scan broken?"
    );
    assert!(
        missing.is_empty(),
        "the bundle mentions routes the spec does not have:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_scan_finds_paths_and_methods() {
    let text = "Use `GET /api/instances/{instanceId}/status` or curl {{BASE_URL}}/api/instances/$ID/files?path=x. See /api.";
    assert_eq!(
        mentioned(text),
        vec![
            (
                Some("get".into()),
                "/api/instances/{instanceId}/status".into()
            ),
            (None, "/api/instances/$ID/files".into()),
            (None, "/api".into()),
        ]
    );
    assert_eq!(shape("/api/instances/$ID/files"), "/api/instances/{}/files");
    assert_eq!(shape("/api/keys/KEY_ID"), "/api/keys/{}");
}
