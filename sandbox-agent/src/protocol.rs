//! The wire contract between the orchestrator and the sandbox-agent.
//!
//! **Invariant:** every type exchanged between the two binaries is defined here and only here.
//! The orchestrator relays customer requests for files and exec to the agent byte for byte, so
//! these types are also the customer-facing request and response bodies of those routes.
//!
//! They derive `utoipa::ToSchema` for the orchestrator's OpenAPI spec; the derives and the
//! `#[schema(...)]` examples are documentation only and never change the wire shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The virtual path of the workspace as customers and the agent inside the sandbox see it.
pub const WORKSPACE: &str = "/workspace";

/// Header carrying the per-instance agent token (`Authorization: Bearer <token>`).
pub const AUTHORIZATION: &str = "authorization";

/// Paths the agent serves without a token. Everything else requires the per-instance token.
pub const OPEN_PATHS: &[&str] = &["/health"];

/// Agent routes, relative to the agent's root. The orchestrator maps
/// `/api/instances/{id}/<suffix>` onto these.
pub mod routes {
    pub const HEALTH: &str = "/health";
    pub const FILES: &str = "/files";
    pub const FILES_READ: &str = "/files/read";
    pub const FILES_WRITE: &str = "/files/write";
    pub const FILES_UPLOAD: &str = "/files/upload";
    pub const FILES_MKDIR: &str = "/files/mkdir";
    pub const FILES_RENAME: &str = "/files/rename";
    pub const FILES_DELETE: &str = "/files/delete";
    pub const FILES_DOWNLOAD: &str = "/files/download";
    pub const EXEC: &str = "/exec";
    /// `GET`: the OpenClaw gateway's state ([`super::GatewayStatus`]).
    pub const GATEWAY: &str = "/gateway";
    /// `POST`: passed through to the gateway's OpenAI-compatible endpoint with the gateway's
    /// own token added; `x-openclaw-session-key` and the (streamed) body go through unchanged.
    pub const GATEWAY_CHAT: &str = "/gateway/v1/chat/completions";
    /// `GET` with a websocket upgrade: an interactive terminal (customer route
    /// `/api/instances/{id}/terminal/ws`). Query: [`super::PtyQuery`]; frames: see
    /// [`super::PtyServerFrame`].
    pub const PTY: &str = "/pty";
    /// `GET`: the virtual desktop's state ([`super::DesktopStatus`]); `POST`: start it if it
    /// is not running and answer with its state once it accepts VNC connections.
    pub const DESKTOP: &str = "/desktop";
    /// `GET` with a websocket upgrade: the desktop's RFB (VNC) stream, byte for byte (customer
    /// route `/api/instances/{id}/vnc/ws`). Starts the desktop first if needed.
    pub const VNC: &str = "/vnc";
    /// `GET`: a directory of the sandbox as one tar stream; `PUT` (body: such a stream): unpack
    /// it into that directory. `{part}` is [`super::ARCHIVE_WORKSPACE`] or
    /// [`super::ARCHIVE_HOME`]. The orchestrator's own route (never relayed to customers): it
    /// moves a sleeping instance's storage into a warm-pool pod on Kubernetes.
    pub const ARCHIVE: &str = "/archive/{part}";
    /// `GET`: how much `/archive/{part}` would carry ([`super::ArchiveSize`]), without reading
    /// any file.
    pub const ARCHIVE_SIZE: &str = "/archive/{part}/size";
}

/// `/archive/workspace`: the workspace. A `PUT` replaces what it holds.
pub const ARCHIVE_WORKSPACE: &str = "workspace";
/// `/archive/home`: the sandbox user's home (`HOME`). A `PUT` merges: where the home already
/// has a file of the same name (the running gateway's own), that file stays.
pub const ARCHIVE_HOME: &str = "home";

/// The path of an archive route for `part`.
pub fn archive_route(part: &str) -> String {
    routes::ARCHIVE.replace("{part}", part)
}

