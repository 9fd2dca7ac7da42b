//! The OpenAPI spec against the routes the server really serves, and the spec and `/docs` as
//! served.
//!
//! **How the parity check works.** Every module mounts its routes through `api::Api`, which
//! records each (method, path) it registers; `api::routes()` replays the same mounting (the
//! same `configure` functions, the same `RELAYED` loop) and returns that record, plus the
//! routes served by middleware (`routes::OUTSIDE`, checked live below). So a route cannot be
//! added without appearing here, and this test fails until the spec describes it — and fails
//! for a spec path that nothing serves. Pages (the console, vendored libraries, the docs UI,
//! the agent bundle) are mounted with `Api::page`, are never in the spec, and must match the
//! allow-list below, so an API route cannot slip through as a page.

use std::collections::BTreeSet;

use orchestrator::api::{self, Kind};
use serde_json::Value;

use crate::helpers::spawn_app;

/// Where pages may live: not JSON API routes, so not in the spec.
fn page_allowed(path: &str) -> bool {
    let documents = api::bundle::DOCUMENTS.iter().map(|(p, _, _)| *p);
    matches!(
        path,
        "/console" | "/console/{tail:.*}" | "/vendor/{tail:.*}" | "/account" | "/account/{tail:.*}"
    ) || matches!(path, "/docs" | "/docs/{tail:.*}")
        || documents.clone().any(|p| p == path)
}

/// (METHOD, path) of every operation in the spec.
fn spec_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            let upper = method.to_ascii_uppercase();
            if [
                "GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
            ]
            .contains(&upper.as_str())
            {
                ops.insert((upper, path.clone()));
            }
        }
    }
    ops
}

fn spec_value() -> Value {
    serde_json::to_value(api::openapi::spec()).expect("spec serializes")
}

#[test]
fn every_route_is_in_the_spec_and_nothing_else() {
    let spec = spec_value();
    let documented = spec_operations(&spec);
    let registered = api::routes();

    let served: BTreeSet<(String, String)> = registered
        .iter()
        .filter(|r| r.kind == Kind::Api)
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    let pages: Vec<_> = registered.iter().filter(|r| r.kind == Kind::Page).collect();
    let stray_pages: Vec<_> = pages.iter().filter(|r| !page_allowed(&r.path)).collect();
    let documented_pages: Vec<_> = pages
        .iter()
        .filter(|p| documented.contains(&(p.method.clone(), p.path.clone())))
        .collect();
    let fmt = |items: &[&(String, String)]| match items {
        [] => "  (none)\n".to_owned(),
        _ => items.iter().map(|(m, p)| format!("  {m} {p}\n")).collect(),
    };
    assert!(
        undocumented.is_empty()
            && unserved.is_empty()
            && stray_pages.is_empty()
            && documented_pages.is_empty(),
        "the OpenAPI spec and the routes disagree\n\
         registered but not in the spec (add #[utoipa::path] and list it in api/openapi.rs):\n{}\
         in the spec but not registered:\n{}\
         pages outside the allow-list (an API route must be mounted with Api::resource):\n{:#?}\n\
         pages described in the spec:\n{:#?}",
        fmt(&undocumented),
        fmt(&unserved),
        stray_pages,
        documented_pages,
    );
    // The record really comes from the mounting: the relayed table and the modules are in it.
    for (suffix, method, _) in api::files::RELAYED {
        let route = (
            (*method).to_owned(),
            format!("/api/instances/{{id}}{suffix}"),
        );
        assert!(served.contains(&route), "{route:?} not recorded");
    }
    assert!(pages.iter().any(|p| p.path == "/console"));
}

