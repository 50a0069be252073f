//! The inspector of `listen`: a web page and a JSON API, on an address of their own (loopback
//! by default), showing every request the listener received, live, with the signature
//! verdict, the timestamp skew and "duplicate of", and replaying a recorded request through
//! the listener.
//!
//! - `record`: the bounded ring of entries and the broadcast of new ones;
//! - `capture`: the middleware around the receiver that records each request;
//! - `detail`: a request's detail, worked out when asked for (signature verdicts, the parser's
//!   message, the body's view, "copy as curl");
//! - `api`: the JSON API and the server-sent events;
//! - `replay`: a recorded request through the listener again, as recorded or re-signed;
//! - `page`: the HTML pages (askama templates) and the assets embedded in the binary.
//!
//! Every captured value is shown as text: the templates escape it, the page's script sets
//! `textContent`, and the pages' Content-Security-Policy runs no script but the embedded one.

mod api;
mod capture;
mod detail;
mod page;
mod record;
mod replay;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use amps_webhooks::{Key, KeySet, Signer};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use clap::Args;

pub(crate) use detail::Judge;

use crate::failure::{Failure, usage};

/// How many ports after a taken one are tried.
const PORT_TRIES: u16 = 100;

#[derive(Args)]
pub(crate) struct InspectArgs {
    /// Where the inspector's web page and API listen (when the port is taken, the next free
    /// one; port 0 picks a free one). An address outside loopback shows the captured payloads
    /// to that network.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:4040")]
    inspect: SocketAddr,
    /// Do not record requests nor serve the inspector.
    #[arg(long, conflicts_with = "inspect")]
    no_inspect: bool,
    /// How many requests the inspector keeps (the oldest go first).
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    inspect_keep: u64,
}

/// The inspector's state, shared by its routes.
pub(crate) struct Inspector {
    recorder: Arc<record::Recorder>,
    judge: Judge,
    /// The HMAC secrets of the listener's keys, to re-sign a replay; none without one.
    signer: Option<Signer>,
    /// The URL webhooks are posted to, for "copy as curl".
    listening: String,
    /// The listener's receiver, capture included, that replays go through.
    app: OnceLock<Router>,
}

/// The receiver with the capture around it, and the inspector's URL.
pub(crate) struct Started {
    pub(crate) app: Router,
    pub(crate) url: Option<String>,
    /// The port asked for, when it was taken and the next free one is used.
    pub(crate) taken: Option<u16>,
}

impl Started {
    /// The readable line that says where the inspector is, when it is on.
    pub(crate) fn line(&self) -> Option<String> {
        let url = self.url.as_ref()?;
        Some(match self.taken {
            Some(port) => format!("inspector on {url} (port {port} was taken)"),
            None => format!("inspector on {url}"),
        })
    }
}

/// Starts the inspector for the receiver `app` (posted to at `listening`), unless
/// `--no-inspect`: binds its address, serves it, and wraps `app` in the capture.
///
/// # Errors
/// A usage failure when no port from the one asked for can be bound.
pub(crate) async fn start(
    args: &InspectArgs,
    judge: Judge,
    app: Router,
    listening: &str,
    metrics: Router,
) -> Result<Started, Failure> {
    if args.no_inspect {
        return Ok(Started {
            app,
            url: None,
            taken: None,
        });
    }
    let listener = bind(args.inspect).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| usage(format!("cannot read the inspector's address: {e}")))?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: the inspector listens on {addr}, outside loopback: the captured requests (headers and bodies) are visible to that network"
        );
    }
    let keep = usize::try_from(args.inspect_keep).unwrap_or(usize::MAX);
    let recorder = Arc::new(record::Recorder::new(keep));
    let judge_limit = judge.max_body_bytes;
    let inspector = Arc::new(Inspector {
        recorder: Arc::clone(&recorder),
        signer: hmac_signer(&judge.keys),
        judge,
        listening: listening.to_owned(),
        app: OnceLock::new(),
    });
    let state = capture::CaptureState {
        recorder,
        max_body_bytes: judge_limit,
    };
    let app = app.layer(middleware::from_fn_with_state(state, capture::capture));
    let _ = inspector.app.set(app.clone());
    let pages = routes(Arc::clone(&inspector), addr.ip(), metrics);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, pages).await {
            eprintln!("the inspector stopped: {error}");
        }
    });
    let taken = (args.inspect.port() != 0 && addr.port() != args.inspect.port())
        .then_some(args.inspect.port());
    Ok(Started {
        app,
        url: Some(format!("http://{addr}/")),
        taken,
    })
}

/// Binds `addr`, else the next free port after it.
async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Failure> {
    let tries = if addr.port() == 0 { 1 } else { PORT_TRIES };
    let mut last = None;
    for port in (addr.port()..=u16::MAX).take(usize::from(tries)) {
        match tokio::net::TcpListener::bind((addr.ip(), port)).await {
            Ok(listener) => return Ok(listener),
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => last = Some(error),
            Err(error) => {
                return Err(usage(format!("--inspect {addr}: cannot listen: {error}")));
            }
        }
    }
    Err(usage(format!(
        "--inspect {addr}: no free port among the {tries} from {}: {}; give another --inspect or --no-inspect",
        addr.port(),
        last.map_or_else(String::new, |e| e.to_string())
    )))
}

/// A signer with the HMAC secrets of `keys` (ed25519 public keys cannot sign).
fn hmac_signer(keys: &KeySet) -> Option<Signer> {
    let mut secrets = KeySet::new();
    for key in keys.iter() {
        if let Key::Hmac(secret) = key {
            secrets.push(secret.clone());
        }
    }
    (!secrets.is_empty()).then(|| Signer::with_keys(secrets))
}

/// The inspector's routes: the pages, the assets, the API.
/// The inspector's pages and API, and `metrics` (its `/metrics`) beside them.
fn routes(inspector: Arc<Inspector>, bound: IpAddr, metrics: Router) -> Router {
    Router::new()
        .merge(page::routes())
        .merge(api::routes())
        .with_state(inspector)
        .merge(metrics)
        .layer(middleware::from_fn_with_state(bound, same_host))
}

/// On loopback, answers only requests whose `Host` is a loopback name or address, so that a
/// web page elsewhere cannot read the captured requests by rebinding its name to 127.0.0.1.
async fn same_host(State(bound): State<IpAddr>, request: Request, next: Next) -> Response {
    if bound.is_loopback() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or_default();
        if !loopback_host(host) {
            return (
                StatusCode::FORBIDDEN,
                "the inspector answers requests to a loopback host only\n",
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1:4040",
            "localhost:4040",
            "[::1]:4040",
            "LOCALHOST",
            "127.0.0.2",
        ] {
            assert!(loopback_host(host), "{host}");
        }
        for host in ["evil.example:4040", "", "10.0.0.1:4040", "[2001:db8::1]:80"] {
            assert!(!loopback_host(host), "{host}");
        }
    }
}
