use std::os::unix::fs::symlink;

use super::*;
use crate::protocol::ErrorCode;

struct Fixture {
    _tmp: tempfile::TempDir,
    ws: Workspace,
    outside: PathBuf,
}

/// A workspace with `dir/file.txt`, plus a directory outside it holding `secret`.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ws");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(root.join("dir")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(root.join("dir/file.txt"), "hi").unwrap();
    fs::write(outside.join("secret"), "s3cret").unwrap();
    let ws = Workspace::new(&root).unwrap();
    let outside = fs::canonicalize(outside).unwrap();
    Fixture {
        _tmp: tmp,
        ws,
        outside,
    }
}

fn code(r: Result<Resolved, ApiError>) -> ErrorCode {
    r.expect_err("expected an error").code
}

#[test]
fn root_and_relative_paths() {
    let f = fixture();
    for p in ["/workspace", "/workspace/", "", ".", "./", "/workspace/."] {
        let r = f.ws.resolve(p, Mode::Follow).unwrap();
        assert!(r.is_root, "{p}");
        assert_eq!(r.host, f.ws.root());
        assert_eq!(r.virt, "/workspace");
    }
    for p in ["dir/file.txt", "/workspace/dir/file.txt", "./dir//file.txt"] {
        let r = f.ws.resolve(p, Mode::Follow).unwrap();
        assert_eq!(r.host, f.ws.root().join("dir/file.txt"), "{p}");
        assert_eq!(r.virt, "/workspace/dir/file.txt");
        assert!(!r.is_root);
    }
    // A relative path that happens to start with "workspace" is just a directory name.
    let r = f.ws.resolve("workspace/x", Mode::Create).unwrap();
    assert_eq!(r.host, f.ws.root().join("workspace/x"));
}

#[test]
fn lexical_escapes_are_refused() {
    let f = fixture();
    for p in [
        "..",
        "../x",
        "dir/../../x",
        "dir/../file",
        "/etc/passwd",
        "/workspace/../etc",
        "/workspacefoo",
        "/workspacefoo/x",
        "/",
        "//workspace",
        "a\0b",
    ] {
        for mode in [Mode::Follow, Mode::Create, Mode::NoFollow] {
            assert_eq!(
                code(f.ws.resolve(p, mode)),
                ErrorCode::PathOutsideWorkspace,
                "{p:?}"
            );
        }
    }
}

#[test]
fn symlink_to_outside_file_is_refused() {
    let f = fixture();
    symlink(f.outside.join("secret"), f.ws.root().join("leak")).unwrap();
    for mode in [Mode::Follow, Mode::Create] {
        assert_eq!(
            code(f.ws.resolve("leak", mode)),
            ErrorCode::PathOutsideWorkspace
        );
    }
    // Deleting or renaming the link itself is fine: it never touches the target.
    let r = f.ws.resolve("/workspace/leak", Mode::NoFollow).unwrap();
    assert_eq!(r.host, f.ws.root().join("leak"));
}

#[test]
fn symlink_dir_to_outside_is_refused_in_every_mode() {
    let f = fixture();
    symlink(&f.outside, f.ws.root().join("out")).unwrap();
    for p in ["out/secret", "out/new.txt", "out/a/b/c", "out"] {
        let modes: &[Mode] = if p == "out" {
            &[Mode::Follow, Mode::Create]
        } else {
            &[Mode::Follow, Mode::Create, Mode::NoFollow]
        };
        for &mode in modes {
            assert_eq!(
                code(f.ws.resolve(p, mode)),
                ErrorCode::PathOutsideWorkspace,
                "{p} {mode:?}"
            );
        }
    }
    // /etc as a link target, too.
    symlink("/etc", f.ws.root().join("etc")).unwrap();
    assert_eq!(
        code(f.ws.resolve("etc/passwd", Mode::Follow)),
        ErrorCode::PathOutsideWorkspace
    );
}

#[test]
fn symlinks_inside_the_workspace_are_followed() {
    let f = fixture();
    symlink("dir/file.txt", f.ws.root().join("alias")).unwrap();
    symlink(f.ws.root().join("dir"), f.ws.root().join("d2")).unwrap();
    let r = f.ws.resolve("alias", Mode::Follow).unwrap();
    assert_eq!(r.host, f.ws.root().join("dir/file.txt"));
    assert_eq!(r.virt, "/workspace/alias");
    let r = f.ws.resolve("d2/file.txt", Mode::Follow).unwrap();
    assert_eq!(r.host, f.ws.root().join("dir/file.txt"));
    let r = f.ws.resolve("d2/new/deeper.txt", Mode::Create).unwrap();
    assert_eq!(r.host, f.ws.root().join("dir/new/deeper.txt"));
}

#[test]
fn dangling_symlinks() {
    let f = fixture();
    symlink(f.outside.join("nope"), f.ws.root().join("dangling")).unwrap();
    // Pointing out: refused as such, even though the target does not exist.
    assert_eq!(
        code(f.ws.resolve("dangling", Mode::Follow)),
        ErrorCode::PathOutsideWorkspace
    );
    symlink("../../nope", f.ws.root().join("dangling-rel")).unwrap();
    assert_eq!(
        code(f.ws.resolve("dangling-rel", Mode::Follow)),
        ErrorCode::PathOutsideWorkspace
    );
    // Pointing inside at something missing: just not found.
    symlink("missing.txt", f.ws.root().join("dangling-in")).unwrap();
    assert_eq!(
        code(f.ws.resolve("dangling-in", Mode::Follow)),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(f.ws.resolve("dangling", Mode::Create)),
        ErrorCode::PathOutsideWorkspace
    );
    assert_eq!(
        code(f.ws.resolve("dangling/x", Mode::Create)),
        ErrorCode::PathOutsideWorkspace
    );
    assert!(f.ws.resolve("dangling", Mode::NoFollow).is_ok());
}

#[test]
fn missing_paths_resolve_below_the_root() {
    let f = fixture();
    let r = f.ws.resolve("/workspace/a/b/c.txt", Mode::Create).unwrap();
    assert_eq!(r.host, f.ws.root().join("a/b/c.txt"));
    let r = f.ws.resolve("dir/file.txt/below", Mode::Follow).unwrap();
    assert_eq!(r.host, f.ws.root().join("dir/file.txt/below"));
}

#[test]
fn reverse_mapping() {
    let f = fixture();
    let root = f.ws.root().to_owned();
    assert_eq!(f.ws.to_virtual(&root).as_deref(), Some("/workspace"));
    assert_eq!(
        f.ws.to_virtual(&root.join("dir/file.txt")).as_deref(),
        Some("/workspace/dir/file.txt")
    );
    assert_eq!(f.ws.to_virtual(&f.outside), None);
    assert_eq!(join_virtual("/workspace", "a"), "/workspace/a");
    assert_eq!(join_virtual("/workspace/d/", "a"), "/workspace/d/a");
}
