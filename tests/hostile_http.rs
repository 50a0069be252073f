//! The hostile-input table (tests/hostile_cases) over HTTP: every case is sent over a real socket
//! on 127.0.0.1 to an axum receiver (`WebhookLayer` + a `VerifiedEvent` handler) and to an actix
//! receiver (`WebhookMiddleware` + a `VerifiedEvent` handler), both on the memory store, a fresh
//! receiver per case.
//!
//! For each case and each framework: the exact status and error code, never a 5xx, and the
//! handler's run count. A refused case answers the verifier's status
//! (`VerifyError::http_status`) and code, the handler not run; a case the verifier accepts with
//! a body that is not JSON answers 400 `invalid_event`, the handler not run; the table's valid
//! requests (their body `{"test": 2432232314}` is an `AmpsEvent::Unknown`) are handled once,
//! 200. Where HTTP itself changes the request before the verifier sees it, [`over_http`] lists
//! the case with the reason and the answer.
//!
//! Cases whose header names or values the `http` crate refuses to build (control bytes, a space
//! in a name) are written raw on a `TcpStream`: the server's HTTP parser refuses most with a 400
//! of its own, before any handler; a bare LF or a CR LF ends the header line instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod actix_server;
mod axum_server;
mod hostile_cases;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use amps_webhooks::store::{Deduplicator, IdempotencyStore, MemoryStore};
use amps_webhooks::{AmpsEvent, MockClock, Verifier};
use bytes::Bytes;
use hostile_cases::{Accepted, AcceptedNotJson, Case, Refused, Request, SECRET, all_cases};
use http::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PATH: &str = "/webhooks";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framework {
    Axum,
    Actix,
}

/// A receiver on port 0, its clock (set to each case's time) and its handler's run count.
struct Server {
    addr: SocketAddr,
    clock: MockClock,
    runs: Arc<AtomicUsize>,
    /// actix only: stopped and awaited after the case, so that no worker outlives it.
    actix: Option<actix_web::dev::ServerHandle>,
    _guard: Box<dyn Send>,
}

/// The table's verifier (default limits), on a clock the test moves.
fn verifier(clock: &MockClock) -> Verifier {
    Verifier::builder()
        .secret(SECRET.parse().unwrap())
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn dedup(clock: &MockClock) -> Deduplicator {
    let store: Arc<dyn IdempotencyStore> =
        Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    Deduplicator::new(store, "hostile-http").unwrap()
}

mod axum_receiver {
    use super::*;
    use amps_webhooks::integrations::VerifiedEvent;
    use amps_webhooks::integrations::axum::WebhookLayer;
    use axum::Router;
    use axum::extract::State;
    use axum::routing::post;

    type AppState = axum_server::ProbeState<AtomicUsize>;

    async fn handler(
        State(state): State<AppState>,
        VerifiedEvent(_event): VerifiedEvent<AmpsEvent>,
    ) -> &'static str {
        state.probe.fetch_add(1, Ordering::SeqCst);
        "handled"
    }

    pub(super) async fn start() -> Server {
        let clock = MockClock::at_unix(0);
        let runs = Arc::new(AtomicUsize::new(0));
        let verifier = verifier(&clock);
        let app = Router::new()
            .route(
                PATH,
                post(handler).layer(WebhookLayer::new(verifier.clone(), dedup(&clock))),
            )
            .with_state(AppState {
                verifier,
                probe: Arc::clone(&runs),
            });
        let server = axum_server::serve(0, app).await;
        Server {
            addr: server.addr,
            clock,
            runs,
            actix: None,
            _guard: Box::new(server),
        }
    }
}

mod actix_receiver {
    use super::*;
    use actix_web::{App, HttpResponse, web};
    use amps_webhooks::integrations::VerifiedEvent;
    use amps_webhooks::integrations::actix::WebhookMiddleware;