/// Body of `GET /archive/{part}/size`: the bytes of the regular files in the directory, and
/// its entries (files, directories, links), counted without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveSize {
    pub bytes: u64,
    pub entries: u64,
}

/// Fixed addresses inside a sandbox's own network namespace (only `lo`), so fixed ports
/// cannot collide between sandboxes.
pub mod sandbox {
    /// Where the OpenClaw gateway listens.
    pub const GATEWAY_PORT: u16 = 18789;
    /// Where the agent's model forwarder listens; the gateway's only model provider.
    pub const MODEL_PORT: u16 = 18790;
    /// The unix socket (bound into the sandbox) the model forwarder sends model calls to; the
    /// orchestrator serves it and adds the tenant's provider and key.
    pub const MODEL_SOCKET: &str = "/run/ocaas/model.sock";
    /// Provider id and model id the gateway is configured with. The orchestrator maps them to
    /// the tenant's real provider and model, so assigning a tenant never changes gateway config.
    pub const PROVIDER_ID: &str = "ocaas";
    pub const MODEL_ID: &str = "default";
    /// Header naming the OpenClaw session of a chat turn.
    pub const SESSION_HEADER: &str = "x-openclaw-session-key";
    /// Request header of `POST /gateway/v1/chat/completions`: how many milliseconds to wait
    /// for a booting (or restarting) gateway before answering `503` (default 0).
    pub const WAIT_HEADER: &str = "x-ocaas-wait-ms";
    /// The largest [`WAIT_HEADER`] value honoured (5 min); larger values are capped.
    pub const MAX_WAIT_MS: u64 = 300_000;
}

/// State of the OpenClaw gateway the agent supervises.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GatewayState {
    /// This sandbox runs no gateway (OpenClaw not installed or not configured).
    Disabled,
    /// Started, not yet answering `/readyz`.
    Booting,
    /// Answering.
    Ready,
    /// Exited; the agent restarts it with back-off.
    Crashed,
    /// Stopping with the sandbox.
    Stopping,
}

/// `GET /gateway`: the OpenClaw gateway's state (shown as `gateway` in an instance's status).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[schema(example = json!({"state": "ready", "restarts": 0, "boot_ms": 14210, "rss_bytes": 412_000_000_u64}))]
pub struct GatewayStatus {
    pub state: GatewayState,
    /// Why it is in this state (crash reason, last exit status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Restarts since the agent started.
    pub restarts: u32,
    /// Milliseconds from the latest start to `/readyz`, once ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_ms: Option<u64>,
    /// Resident memory of the gateway's process tree, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
    /// Names the gateway's session store (its state directory). It changes only when the
    /// store is a new one — a fresh state directory, such as a warm-pool sandbox's — so the
    /// orchestrator can tell whether the gateway remembers a conversation or must be given
    /// its history again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
}

/// `GET /health`: the agent is up and serving.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Health {
    pub ok: bool,
    /// Agent version (the crate version).
    pub version: String,
    /// Seconds since the agent started.
    pub uptime_s: u64,
}

/// A query naming one path, e.g. `?path=/workspace/notes.txt`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PathQuery {
    /// Absolute (`/workspace/...`) or workspace-relative path. Defaults to `/workspace`.
    #[serde(default = "default_path")]
    #[param(required = false, example = "/workspace/notes.txt")]
    pub path: String,
}

fn default_path() -> String {
    WORKSPACE.to_owned()
}

/// Kind of a directory entry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    File,
    Directory,
    Symlink,
    Other,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[schema(example = json!({"name": "notes.txt", "path": "/workspace/notes.txt", "type": "file", "size": 18, "modified_at": "2026-03-20T18:22:54Z"}))]
pub struct FileEntry {
    /// File name within its directory.
    pub name: String,
    /// Absolute path as seen in the sandbox (`/workspace/...`).
    pub path: String,
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// Size in bytes (for symlinks: the link itself).
    pub size: u64,
    /// Last modification time, RFC 3339 UTC.
    pub modified_at: String,
}

