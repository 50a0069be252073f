//! The inspector's JSON API, the one its page uses: the list of entries (newest first), one
//! entry with its detail, a replay, and the live stream of new entries (server-sent events).

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt as _};

use super::Inspector;
use super::replay::{ReplayError, replay};

/// The body of `POST /api/requests/{seq}/replay`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    resign: bool,
}

/// The API's routes.
pub(super) fn routes() -> Router<Arc<Inspector>> {
    Router::new()
        .route("/api/requests", get(list))
        .route("/api/requests/{seq}", get(one))
        .route("/api/requests/{seq}/replay", post(replay_one))
        .route("/api/stream", get(stream))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn list(State(inspector): State<Arc<Inspector>>) -> Response {
    let requests: Vec<_> = inspector
        .recorder
        .list()
        .iter()
        .map(|entry| entry.json())
        .collect();
    Json(json!({ "requests": requests })).into_response()
}

async fn one(State(inspector): State<Arc<Inspector>>, Path(seq): Path<String>) -> Response {
    let entry = seq.parse().ok().and_then(|seq| inspector.recorder.get(seq));
    match entry {
        Some(entry) => Json(inspector.judge.detail(&entry).json(&entry)).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("no request #{seq} is kept")),
    }
}

async fn replay_one(
    State(inspector): State<Arc<Inspector>>,
    Path(seq): Path<String>,
    Json(body): Json<ReplayRequest>,
) -> Response {
    let Ok(number) = seq.parse() else {
        return error(StatusCode::NOT_FOUND, &format!("no request #{seq} is kept"));
    };
    match replay(&inspector, number, body.resign).await {
        Ok(entry) => Json(inspector.judge.detail(&entry).json(&entry)).into_response(),
        Err(failure) => failure.into(),
    }
}

/// One event per new entry, its data the entry's JSON; a page that fell behind gets a
/// `lagged` event (reload the list).
async fn stream(
    State(inspector): State<Arc<Inspector>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = BroadcastStream::new(inspector.recorder.subscribe()).map(|item| {
        Ok(match item {
            Ok(entry) => Event::default()
                .id(entry.seq.to_string())
                .data(entry.json().to_string()),
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                Event::default().event("lagged").data(missed.to_string())
            }
        })
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

impl From<ReplayError> for Response {
    fn from(failure: ReplayError) -> Self {
        error(
            StatusCode::from_u16(failure.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &failure.to_string(),
        )
    }
}