    async fn handler(
        runs: web::Data<AtomicUsize>,
        VerifiedEvent(_event): VerifiedEvent<AmpsEvent>,
    ) -> HttpResponse {
        runs.fetch_add(1, Ordering::SeqCst);
        HttpResponse::Ok().body("handled")
    }

    pub(super) async fn start() -> Server {
        let clock = MockClock::at_unix(0);
        let runs = Arc::new(AtomicUsize::new(0));
        let data = web::Data::from(Arc::clone(&runs));
        let verifier = verifier(&clock);
        let dedup = dedup(&clock);
        let server = start_actix!(1, 0, move || {
            App::new()
                .app_data(verifier.clone())
                .app_data(data.clone())
                .service(
                    web::resource(PATH)
                        .wrap(WebhookMiddleware::new(verifier.clone(), dedup.clone()))
                        .route(web::post().to(handler)),
                )
        });
        Server {
            addr: server.addr,
            clock,
            runs,
            actix: Some(server.handle.clone()),
            _guard: Box::new(server),
        }
    }
}

/// What a receiver answered: the status and the `error` code of its JSON body, if any.
#[derive(Debug, PartialEq, Eq)]
struct Reply {
    status: u16,
    code: Option<String>,
}

fn error_code(body: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    json["error"].as_str().map(str::to_owned)
}

/// Whether the `http` crate can carry the request's headers at all.
fn expressible(request: &Request) -> bool {
    request.headers.iter().all(|(name, value)| {
        HeaderName::from_bytes(name.as_bytes()).is_ok() && HeaderValue::from_bytes(value).is_ok()
    })
}

/// POSTs the case with hyper's client, each header value byte for byte.
async fn send(addr: SocketAddr, request: &Request) -> Reply {
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http::<Full<Bytes>>();
    let mut builder = hyper::Request::post(format!("http://{addr}{PATH}"))
        .header("content-type", "application/json");
    for (name, value) in &request.headers {
        builder = builder.header(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let response = client
        .request(
            builder
                .body(Full::new(Bytes::from(request.body.clone())))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        code: error_code(&body),
    }
}

/// Writes the case as raw HTTP/1.1 bytes (headers exactly as in the table, so a `\n` or a NUL
/// in a value reaches the server's parser) and reads the answer to the end.
async fn send_raw(addr: SocketAddr, request: &Request) -> Reply {
    let mut head = format!(
        "POST {PATH} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        request.body.len()
    )
    .into_bytes();
    for (name, value) in &request.headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head.extend_from_slice(&request.body);
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    // The server may answer and close before it read everything: the write may fail then.
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&head).await;
        write
    });
    let mut answer = Vec::new();
    let _ = read.read_to_end(&mut answer).await;
    drop(writer.await.unwrap());
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    // The first answer's body only: a server that read fewer bytes than were sent may answer
    // the rest as a second, pipelined request.
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |end| end + 4);
    let length = text[..head_end]
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .map_or(0, |len| len.trim().parse::<usize>().unwrap());
    let body = &answer[head_end..head_end + length];
    Reply {
        status,
        code: error_code(body),
    }
}

/// The answer expected where it differs from the verifier's table, and why; `None` for every
/// case that HTTP carries unchanged.
fn over_http(name: &str) -> Option<(u16, Option<&'static str>)> {
    let refused_by_parser = (400, None);
    Some(match name {
        // A header value may not hold NUL or other control bytes (RFC 9110 5.5): the server's
        // HTTP parser answers 400 itself, with no body, before any handler. The same for a
        // bare LF inside the first header (the id): the line after it has no colon.
        "bytes that are not UTF-8"
        | "id with a newline"
        | "id with NUL"
        | "id with DEL"
        | "id with an escape" => refused_by_parser,
        // A space before the colon is not a header name (RFC 9112 5.1): 400 by the parser.
        "header name with a trailing space" => refused_by_parser,
        // Both parsers take a bare LF for the end of a line: a value ending in LF, followed by
        // the CR LF that ends its line, ends the head there. After the last header (the
        // signature) the body then starts with that CR LF, and no longer matches: 401. After
        // the timestamp, the signature header becomes body: 400, missing header.
        "a newline after the entry" => (401, Some("invalid_signature")),
        "1614265330\n" => (400, Some("missing_header")),
        // Raw CR LF in a value ends the header: the receiver reads `webhook-id: msg` and an
        // injected `X-Injected: 1`; the signature covers the bytes that were signed, so 401.
        "id with CR LF" => (401, Some("invalid_signature")),
        // HTTP strips whitespace around a header value (RFC 9110 5.5): the verifier sees the
        // bare value. The tab before a right entry is gone, so it verifies and is handled; a
        // padded timestamp becomes the plain number, which is not the text that was signed.
        "a tab before the entry" => (200, None),
        " 1614265330" | "1614265330 " => (401, Some("invalid_signature")),
        _ => return None,
    })
}