/// `GET /files?path=`: the entries of one directory, directories first, then by name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"path": "/workspace", "entries": [
    {"name": "src", "path": "/workspace/src", "type": "directory", "size": 4096, "modified_at": "2026-03-20T18:20:11Z"},
    {"name": "notes.txt", "path": "/workspace/notes.txt", "type": "file", "size": 18, "modified_at": "2026-03-20T18:22:54Z"}
]}))]
pub struct ListResponse {
    /// The directory listed, as an absolute path.
    pub path: String,
    pub entries: Vec<FileEntry>,
}

/// `GET /files/read?path=`: a UTF-8 text file's content.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"path": "/workspace/notes.txt", "content": "Hello from the API", "size": 18}))]
pub struct ReadResponse {
    /// The file, as an absolute path.
    pub path: String,
    /// The whole file, UTF-8.
    pub content: String,
    /// Size in bytes.
    pub size: u64,
}

/// `POST /files/write`: create or replace a text file. Missing parent directories are created.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"path": "/workspace/notes.txt", "content": "Hello from the API"}))]
pub struct WriteRequest {
    /// Absolute (`/workspace/...`) or workspace-relative path of the file.
    pub path: String,
    /// The file's new content (UTF-8 text; for bytes use `files/upload`).
    pub content: String,
}

/// Content encoding of an upload.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Utf8,
    Base64,
}

/// `POST /files/upload` with a JSON body (seed 001 shape). For large or binary files send the
/// raw bytes instead: `POST /files/upload?path=/workspace/x.bin` with
/// `Content-Type: application/octet-stream`; the body is streamed to disk.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"targetDir": "/workspace/assets", "fileName": "logo.png", "content": "iVBORw0KGgo=", "encoding": "base64"}))]
pub struct UploadRequest {
    /// Directory to put the file in (created if missing).
    pub target_dir: String,
    /// Plain file name, no `/`.
    pub file_name: String,
    /// The file's content, as `encoding` says.
    pub content: String,
    /// `utf8` (default) or `base64`.
    #[serde(default)]
    pub encoding: Encoding,
}

/// Result of a write or upload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[schema(example = json!({"path": "/workspace/notes.txt", "size": 18}))]
pub struct WrittenFile {
    /// The file written, as an absolute path.
    pub path: String,
    /// Bytes written.
    pub size: u64,
}

/// `POST /files/mkdir`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"path": "/workspace/src/lib", "parents": true}))]
pub struct MkdirRequest {
    /// The directory to create.
    pub path: String,
    /// Create missing parents too (default `true`); an existing directory is not an error.
    #[serde(default = "yes")]
    pub parents: bool,
}

/// `POST /files/rename`: move `from` to `to` (both inside the workspace).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"from": "/workspace/notes.txt", "to": "/workspace/docs/notes.txt"}))]
pub struct RenameRequest {
    /// The file or directory to move (also accepted as `oldPath`, `old_path`, `source`).
    #[serde(alias = "oldPath", alias = "old_path", alias = "source")]
    pub from: String,
    /// Where to move it; its parent must exist (also accepted as `newPath`, `new_path`,
    /// `destination`).
    #[serde(alias = "newPath", alias = "new_path", alias = "destination")]
    pub to: String,
    /// Replace an existing `to` (default `false`: an existing target is `409`).
    #[serde(default)]
    pub overwrite: bool,
}

/// `POST /files/delete`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"path": "/workspace/build", "recursive": true}))]
pub struct DeleteRequest {
    /// The file or directory to delete (never the workspace root).
    pub path: String,
    /// Required to delete a non-empty directory.
    #[serde(default)]
    pub recursive: bool,
}