#[test]
fn operations_are_unique_tagged_and_keyed_where_needed() {
    let spec = spec_value();
    let open: BTreeSet<&str> = [
        "/api",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/openapi.json",
        "/api/openapi.yaml",
        // Signing up and in make the session; Stripe signs its webhook instead.
        "/api/auth/sign-up",
        "/api/auth/sign-in",
        "/api/billing/webhook",
    ]
    .into();
    let mut ids = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty() && ids.insert(id.to_owned()),
                "{at}: operationId {id:?}"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{at}: no tag"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{at}: no summary"
            );
            let keyed = op["security"].as_array().is_some_and(|s| !s.is_empty());
            assert_eq!(keyed, !open.contains(path.as_str()), "{at}: security");
            if keyed {
                assert!(op["responses"]["401"].is_object(), "{at}: no 401");
            }
        }
    }
    assert_eq!(spec["openapi"], "3.1.0");
    assert_eq!(spec["info"]["title"], "OpenClaw as a Service");
    assert_eq!(spec["info"]["version"], env!("CARGO_PKG_VERSION"));
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["wsToken"]["in"], "query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_is_served_as_json_and_yaml() {
    let app = spawn_app().await;
    let get = |path: &str| app.client.get(app.url(path)).send();

    let r = get("/api/openapi.json").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let json: Value = serde_json::from_str(&r.text().await.unwrap()).expect("JSON parses");

    let r = get("/api/openapi.yaml").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/yaml");
    let text = r.text().await.unwrap();
    assert!(text.starts_with("openapi: 3.1.0"), "{}", &text[..80]);
    let yaml: Value = yaml_serde::from_str(&text).expect("YAML parses");

    assert_eq!(json, yaml, "the JSON and YAML documents differ");
    assert_eq!(json, spec_value(), "the served spec is not the built one");

    // Routes served outside `api::configure` are real.
    for (method, path) in api::routes::OUTSIDE {
        let r = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method} {path}");
    }
}

/// `src="..."` and `href="..."` values in an HTML page.
fn asset_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            urls.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    urls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_is_swagger_ui_from_this_server_only() {
    let app = spawn_app().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let browser_accept = "text/html,application/xhtml+xml,*/*;q=0.8";
    let r = no_redirects
        .get(app.url("/docs"))
        .header("accept", browser_accept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/docs/");

    // A client that is not a browser (curl, an agent given the docs URL) gets llms.txt.
    let r = no_redirects.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-location"], "/llms.txt");
    let text = r.text().await.unwrap();
    assert!(
        text.contains(&format!("{}/api/instances", app.base)),
        "{text}"
    );
    assert!(!text.contains("{{BASE_URL}}"));

    let r = app
        .client
        .get(app.url("/docs"))
        .header("accept", browser_accept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let urls = asset_urls(&html);
    assert!(urls.len() >= 3, "{urls:?}");
    for url in &urls {
        assert!(
            !url.contains("://") && !url.starts_with("//"),
            "/docs loads {url} from elsewhere"
        );
        let r = app
            .client
            .get(app.url(&format!("/docs/{}", url.trim_start_matches("./"))))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{url}");
    }

    // The initializer points at our spec, with nothing online (no validator badge).
    let init = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("\"/api/openapi.json\""), "{init}");
    assert!(
        !init.contains("http://") && !init.contains("https://"),
        "{init}"
    );
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
    assert!(init.contains("\"persistAuthorization\": true"), "{init}");

    let r = app
        .client
        .get(app.url("/docs/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// The spec is valid OpenAPI 3.1, by `openapi-spec-validator` (Python) when the machine has it;
/// skipped, loudly, when it does not.
#[test]
fn spec_validates_as_openapi_3_1() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let script = "import json, sys\n\
                  from openapi_spec_validator import validate\n\
                  validate(json.load(sys.stdin))\n";
    let child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("SKIPPED: no python3 to run openapi-spec-validator");
        return;
    };
    let json = api::openapi::spec().to_json().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named 'openapi_spec_validator'") {
        eprintln!(
            "SKIPPED: openapi-spec-validator is not installed (pip install openapi-spec-validator)"
        );
        return;
    }
    assert!(
        out.status.success(),
        "the spec is not valid OpenAPI 3.1:\n{stderr}"
    );
}
