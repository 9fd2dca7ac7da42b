//! Section 8: moving an instance's storage into a warm pod, as a Kubernetes wake does. Two real
//! `sandbox-agent` processes on loopback TCP stand in for the mover pod (on the instance's
//! volume) and the warm pod; the orchestrator's own `agent_client::copy_archive` streams the
//! workspace and the home from one into the other (`GET`/`PUT /archive/{part}`), as
//! `KubernetesRuntime::move_into` does. What a real cluster adds (the mover pod's scheduling and
//! volume attach, the network between nodes) is not here.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orchestrator::agent_client::copy_archive;
use orchestrator::runtime::{AgentAddr, AgentEndpoint};
use orchestrator::settings::Secret;
use sandbox_agent::protocol::{ARCHIVE_HOME, ARCHIVE_WORKSPACE};

use crate::{ms, pct};

/// A stand-in pod: an agent process on `127.0.0.1:<port>` with its own directories.
struct Agent {
    child: Child,
    dir: tempfile::TempDir,
    endpoint: AgentEndpoint,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    async fn start(bin_dir: &Path) -> anyhow::Result<Agent> {
        let dir = tempfile::tempdir()?;
        for d in ["workspace", "state/home"] {
            std::fs::create_dir_all(dir.path().join(d))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let token = format!("{:032x}", rand_u128());
        let child = Command::new(bin_dir.join("sandbox-agent"))
            .args(["--listen", &format!("tcp:127.0.0.1:{port}")])
            .arg("--workspace")
            .arg(dir.path().join("workspace"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .env("OCAAS_AGENT_TOKEN", &token)
            .env("OCAAS_AGENT_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?;
        let endpoint = AgentEndpoint {
            addr: AgentAddr::Tcp(([127, 0, 0, 1], port).into()),
            token: Secret::new(token),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !orchestrator::agent_client::healthy(&endpoint, Duration::from_secs(1)).await {
            anyhow::ensure!(Instant::now() < deadline, "the agent did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Agent {
            child,
            dir,
            endpoint,
        })
    }
}

fn rand_u128() -> u128 {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .expect("urandom");
    u128::from_le_bytes(b)
}

/// Fill a workspace: one large file of `big_mb` MiB and `small` files of 1 KiB in 20
/// directories (a source tree's shape); a few files in the home.
fn fill(dir: &Path, big_mb: usize, small: usize) -> anyhow::Result<u64> {
    let ws = dir.join("workspace");
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut f = std::fs::File::create(ws.join("data.bin"))?;
    for _ in 0..big_mb {
        std::io::Write::write_all(&mut f, &chunk)?;
    }
    for i in 0..small {
        let d = ws.join(format!("src/mod{}", i % 20));
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(format!("file{i}.py")), &chunk[..1024])?;
    }
    for (name, body) in [(".bash_history", "ls\n"), (".gitconfig", "[user]\n")] {
        std::fs::write(dir.join("state/home").join(name), body)?;
    }
    Ok((big_mb * 1024 * 1024 + small * 1024) as u64)
}

/// One move: workspace, then home. The time of each part.
async fn one_move(from: &Agent, to: &Agent) -> anyhow::Result<(Duration, Duration)> {
    let t = Instant::now();
    copy_archive(&from.endpoint, &to.endpoint, ARCHIVE_WORKSPACE)
        .await
        .map_err(anyhow::Error::msg)?;
    let ws = t.elapsed();
    let t = Instant::now();
    copy_archive(&from.endpoint, &to.endpoint, ARCHIVE_HOME)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok((ws, t.elapsed()))
}

pub async fn storage_move_bench(samples: usize) -> anyhow::Result<()> {
    let bin_dir = e2e::bin_dir();
    println!("\n## storage move (a Kubernetes warm wake's copy, agents on loopback)\n");
    println!("| workspace | samples | move p50 | move max | throughput p50 |");
    println!("|---|---|---|---|---|");
    for (label, big_mb, small) in [
        ("empty (a new instance's)", 0, 0),
        ("2 000 files of 1 KiB", 0, 2000),
        ("256 MiB file + 2 000 files", 256, 2000),
    ] {
        let from = Agent::start(&bin_dir).await?;
        let to = Agent::start(&bin_dir).await?;
        let bytes = fill(from.dir.path(), big_mb, small)?;
        let mut times = Vec::new();
        for _ in 0..samples {
            let (ws, home) = one_move(&from, &to).await?;
            times.push(ws + home);
        }
        // The copy is whole: the large file arrived byte for byte.
        if big_mb > 0 {
            let got = std::fs::metadata(to.dir.path().join("workspace/data.bin"))?.len();
            anyhow::ensure!(got == (big_mb * 1024 * 1024) as u64, "short copy: {got}");
        }
        times.sort();
        let p50 = pct(&times, 50.0);
        let max = *times.last().expect("samples");
        let throughput = if bytes > 0 {
            format!("{:.0} MB/s", bytes as f64 / 1e6 / p50.as_secs_f64())
        } else {
            "–".into()
        };
        println!(
            "| {label} | {} | {} | {} | {throughput} |",
            times.len(),
            ms(p50),
            ms(max)
        );
    }
    Ok(())
}