/// The status and code the receiver must answer the case with.
fn expected(case: &Case) -> (u16, Option<&'static str>) {
    if let Some(answer) = over_http(case.name) {
        return answer;
    }
    match &case.expect {
        // Verified, and `{"test": 2432232314}` is an Amps event (of unknown type): handled.
        Accepted => (200, None),
        // Verified, but the body is not JSON, so not an event.
        AcceptedNotJson => (400, Some("invalid_event")),
        Refused(status, error) => (*status, Some(error.code())),
    }
}

async fn run(framework: Framework) {
    let cases = all_cases();
    let mut raw = 0;
    let mut handled = 0;
    let mut failures = Vec::new();
    for case in &cases {
        // A receiver of its own per case: no claim or count carries over from another case.
        let server = match framework {
            Framework::Axum => axum_receiver::start().await,
            Framework::Actix => actix_receiver::start().await,
        };
        server.clock.set_unix(case.now);
        let reply = if expressible(&case.request) {
            send(server.addr, &case.request).await
        } else {
            raw += 1;
            send_raw(server.addr, &case.request).await
        };
        assert!(
            reply.status < 500,
            "{framework:?}, {}: answered {}",
            case.name,
            reply.status
        );
        let (status, code) = expected(case);
        let want = Reply {
            status,
            code: code.map(str::to_owned),
        };
        // The handler runs once for a case that verifies and parses, never for the others.
        let runs = server.runs.load(Ordering::SeqCst);
        let want_runs = usize::from(status == 200);
        handled += runs;
        if let Some(handle) = &server.actix {
            handle.stop(true).await;
        }
        if reply != want || runs != want_runs {
            failures.push(format!(
                "{framework:?}, {:?}: got {reply:?} with {runs} runs, expected {want:?} with {want_runs}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // All four tables of tests/hostile_cases.
    assert_eq!(cases.len(), 122);
    // The cases with bytes no `http` header can hold, and the space in a name.
    assert_eq!(raw, 9, "{framework:?}: cases sent raw");
    // The table's controls: the right request in each accepted spelling, and the tab case.
    assert_eq!(handled, 10, "{framework:?}: cases handled");
}

#[tokio::test]
async fn hostile_table_over_axum() {
    run(Framework::Axum).await;
}

#[actix_web::test]
async fn hostile_table_over_actix() {
    run(Framework::Actix).await;
}

/// The overrides name real cases, so the list above cannot drift from the table.
#[test]
fn every_http_exception_names_a_case() {
    let names: Vec<&str> = all_cases().iter().map(|case| case.name).collect();
    for name in [
        "a newline after the entry",
        "bytes that are not UTF-8",
        "1614265330\n",
        "id with a newline",
        "id with NUL",
        "id with DEL",
        "id with an escape",
        "header name with a trailing space",
        "id with CR LF",
        "a tab before the entry",
        " 1614265330",
        "1614265330 ",
    ] {
        assert!(names.contains(&name), "{name:?} is not a case of the table");
        assert!(over_http(name).is_some(), "{name:?} has no HTTP exception");
    }
}
