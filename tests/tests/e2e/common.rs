//! Small helpers shared by the scenarios.

use serde_json::Value;

/// `/api/instances/{id}` + `suffix`.
pub fn inst(id: &str, suffix: &str) -> String {
    format!("/api/instances/{id}{suffix}")
}

/// The timestamp format of the API (`2026-03-20T18:22:54.000Z`).
#[track_caller]
pub fn assert_timestamp(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {v}"));
    let b = s.as_bytes();
    let ok = s.len() == 24
        && s.ends_with('Z')
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && s.chars()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16 | 19 | 23) || c.is_ascii_digit());
    assert!(ok, "not a `YYYY-MM-DDTHH:MM:SS.mmmZ` timestamp: {s}");
}

/// `(from, to)` pairs of a status view's transitions.
pub fn transitions(status: &Value) -> Vec<(Option<String>, String)> {
    status["transitions"]
        .as_array()
        .unwrap_or_else(|| panic!("no transitions in {status}"))
        .iter()
        .map(|t| {
            (
                t["from"].as_str().map(str::to_owned),
                t["to"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Whether the status view records a `from` → `to` transition.
pub fn has_transition(status: &Value, from: &str, to: &str) -> bool {
    transitions(status)
        .iter()
        .any(|(f, t)| f.as_deref() == Some(from) && t == to)
}

/// Entries of a listing by name.
pub fn entry<'a>(listing: &'a Value, name: &str) -> Option<&'a Value> {
    listing["entries"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}
