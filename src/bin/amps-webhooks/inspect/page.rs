//! The inspector's HTML: the list page and a request's detail page, askama templates compiled
//! into the binary (every value HTML-escaped by the engine), and the script and style sheet
//! embedded with `include_str!`. The pages load nothing from elsewhere, and their
//! Content-Security-Policy allows the embedded script and style sheet only.

use std::collections::BTreeSet;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::Inspector;
use super::detail::{Verdict, body_view, curl};
use super::record::Entry;

const SCRIPT: &str = include_str!("assets/inspector.js");
const STYLE: &str = include_str!("assets/inspector.css");
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The outcomes a row can have, for the filter.
const OUTCOMES: [&str; 6] = [
    "processed",
    "failed",
    "duplicate",
    "in_flight",
    "unavailable",
    "rejected",
];

/// The page routes.
pub(super) fn routes() -> Router<Arc<Inspector>> {
    Router::new()
        .route("/", get(index))
        .route("/requests/{seq}", get(detail))
        .route("/assets/inspector.js", get(script))
        .route("/assets/inspector.css", get(style))
}

/// One row of the list.
struct Row {
    seq: u64,
    time: String,
    received_at: String,
    id: String,
    event_type: String,
    outcome: &'static str,
    status: u16,
    reason: String,
}

impl Row {
    fn of(entry: &Entry) -> Self {
        let c = &entry.capture;
        Self {
            seq: entry.seq,
            time: c.received_at.strftime("%H:%M:%S").to_string(),
            received_at: c.received_at.to_string(),
            id: c.id().unwrap_or_default().to_owned(),
            event_type: c.event_type().unwrap_or_default().to_owned(),
            outcome: c.outcome(),
            status: c.status(),
            reason: c.reason().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(
    path = "index.html",
    config = "src/bin/amps-webhooks/inspect/askama.toml"
)]
struct IndexPage<'a> {
    listening: &'a str,
    keep: usize,
    outcomes: &'a [&'a str],
    types: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(
    path = "detail.html",
    config = "src/bin/amps-webhooks/inspect/askama.toml"
)]
struct DetailPage<'a> {
    row: Row,
    method: &'a str,
    path: &'a str,
    key: String,
    skew: Option<i64>,
    within_tolerance: Option<bool>,
    tolerance_s: u64,
    duplicate_of: Option<u64>,
    replay_of: Option<u64>,
    signatures: Vec<Verdict>,
    headers: Vec<(String, String)>,
    body_kind: &'static str,
    body: String,
    parse_error: Option<String>,
    forward: Option<ForwardView>,
    curl: String,
    can_resign: bool,
}

struct ForwardView {
    status: String,
    latency_ms: u128,
    body_kind: &'static str,
    body: String,
}

#[derive(Template)]
#[template(
    path = "missing.html",
    config = "src/bin/amps-webhooks/inspect/askama.toml"
)]
struct MissingPage<'a> {
    seq: &'a str,
}

fn page(status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    let mut response = match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page could not be rendered: {error}\n"),
        )
            .into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn index(State(inspector): State<Arc<Inspector>>) -> Response {
    let entries = inspector.recorder.list();
    let types: BTreeSet<String> = entries
        .iter()
        .filter_map(|entry| entry.capture.event_type().map(str::to_owned))
        .collect();
    let rendered = IndexPage {
        listening: &inspector.listening,
        keep: inspector.recorder.keep(),
        outcomes: &OUTCOMES,
        types: types.into_iter().collect(),
        rows: entries.iter().map(|entry| Row::of(entry)).collect(),
    }
    .render();
    page(StatusCode::OK, rendered)
}

async fn detail(State(inspector): State<Arc<Inspector>>, Path(seq): Path<String>) -> Response {
    let Some(entry) = seq.parse().ok().and_then(|seq| inspector.recorder.get(seq)) else {
        return page(StatusCode::NOT_FOUND, MissingPage { seq: &seq }.render());
    };
    let judged = inspector.judge.detail(&entry);
    let c = &entry.capture;
    let (body_kind, body) = body_view(&c.body);
    let forward = c.forward.as_ref().map(|forward| {
        let (body_kind, body) = body_view(&forward.body);
        ForwardView {
            status: forward
                .status
                .map_or_else(|| "no answer".to_owned(), |s| s.to_string()),
            latency_ms: forward.latency.as_millis(),
            body_kind,
            body,
        }
    });
    let rendered = DetailPage {
        row: Row::of(&entry),
        method: c.method.as_str(),
        path: c.path(),
        key: c.key().unwrap_or_default().to_owned(),
        skew: entry.timestamp_skew_s(),
        within_tolerance: judged.within_tolerance,
        tolerance_s: inspector.judge.tolerance_s,
        duplicate_of: entry.duplicate_of,
        replay_of: c.replay_of,
        signatures: judged.signatures,
        headers: c.header_list(),
        body_kind,
        body,
        parse_error: judged.parse_error,
        forward,
        curl: curl(&entry, &inspector.listening),
        can_resign: inspector.signer.is_some(),
    }
    .render();
    page(StatusCode::OK, rendered)
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        text,
    )
        .into_response()
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}