/// Result of mkdir, rename and delete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[schema(example = json!({"path": "/workspace/docs/notes.txt", "ok": true}))]
pub struct PathResult {
    /// The path created, moved to, or deleted, as an absolute path.
    pub path: String,
    /// Always `true` (failures are errors).
    pub ok: bool,
}

fn yes() -> bool {
    true
}

/// `POST /exec` (customer route `POST /api/instances/{id}/terminal/exec`): run one command with
/// `/bin/sh -c` inside the sandbox.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"command": "ls -la && cat notes.txt", "timeout_ms": 5000, "cwd": "/workspace", "env": {"LANG": "C.UTF-8"}}))]
pub struct ExecRequest {
    /// A shell command line, run as `/bin/sh -c <command>`.
    pub command: String,
    /// Kill the command's whole process group after this many milliseconds
    /// (default 30 000, at most 600 000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Working directory inside the workspace (default `/workspace`).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Result of one command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[schema(example = json!({"command": "pwd", "stdout": "/workspace\n", "stderr": "", "exit_code": 0, "duration_ms": 4, "timed_out": false, "truncated": false}))]
pub struct ExecResponse {
    /// The command as given.
    pub command: String,
    /// Standard output, UTF-8 (invalid bytes replaced), at most 1 MiB.
    pub stdout: String,
    /// Standard error, UTF-8 (invalid bytes replaced), at most 1 MiB.
    pub stderr: String,
    /// The exit status; `128 + signal` when a signal ended the command (so `137` after a
    /// timeout kill).
    pub exit_code: i32,
    /// Wall-clock run time.
    pub duration_ms: u64,
    /// The command ran past `timeout_ms` and its process group was killed.
    pub timed_out: bool,
    /// stdout or stderr exceeded the output cap and was cut.
    pub truncated: bool,
}

/// Query of `GET /pty` (websocket upgrade): open a new terminal, or reattach to one.
///
/// # The terminal protocol
///
/// Errors before the upgrade are plain HTTP responses with the error envelope: a malformed
/// query is `400 BAD_REQUEST`, `cols`/`rows` outside `1..=1000` are `422 VALIDATION_FAILED`, a
/// `cwd` outside the workspace is `400 PATH_OUTSIDE_WORKSPACE` (`404`/`409` if missing / not a
/// directory), an unknown or ended `session` is `404 NOT_FOUND`, too many terminals is
/// `409 CONFLICT`, and a request without websocket upgrade headers is `400 BAD_REQUEST`.
///
/// After the upgrade:
/// - **Binary frames** carry raw terminal bytes both ways: client → server is keyboard input
///   written to the PTY; server → client is the PTY's output.
/// - **Text frames** carry JSON. Client → server: [`PtyClientFrame`] (`{"type":"resize",...}`);
///   anything else is answered with `{"type":"error","message":...}` and the connection stays
///   open. Server → client: [`PtyServerFrame`]:
///   1. first, always: `{"type":"session","id":"<id>","cols":C,"rows":R}`;
///   2. on reattach, the scrollback (the last [`limits::PTY_SCROLLBACK_BYTES`] of output) as
///      binary frames, then live output;
///   3. when the shell exits: `{"type":"exit","code":N}` (`N` = exit status, or `128 + signal`),
///      then a close frame with code 1000. Any process the shell left behind is killed.
///
/// Lifetime of a terminal (its shell runs in its own session, `setsid`):
/// - The client sends a **close frame with code 1000**: "I'm done". Every process of the
///   terminal's session (the shell, its jobs, `sleep 1000 &`) is killed at once (SIGKILL) and
///   the terminal is forgotten.
/// - The connection **drops** (no close frame, or a close frame with any other code, e.g. 1001
///   from a closing browser tab): the terminal stays alive, output goes on into the
///   scrollback only, and `GET /pty?session=<id>` reattaches within the grace period (agent
///   flag `--pty-grace-secs`, default [`limits::PTY_DEFAULT_GRACE_SECS`]). After it the
///   session's processes get SIGHUP, SIGKILL 2 s later, and the id answers `404`.
/// - **One client at a time**: attaching to a terminal that has a client takes it over; the
///   old connection is closed with code 1000 and reason [`PTY_TAKEN_OVER`].
/// - When the agent shuts down, every terminal's processes are killed.
///
/// Back-pressure: a client that stops reading eventually stops the shell (its writes to the
/// tty block), as with a real terminal; the agent buffers a bounded amount per terminal.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PtyQuery {
    /// Columns, `1..=1000`. Default 80 for a new terminal; on reattach, resizes if given.
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000, example = 120)]
    pub cols: Option<u16>,
    /// Rows, `1..=1000`. Default 24 for a new terminal; on reattach, resizes if given.
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000, example = 40)]
    pub rows: Option<u16>,
    /// Reattach to this terminal instead of opening a new one.
    #[serde(default)]
    pub session: Option<String>,
    /// Working directory of a new terminal's shell, inside the workspace (default
    /// `/workspace`). Ignored on reattach.
    #[serde(default)]
    pub cwd: Option<String>,
}

