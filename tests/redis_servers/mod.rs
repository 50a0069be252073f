//! Redis servers that a test starts itself (redis-server on the PATH): a [`Server`] on a free
//! loopback port that the test can kill and start again on the same port and data, and a
//! [`Cluster`] of three masters. Every process is killed when its value drops.
#![allow(dead_code, unreachable_pub, missing_docs)]
// Helpers of tests, not tests themselves: clippy.toml's test allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port free now, whose cluster bus port (+10000) is a valid port too.
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn spawn(port: u16, dir: &Path, extra: &[&str]) -> Child {
    Command::new("redis-server")
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--save", "", "--dir"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("this test needs redis-server on the PATH, and it could not start: {error}")
        })
}

fn cli(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("this test needs redis-cli on the PATH: {error}"));
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Waits until `check` holds (up to 20 s), else panics saying `what`.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: not after 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One redis-server with an append-only file fsynced at every write: what it acknowledged
/// survives a SIGKILL and a restart.
pub struct Server {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Server {
    pub fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no shutdown, no final write.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(spawn(
            self.port,
            self.dir.path(),
            &["--appendonly", "yes", "--appendfsync", "always"],
        ));
        let port = self.port;
        wait_until("redis-server answering PING", || {
            cli(port, &["PING"]).is_some_and(|out| out.trim() == "PONG")
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Redis Cluster of three masters on loopback, no replicas, nothing persisted.
pub struct Cluster {
    pub ports: Vec<u16>,
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Cluster {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 3 {
            let port = free_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let mut cluster = Self {
            ports: ports.clone(),
            dir,
            children: Vec::new(),
        };
        for &port in &ports {
            let config: PathBuf = cluster.dir.path().join(format!("nodes-{port}.conf"));
            let config = config.to_str().unwrap().to_owned();
            cluster.children.push(spawn(
                port,
                cluster.dir.path(),
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &config,
                    "--appendonly",
                    "no",
                ],
            ));
        }
        for &port in &ports {
            wait_until("a cluster node answering PING", || {
                cli(port, &["PING"]).is_some_and(|out| out.trim() == "PONG")
            });
        }
        let nodes: Vec<String> = ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let mut create = vec!["--cluster", "create"];
        create.extend(nodes.iter().map(String::as_str));
        create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        assert!(
            cli(ports[0], &create).is_some(),
            "redis-cli --cluster create failed"
        );
        for &port in &ports {
            wait_until("cluster_state:ok", || {
                cli(port, &["CLUSTER", "INFO"]).is_some_and(|out| out.contains("cluster_state:ok"))
            });
        }
        cluster
    }

    /// `redis+cluster://` and every node.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
