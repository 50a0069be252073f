//! The processes of the end-to-end tests: an example's binary built with the test's own
//! features, and a child process whose output is read as it comes.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::HANG;

/// This build's features, so that an example built for the test shares the test's library
/// (every feature of Cargo.toml: one missing here only costs a build of the library).
fn features() -> Vec<&'static str> {
    let all = [
        ("default", cfg!(feature = "default")),
        ("amps", cfg!(feature = "amps")),
        ("http", cfg!(feature = "http")),
        ("cli", cfg!(feature = "cli")),
        ("axum", cfg!(feature = "axum")),
        ("actix", cfg!(feature = "actix")),
        ("ed25519", cfg!(feature = "ed25519")),
        ("memory", cfg!(feature = "memory")),
        ("redis", cfg!(feature = "redis")),
        ("redis-cluster", cfg!(feature = "redis-cluster")),
        ("postgres", cfg!(feature = "postgres")),
        ("sqlite", cfg!(feature = "sqlite")),
        ("queue", cfg!(feature = "queue")),
        ("metrics", cfg!(feature = "metrics")),
        ("tracing", cfg!(feature = "tracing")),
        ("sender", cfg!(feature = "sender")),
        ("testing", cfg!(feature = "testing")),
        ("demo", cfg!(feature = "demo")),
        ("full", cfg!(feature = "full")),
    ];
    all.into_iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| name)
        .collect()
}

/// The binary of examples/NAME.rs (target/<profile>/examples/NAME), built first with this
/// test's features: `cargo test` builds the examples, `cargo test --test X` does not, and an
/// example left from another build may be stale.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(name);
    let features = features().join(",");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cargo
        .args([
            "build",
            "--example",
            name,
            "--no-default-features",
            "--features",
        ])
        .arg(&features)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // Without the variables cargo set for this test (`CARGO_PKG_NAME`, ...): build scripts
    // that watch them (ring's) would run again, and the next `cargo test` once more.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_the_test = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&name.as_ref());
        if set_for_the_test {
            cargo.env_remove(name.as_ref());
        }
    }
    let status = cargo.status().unwrap();
    assert!(
        status.success(),
        "cargo build --example {name} --no-default-features --features {features} failed"
    );
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// A child process, killed when dropped; its standard output and error read as they come (so
/// that a chatty child never blocks on a full pipe), its error echoed under its name.
pub struct Process {
    name: String,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_lines(
    from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
    echo: Option<String>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if let Some(name) = &echo {
                eprintln!("[{name}] {line}");
            }
            into.lock().unwrap().push(line);
        }
    })
}

impl Process {
    /// Starts `program` with `args`; `name` labels its error output.
    pub fn spawn(name: &str, program: &Path, args: &[String]) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let readers = vec![
            read_lines(child.stdout.take().unwrap(), Arc::clone(&stdout), None),
            read_lines(
                child.stderr.take().unwrap(),
                Arc::clone(&stderr),
                Some(name.to_owned()),
            ),
        ];
        Self {
            name: name.to_owned(),
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Every line of standard output so far.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Every line of standard error so far.
    pub fn errors(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// What `find` makes of the first line of output it takes, once printed.
    pub async fn first_line<T>(&mut self, what: &str, find: impl Fn(&str) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(found) = self.lines().iter().find_map(|line| find(line)) {
                return found;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}) before printing {what}", self.name);
            }
            assert!(
                start.elapsed() < HANG,
                "hang guard: {} never printed {what}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The rest of the first line of output that starts with `prefix`, once printed.
    pub async fn line_after(&mut self, prefix: &str) -> String {
        self.first_line(prefix, |line| line.strip_prefix(prefix).map(str::to_owned))
            .await
    }

    /// Kills it with SIGKILL; answers once it is gone and its output read to the end.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{}: {status}",
            self.name
        );
        self.join_readers();
    }

    /// Waits for it to exit by itself, its output read to the end.
    pub async fn exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.join_readers();
                return status;
            }
            assert!(
                start.elapsed() < HANG,
                "hang guard: {} did not exit",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
    }
}