/// A JSON text frame from the client on `GET /pty` (customer route `terminal/ws`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PtyClientFrame {
    /// `{"type":"resize","cols":N,"rows":M}`; both `1..=1000`.
    Resize { cols: u16, rows: u16 },
}

/// A JSON text frame from the agent on `GET /pty` (customer route `terminal/ws`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PtyServerFrame {
    /// `{"type":"session","id":"...","cols":C,"rows":R}`: the first frame of every connection;
    /// `id` is what `?session=` takes to reattach.
    Session { id: String, cols: u16, rows: u16 },
    /// `{"type":"exit","code":N}`: the shell exited (`128 + signal` if a signal ended it). The
    /// last frame before the close frame (code 1000).
    Exit { code: i32 },
    /// `{"type":"error","message":"..."}`: a text frame from the client was not understood.
    Error { message: String },
}

/// `GET /desktop`: the sandbox's virtual desktop (Xvfb, a window manager and an xterm, shown
/// by x11vnc on the sandbox's loopback).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[schema(example = json!({"state": "running", "width": 1280, "height": 800, "boot_ms": 480}))]
pub struct DesktopStatus {
    /// `off` (never started, or stopped), `starting`, `running`, or `failed` (see `reason`).
    pub state: String,
    /// Screen width in pixels.
    pub width: u32,
    /// Screen height in pixels.
    pub height: u32,
    /// How long the last start took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_ms: Option<u64>,
    /// Why the last start failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The close reason sent (with code 1000) to a client whose terminal another client attached to.
pub const PTY_TAKEN_OVER: &str = "taken over";

/// Defaults and bounds shared by both sides.
pub mod limits {
    pub const EXEC_DEFAULT_TIMEOUT_MS: u64 = 30_000;
    pub const EXEC_MAX_TIMEOUT_MS: u64 = 600_000;
    /// Per stream (stdout, stderr).
    pub const EXEC_OUTPUT_CAP: usize = 1024 * 1024;
    /// Largest file `files/read` returns as text.
    pub const READ_MAX_BYTES: u64 = 10 * 1024 * 1024;
    /// Largest JSON body (write, upload with inline content).
    pub const JSON_MAX_BYTES: usize = 16 * 1024 * 1024;
    /// Terminal size of a new `GET /pty` without `cols`/`rows`.
    pub const PTY_DEFAULT_COLS: u16 = 80;
    pub const PTY_DEFAULT_ROWS: u16 = 24;
    /// Largest `cols` and `rows`.
    pub const PTY_MAX_DIM: u16 = 1000;
    /// Output kept per terminal and replayed on reattach.
    pub const PTY_SCROLLBACK_BYTES: usize = 64 * 1024;
    /// How long a terminal without a client waits for a reattach (agent default).
    pub const PTY_DEFAULT_GRACE_SECS: u64 = 60;
    /// Terminals at once per agent; one more is `409 CONFLICT`.
    pub const PTY_MAX_SESSIONS: usize = 32;
}

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $name:ident => $status:literal, $code:literal;)*) => {
        /// The one catalogue of error codes, shared by the orchestrator and the agent.
        /// Each row: variant, HTTP status, wire code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The HTTP status this code is sent with.
            pub const fn status(self) -> u16 {
                match self { $(ErrorCode::$name => $status,)* }
            }

            /// The `SCREAMING_SNAKE_CASE` code on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => $code,)* }
            }

            /// Parse a wire code.
            pub fn from_wire(s: &str) -> Option<Self> {
                match s { $($code => Some(ErrorCode::$name),)* _ => None }
            }

            /// What the code means: its doc comment in the catalogue (for the API docs).
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$name => concat!($($doc),*).trim(),)* }
            }
        }
    };
}

