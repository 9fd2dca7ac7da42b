//! **Stand-in** for an LLM provider: a scripted OpenAI-compatible model server on loopback.
//!
//! This machine cannot reach a real model provider, so `make run` (when no provider is
//! configured) and the tests point the real OpenClaw gateway at this server. It stands in for
//! the *model* only — never for OpenClaw. Its replies are scripted from the user's text:
//!
//! - `run: <command>` → a tool call of OpenClaw's `exec` tool with that command; once the
//!   gateway sends the tool's result back, it answers `Ran \`<command>\`: <output>`.
//! - `fail:` → HTTP 500 (to exercise model-error handling).
//! - anything else → `You said: <text>`, streamed word by word.
//!
//! Every request body is recorded so tests can check what the gateway really sent (history,
//! system prompt).

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use serde_json::{Value, json};

const INTERNAL_CONTEXT: &str = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>";

/// A running scripted model server.
#[derive(Clone)]
pub struct ScriptedModel {
    /// `http://127.0.0.1:<port>/v1`
    pub base_url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub body: Value,
    /// The `Authorization` header, if any (to check which key a provider was given).
    pub authorization: Option<String>,
}

impl ScriptedModel {
    /// Start on `127.0.0.1:0` inside the current Tokio runtime.
    pub fn start() -> std::io::Result<ScriptedModel> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let data = web::Data::new(requests.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::JsonConfig::default().limit(64 * 1024 * 1024))
                .route("/v1/models", web::get().to(models))
                .route("/v1/chat/completions", web::post().to(completions))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        tokio::spawn(server);
        Ok(ScriptedModel {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            requests,
        })
    }

    /// Every chat-completions request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.recorded().into_iter().map(|r| r.body).collect()
    }

    /// Every chat-completions request with its `Authorization` header.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests").clone()
    }
}

async fn models() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "object": "list",
        "data": [{"id": "scripted", "object": "model", "owned_by": "ocaas-stand-in"}]
    }))
}

/// The text a person typed: the last user message that is not OpenClaw's internal context,
/// without the timestamp prefix and the trailing `Runtime:` line the gateway adds.
pub fn user_text(body: &Value) -> String {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let text = messages
        .iter()
        .rev()
        .filter(|m| m["role"] == "user")
        .map(content_text)
        .find(|t| !t.contains(INTERNAL_CONTEXT))
        .unwrap_or_default();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("Runtime:"))
        .collect();
    let joined = kept.join("\n");
    // A turn given with earlier history arrives folded into one message: the history under
    // "[Chat messages since your last reply - for context]", then this marker and the text.
    if let Some((_, current)) = joined.split_once(CURRENT_MESSAGE) {
        let current = current.trim();
        return current
            .strip_prefix("User:")
            .unwrap_or(current)
            .trim()
            .to_owned();
    }
    let trimmed = joined.trim();
    // "[Mon 2026-11-23 08:00 UTC] hello" → "hello"
    match trimmed.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((_, rest)) => rest.trim().to_owned(),
        None => trimmed.to_owned(),
    }
}

/// How OpenClaw marks the new message when a request carries earlier history.
const CURRENT_MESSAGE: &str = "[Current message - respond to this]";

