//! Load test of `amps-webhooks listen` as a process: requests per second with the inspector
//! recording every request (the default) against the same listener with `--no-inspect`. Two
//! listener processes, one client, the same run, 1 KiB signed bodies, a unique event id per
//! request; the servers take turns in short slices (A B, then B A, ...) and each one's time is
//! summed over its slices, so that other load on the machine weighs on both alike.
//!
//! `cargo bench --bench listen_load --features cli`
//!
//! Tunables (environment): `LISTEN_LOAD_SLICE` requests per slice (default 2000),
//! `LISTEN_LOAD_SLICES` slices per server (default 20), `LISTEN_LOAD_CONNECTIONS` concurrent
//! keep-alive connections (default 16).

// A load generator stops at the first failure: every `expect` here is a broken setup or a
// request the receiver refused, and the figures would be meaningless after it.
#![allow(clippy::expect_used, clippy::panic, clippy::cast_precision_loss)]

mod load;

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use load::{BODY_BYTES, SECRET, Server, env_or, interleave};

/// A `listen --json` process, its lines drained by a thread, killed when dropped.
struct Listen {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listen(extra: &[&str]) -> Listen {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .args(["listen", "--secret", SECRET, "--port", "0", "--json"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start listen");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    lines.read_line(&mut first).expect("first line");
    let line: serde_json::Value = serde_json::from_str(&first).expect("JSON first line");
    let url = line["listening"].as_str().expect("listening URL");
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("address")
        .parse()
        .expect("socket address");
    // One line per request: read and dropped, or the pipe fills and the listener blocks.
    std::thread::spawn(move || {
        let mut sink = [0u8; 64 * 1024];
        while lines.read(&mut sink).is_ok_and(|n| n > 0) {}
    });
    Listen { child, addr }
}

fn main() {
    let slice = env_or("LISTEN_LOAD_SLICE", 2_000).max(1);
    let slices = env_or("LISTEN_LOAD_SLICES", 20).max(1);
    let connections = env_or("LISTEN_LOAD_CONNECTIONS", 16).max(1);
    let inspected = listen(&["--inspect", "127.0.0.1:0"]);
    let plain = listen(&["--no-inspect"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "listen_load: {BODY_BYTES}-byte bodies, {connections} keep-alive connections, {slices} slices of {slice} requests per listener, interleaved"
        );
        let mut servers = [
            Server::new("listen --no-inspect", plain.addr),
            Server::new("listen (inspector recording, keeps 500)", inspected.addr),
        ];
        let total = interleave(&mut servers, slices, slice, connections, || {}).await;
        let plain_rate = servers[0].rate(total);
        for server in &servers {
            let rate = server.rate(total);
            println!("{}: {rate:.0} req/s ({:.3} of --no-inspect)", server.name, rate / plain_rate);
        }
        println!("ratio: {:.3}", servers[1].rate(total) / plain_rate);
    });
}
