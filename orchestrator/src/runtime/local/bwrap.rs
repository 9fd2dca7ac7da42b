//! The bubblewrap command line of a sandbox, and what it is meant to guarantee.
//!
//! The sandbox runs as an unprivileged host uid inside its own user, PID, mount, IPC, UTS and
//! network namespaces, with no capabilities. Its filesystem is a fresh tmpfs root with:
//! `/usr` read-only, a short allow-list of `/etc` files read-only (never `shadow`), its own
//! `passwd`/`group`, `/workspace` and `/state` (the instance's storage) read-write, a private
//! size-limited `/tmp`, and `/run/ocaas` holding the agent's unix socket. The network
//! namespace has only `lo`: nothing in the sandbox can reach the host's ports, the
//! orchestrator, or another sandbox; the orchestrator reaches the agent through its socket.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// `/etc` entries a sandbox needs to run ordinary programs. Everything else in `/etc`
/// (notably `shadow`, `gshadow`, `sudoers`, ssh host keys) stays out of sight.
const ETC_ALLOW: &[&str] = &[
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "fonts",
    "gai.conf",
    "host.conf",
    "hosts",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "profile",
    "profile.d",
    "protocols",
    "resolv.conf",
    "services",
    "ssl",
    "terminfo",
    "timezone",
    "X11",
    "xdg",
];

/// Where things appear inside the sandbox.
pub const AGENT_IN_SANDBOX: &str = "/opt/ocaas/bin/sandbox-agent";
pub const RUN_IN_SANDBOX: &str = "/run/ocaas";
pub const OPENCLAW_IN_SANDBOX: &str = "/opt/openclaw";

/// Host paths one sandbox is built from.
pub struct Mounts<'a> {
    pub agent_bin: &'a Path,
    pub workspace: &'a Path,
    pub state: &'a Path,
    /// Directory holding the agent socket and token file.
    pub sock_dir: &'a Path,
    /// Directory holding the sandbox's generated `passwd` and `group`.
    pub etc_dir: &'a Path,
    pub tmp_size_bytes: u64,
    /// Node + OpenClaw install, bound read-only (no gateway without it).
    pub openclaw: Option<&'a Path>,
}

/// The options for `bwrap --args 0` (NUL-separated on bwrap's stdin, so that neither
/// `ps` on the host nor `/proc/1/cmdline` inside shows host paths). The command itself
/// ([`command`]) must follow on bwrap's real command line.
pub fn options(m: &Mounts<'_>) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&dyn AsRefOs]| {
        for i in items {
            a.push(i.as_os());
        }
    };
    push(&[&"--ro-bind", &"/usr", &"/usr"]);
    for (link, target) in [
        ("/lib", "usr/lib"),
        ("/lib64", "usr/lib64"),
        ("/bin", "usr/bin"),
        ("/sbin", "usr/sbin"),
    ] {
        push(&[&"--symlink", &target, &link]);
    }
    for name in ETC_ALLOW {
        let host = Path::new("/etc").join(name);
        if host.exists() {
            push(&[&"--ro-bind", &host, &host]);
        }
    }
    push(&[
        &"--ro-bind",
        &m.etc_dir.join("passwd"),
        &"/etc/passwd",
        &"--ro-bind",
        &m.etc_dir.join("group"),
        &"/etc/group",
        &"--ro-bind",
        &m.agent_bin,
        &AGENT_IN_SANDBOX,
        &"--bind",
        &m.workspace,
        &"/workspace",
        &"--bind",
        &m.state,
        &"/state",
        &"--bind",
        &m.sock_dir,
        &RUN_IN_SANDBOX,
        &"--size",
        &m.tmp_size_bytes.to_string(),
        &"--tmpfs",
        &"/tmp",
        &"--proc",
        &"/proc",
        &"--dev",
        &"/dev",
        &"--unshare-all",
        &"--cap-drop",
        &"ALL",
        &"--hostname",
        &"sandbox",
        &"--clearenv",
    ]);
    if let Some(dir) = m.openclaw {
        push(&[&"--ro-bind", &dir, &OPENCLAW_IN_SANDBOX]);
    }
    for (k, v) in [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", "/state/home"),
        ("USER", "sandbox"),
        ("SHELL", "/bin/bash"),
        ("TMPDIR", "/tmp"),
        ("LANG", "C.UTF-8"),
        ("OCAAS_AGENT_LOG", "info"),
    ] {
        push(&[&"--setenv", &k, &v]);
    }
    // Last: the tmpfs root itself read-only, so nothing outside the binds above is writable.
    push(&[&"--remount-ro", &"/", &"--chdir", &"/workspace"]);
    a
}

/// The agent's command line inside the sandbox (no host paths in it).
pub fn command(with_openclaw: bool) -> Vec<String> {
    let mut c = vec![
        "--".into(),
        AGENT_IN_SANDBOX.into(),
        "--listen".into(),
        format!("unix:{RUN_IN_SANDBOX}/agent.sock"),
        "--workspace".into(),
        "/workspace".into(),
        "--token-file".into(),
        format!("{RUN_IN_SANDBOX}/token"),
        "--state-dir".into(),
        "/state".into(),
        "--model-upstream".into(),
        format!("unix:{RUN_IN_SANDBOX}/model.sock"),
    ];
    if with_openclaw {
        c.extend(["--openclaw-dir".into(), OPENCLAW_IN_SANDBOX.into()]);
    }
    c
}

/// `passwd` and `group` for the sandbox: its uid is `sandbox`, with `/state/home` as home.
pub fn passwd_and_group(uid: u32, gid: u32) -> (String, String) {
    (
        format!(
            "root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{gid}:OpenClaw sandbox:/state/home:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        ),
        format!("root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n"),
    )
}

/// NUL-separated form for `--args`.
pub fn encode(args: &[OsString]) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(a.as_bytes());
        out.push(0);
    }
    out
}

/// Lets `args` mix `&str`, `String` and paths in one list.
trait AsRefOs {
    fn as_os(&self) -> OsString;
}
impl AsRefOs for &str {
    fn as_os(&self) -> OsString {
        OsString::from(*self)
    }
}
impl AsRefOs for String {
    fn as_os(&self) -> OsString {
        OsString::from(self)
    }
}
impl AsRefOs for PathBuf {
    fn as_os(&self) -> OsString {
        self.clone().into_os_string()
    }
}
impl AsRefOs for &Path {
    fn as_os(&self) -> OsString {
        self.as_os_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_exposes_shadow_or_the_host_network() {
        let p = PathBuf::from("/x");
        let m = Mounts {
            agent_bin: &p,
            workspace: &p,
            state: &p,
            sock_dir: &p,
            etc_dir: &p,
            tmp_size_bytes: 1,
            openclaw: None,
        };
        let a: Vec<String> = options(&m)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        assert!(!a.iter().any(|s| s.contains("shadow")));
        assert!(!a.iter().any(|s| s == "--share-net"));
        assert!(a.windows(2).any(|w| w == ["--cap-drop", "ALL"]));
        assert!(a.contains(&"--unshare-all".to_string()));
        assert!(a.windows(3).any(|w| w == ["--bind", "/x", "/workspace"]));
    }
}