fn content_text(m: &Value) -> String {
    match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

enum Reply {
    Text(String),
    ToolCall(String),
    Fail,
}

fn script(body: &Value) -> Reply {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    // The gateway may append its internal-context message after a tool result, so look for a
    // tool result anywhere after the person's last message, not only at the end.
    let last_user = messages
        .iter()
        .rposition(|m| m["role"] == "user" && !content_text(m).contains(INTERNAL_CONTEXT))
        .unwrap_or(0);
    if let Some(result) = messages[last_user..]
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
    {
        let out: String = content_text(result).chars().take(400).collect();
        let cmd = messages[last_user..]
            .iter()
            .rev()
            .find_map(|m| m["tool_calls"][0]["function"]["arguments"].as_str())
            .and_then(|a| serde_json::from_str::<Value>(a).ok())
            .and_then(|a| a["command"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return Reply::Text(format!("Ran `{cmd}`: {}", out.trim()));
    }
    let text = user_text(body);
    if text.contains("fail:") {
        return Reply::Fail;
    }
    if let Some(pos) = text.find("run: ") {
        let cmd = text[pos + 5..]
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        return Reply::ToolCall(cmd);
    }
    Reply::Text(format!("You said: {text}"))
}

async fn completions(
    requests: web::Data<Arc<Mutex<Vec<Recorded>>>>,
    req: actix_web::HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let body = body.into_inner();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    requests.lock().expect("requests").push(Recorded {
        body: body.clone(),
        authorization,
    });
    let prompt_tokens = (body.to_string().len() / 4) as u64;
    let stream = body["stream"].as_bool().unwrap_or(false);
    let model = body["model"].as_str().unwrap_or("scripted").to_owned();
    let reply = script(&body);
    if let Reply::Fail = reply {
        return HttpResponse::InternalServerError().json(json!({
            "error": {"message": "scripted model failure", "type": "server_error"}
        }));
    }
    if !stream {
        let (message, finish) = match &reply {
            Reply::Text(t) => (json!({"role": "assistant", "content": t}), "stop"),
            Reply::ToolCall(cmd) => (
                json!({"role": "assistant", "content": null, "tool_calls": [tool_call(cmd)]}),
                "tool_calls",
            ),
            Reply::Fail => unreachable!(),
        };
        return HttpResponse::Ok().json(json!({
            "id": "chatcmpl-scripted", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage(prompt_tokens, 8),
        }));
    }
    let mut chunks: Vec<Value> = Vec::new();
    let completion_tokens;
    match reply {
        Reply::Text(t) => {
            completion_tokens = (t.len() / 4).max(1) as u64;
            chunks.push(delta(
                &model,
                json!({"role": "assistant", "content": ""}),
                None,
            ));
            let words: Vec<&str> = t.split_inclusive(' ').collect();
            for w in words {
                chunks.push(delta(&model, json!({"content": w}), None));
            }
            chunks.push(delta(&model, json!({}), Some("stop")));
        }
        Reply::ToolCall(cmd) => {
            completion_tokens = 12;
            let mut call = tool_call(&cmd);
            call["index"] = 0.into();
            chunks.push(delta(
                &model,
                json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                None,
            ));
            chunks.push(delta(&model, json!({}), Some("tool_calls")));
        }
        Reply::Fail => unreachable!(),
    }
    chunks.push(json!({
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": model,
        "choices": [], "usage": usage(prompt_tokens, completion_tokens),
    }));
    let frames = futures_util::stream::iter(chunks.into_iter().map(|c| format!("data: {c}\n\n")))
        .chain(futures_util::stream::iter(["data: [DONE]\n\n".to_owned()]))
        .then(|frame| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok::<_, std::convert::Infallible>(Bytes::from(frame))
        });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(frames)
}

use futures_util::StreamExt;

fn tool_call(cmd: &str) -> Value {
    json!({
        "id": format!("call_{}", uuid::Uuid::new_v4().simple()),
        "type": "function",
        "function": {"name": "exec", "arguments": json!({"command": cmd}).to_string()},
    })
}

fn delta(model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_typed_text_behind_openclaw_wrapping() {
        let body = json!({"messages": [
            {"role": "system", "content": "You are..."},
            {"role": "user", "content": "[Mon 2026-11-23 08:00 UTC] hello there\nRuntime: agent=main"},
            {"role": "user", "content": format!("{INTERNAL_CONTEXT} stuff")},
        ]});
        assert_eq!(user_text(&body), "hello there");
        assert!(matches!(script(&body), Reply::Text(t) if t == "You said: hello there"));
    }

    #[test]
    fn finds_the_new_message_in_a_turn_given_with_its_history() {
        // What OpenClaw sent when a request carried earlier turns (measured).
        let folded = "[Sat 2026-12-05 17:17 UTC] [Chat messages since your last reply - for context]\nUser: My name is Zebulon.\nAssistant: Nice to meet you.\n\n[Current message - respond to this]\nUser: What is my name?\n\nRuntime: agent=main";
        let body = json!({"messages": [{"role": "user", "content": folded}]});
        assert_eq!(user_text(&body), "What is my name?");
    }

    #[test]
    fn scripts_tool_calls_and_failures() {
        let run =
            json!({"messages": [{"role": "user", "content": "please run: echo hi > out.txt"}]});
        assert!(matches!(script(&run), Reply::ToolCall(c) if c == "echo hi > out.txt"));
        let fail = json!({"messages": [{"role": "user", "content": "fail: now"}]});
        assert!(matches!(script(&fail), Reply::Fail));
        let after_tool = json!({"messages": [
            {"role": "user", "content": "run: ls"},
            {"role": "assistant", "tool_calls": [tool_call("ls")]},
            {"role": "tool", "content": "a.txt\n"},
            {"role": "user", "content": format!("{INTERNAL_CONTEXT} x")},
        ]});
        assert!(matches!(script(&after_tool), Reply::Text(t) if t == "Ran `ls`: a.txt"));
    }
}