error_codes! {
    /// The request is malformed (bad query, bad header, unreadable body).
    BadRequest => 400, "BAD_REQUEST";
    /// The body is not valid JSON.
    InvalidJson => 400, "INVALID_JSON";
    /// A path is outside `/workspace`, contains `..`, or goes through a symlink that leads out.
    PathOutsideWorkspace => 400, "PATH_OUTSIDE_WORKSPACE";
    /// Missing, invalid or revoked API key.
    Unauthorized => 401, "UNAUTHORIZED";
    /// A Stripe webhook whose `Stripe-Signature` does not verify (wrong, tampered or stale).
    SignatureInvalid => 400, "SIGNATURE_INVALID";
    /// The key lacks the permission this route needs, or the account is not an admin.
    Forbidden => 403, "FORBIDDEN";
    /// A signed-in page's unsafe request without the session's `X-CSRF-Token`, or a sign-in
    /// from another site.
    CsrfFailed => 403, "CSRF_FAILED";
    /// The account owns as many instances as it may.
    QuotaExceeded => 403, "QUOTA_EXCEEDED";
    /// No such invite code.
    InviteInvalid => 403, "INVITE_INVALID";
    /// The invite code has expired.
    InviteExpired => 403, "INVITE_EXPIRED";
    /// The invite code has been redeemed as often as it may be.
    InviteExhausted => 403, "INVITE_EXHAUSTED";
    /// Creating instances needs an active subscription (or, where the gate allows, an invite
    /// code); `GET /api` says which gate is in force.
    SubscriptionRequired => 403, "SUBSCRIPTION_REQUIRED";
    /// This service does not take sign-ups; an operator creates accounts.
    SignUpClosed => 403, "SIGN_UP_CLOSED";
    /// Billing is not configured on this service.
    BillingDisabled => 404, "BILLING_DISABLED";
    /// No such resource for this account.
    NotFound => 404, "NOT_FOUND";
    /// No such route.
    RouteNotFound => 404, "ROUTE_NOT_FOUND";
    /// The method is not allowed on this route.
    MethodNotAllowed => 405, "METHOD_NOT_ALLOWED";
    /// The resource exists already, or the change conflicts with its current state.
    Conflict => 409, "CONFLICT";
    /// The instance is stopped, failed or being deleted: start it first.
    InstanceNotRunning => 409, "INSTANCE_NOT_RUNNING";
    /// The body is larger than this route accepts.
    PayloadTooLarge => 413, "PAYLOAD_TOO_LARGE";
    /// The body's content type is not accepted here.
    UnsupportedMediaType => 415, "UNSUPPORTED_MEDIA_TYPE";
    /// A field is missing, has the wrong type, or is out of range.
    ValidationFailed => 422, "VALIDATION_FAILED";
    /// The file is not UTF-8 text: use `files/download`.
    NotText => 422, "NOT_TEXT";
    /// Too many requests; see `retryAfter`.
    RateLimited => 429, "RATE_LIMITED";
    /// Something went wrong on our side; the request id is in the logs.
    Internal => 500, "INTERNAL";
    /// The AI model returned an error.
    ModelError => 502, "MODEL_ERROR";
    /// The instance's sandbox did not answer.
    SandboxUnavailable => 502, "SANDBOX_UNAVAILABLE";
    /// The node has no capacity for another running instance.
    CapacityExhausted => 503, "CAPACITY_EXHAUSTED";
    /// The service is starting or shutting down.
    Unavailable => 503, "UNAVAILABLE";
    /// The instance did not become ready in time.
    Timeout => 504, "TIMEOUT";
}

