//! PostgreSQL servers that a test starts itself: a [`Server`] made by `initdb` in a temporary
//! directory (trust authentication, user `postgres`), run by `pg_ctl` on a free loopback port
//! with `fsync` and `synchronous_commit` on, that the test can crash (`pg_ctl stop -m
//! immediate`: no shutdown checkpoint, recovery from the WAL at the next start) and start again
//! on the same port and data directory. The binaries come from `/usr/lib/postgresql/15/bin`
//! (or `PG_BIN`); a test that cannot find them panics saying so. PostgreSQL refuses to run as
//! root: under root the commands run as the user `postgres` (`runuser`), who owns the
//! directory. The server is stopped when its value drops.
#![allow(dead_code, unreachable_pub, missing_docs)]
// Helpers of tests, not tests themselves: clippy.toml's test allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the server's binaries are, unless `PG_BIN` says otherwise.
const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The directory of `initdb`, `pg_ctl` and `postgres`; panics, saying so, without them.
fn bin_dir() -> PathBuf {
    let dir = std::env::var_os("PG_BIN").map_or_else(|| PathBuf::from(DEFAULT_BIN), PathBuf::from);
    for tool in ["initdb", "pg_ctl", "postgres"] {
        assert!(
            dir.join(tool).is_file(),
            "this test needs PostgreSQL's server binaries, and there is no {tool} in {} (install postgresql-15, or set PG_BIN to the directory that has initdb, pg_ctl and postgres)",
            dir.display()
        );
    }
    dir
}

fn id(args: &[&str]) -> u32 {
    let output = Command::new("id")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run `id {}`: {error}", args.join(" ")));
    assert!(
        output.status.success(),
        "`id {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

/// A loopback port free now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One PostgreSQL server of this test alone.
pub struct Server {
    pub port: u16,
    bin: PathBuf,
    /// Runs the commands as `postgres` (the test runs as root).
    as_postgres: bool,
    dir: tempfile::TempDir,
    running: bool,
}

impl Server {
    /// Makes the cluster and starts it; waits until it accepts connections.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = id(&["-u"]) == 0;
        if as_postgres {
            let (uid, gid) = (id(&["-u", "postgres"]), id(&["-g", "postgres"]));
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut server = Self {
            port: free_port(),
            bin,
            as_postgres,
            dir,
            running: false,
        };
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        );
        server.restart();
        server
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Runs `tool` with `args`; panics with its output (and the server's log) when it fails.
    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let output = self
            .command(tool)
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {tool}: {error}"));
        if !output.status.success() {
            let log = std::fs::read_to_string(self.log()).unwrap_or_default();
            panic!(
                "{tool} {} failed: {}{}\nserver log:\n{log}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        output
    }

    /// A crash: `pg_ctl stop -m immediate` (the processes quit at once, no checkpoint; the
    /// next start recovers from the WAL). Waits until the server is gone.
    pub fn crash(&mut self) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        self.running = false;
    }

    /// Starts it (again) on the same port and data directory, with `fsync` on; waits until it
    /// accepts connections.
    pub fn restart(&mut self) {
        assert!(!self.running, "the server is running already");
        let data = self.data();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=on -c synchronous_commit=on",
            self.port,
            path_str(self.dir.path())
        );
        let log = self.log();
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        self.running = true;
    }
}

fn path_str(path: &Path) -> &str {
    let text = path.to_str().unwrap();
    assert!(
        !text.contains(char::is_whitespace),
        "the temporary directory {text:?} has a space, which pg_ctl -o would split"
    );
    text
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self
                .command("pg_ctl")
                .args([
                    "-D",
                    data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ])
                .output();
        }
    }
}