/// The error envelope: `{"error":{"code","message","retryAfter"?}}`. Every error the API
/// answers has this shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[schema(example = json!({"error": {"code": "NOT_FOUND", "message": "instance not found"}}))]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// The body of the error envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ErrorBody {
    /// A stable `SCREAMING_SNAKE_CASE` code from the catalogue.
    #[schema(schema_with = ErrorCode::schema)]
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Seconds to wait before retrying (429 and 503); the `Retry-After` header says the same.
    #[serde(rename = "retryAfter", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub retry_after: Option<u64>,
}

impl ErrorEnvelope {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorEnvelope {
            error: ErrorBody {
                code: code.as_str().to_owned(),
                message: message.into(),
                retry_after: None,
            },
        }
    }
}

impl ErrorCode {
    /// The OpenAPI schema of `error.code`: a string, one of the catalogue's codes, with a table
    /// of what each means and the status it comes with. Built from the catalogue itself, so
    /// the docs cannot list a code that does not exist or miss one that does.
    pub fn schema() -> utoipa::openapi::schema::Object {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let mut table = String::from(
            "A stable code from the catalogue; the HTTP status always matches it.\n\n\
             | code | status | meaning |\n|---|---|---|\n",
        );
        for code in ErrorCode::ALL {
            table.push_str(&format!(
                "| `{}` | {} | {} |\n",
                code.as_str(),
                code.status(),
                code.description()
            ));
        }
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
            .description(Some(table))
            .examples([serde_json::json!("NOT_FOUND")])
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert_eq!(ErrorCode::from_wire(code.as_str()), Some(*code));
            assert!((400..600).contains(&code.status()));
        }
        assert_eq!(ErrorCode::from_wire("NOPE"), None);
    }

    #[test]
    fn envelope_matches_seed_003() {
        let mut env = ErrorEnvelope::new(ErrorCode::RateLimited, "slow down");
        env.error.retry_after = Some(60);
        let v = serde_json::to_value(&env).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error":{"code":"RATE_LIMITED","message":"slow down","retryAfter":60}})
        );
    }

    #[test]
    fn pty_frames() {
        let v = serde_json::to_value(PtyServerFrame::Session {
            id: "ab".into(),
            cols: 80,
            rows: 24,
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"session","id":"ab","cols":80,"rows":24})
        );
        let v = serde_json::to_value(PtyServerFrame::Exit { code: 3 }).unwrap();
        assert_eq!(v, serde_json::json!({"type":"exit","code":3}));
        let r: PtyClientFrame =
            serde_json::from_str(r#"{"type":"resize","cols":100,"rows":30}"#).unwrap();
        assert_eq!(
            r,
            PtyClientFrame::Resize {
                cols: 100,
                rows: 30
            }
        );
        assert!(serde_json::from_str::<PtyClientFrame>(r#"{"type":"nope"}"#).is_err());
    }

    #[test]
    fn rename_accepts_aliases() {
        let r: RenameRequest =
            serde_json::from_str(r#"{"oldPath":"/workspace/a","newPath":"b"}"#).unwrap();
        assert_eq!((r.from.as_str(), r.to.as_str()), ("/workspace/a", "b"));
        assert!(!r.overwrite);
    }
}
