//! The axum integration over real sockets: the whole status table, both header spellings,
//! limits, retries and concurrency (see `http_common`).
#![allow(clippy::unwrap_used)]

mod http_common;

use std::sync::Arc;

use amps_webhooks::AmpsEvent;
use amps_webhooks::integrations::axum::{VerifiedEvent, WebhookLayer};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use http_common::{DEDUP_PATH, PLAIN_PATH, Probe, Running, Setup};

#[derive(Clone)]
struct AppState {
    verifier: amps_webhooks::Verifier,
    probe: Arc<Probe>,
}

impl axum::extract::FromRef<AppState> for amps_webhooks::Verifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

async fn handler(
    State(state): State<AppState>,
    VerifiedEvent(event): VerifiedEvent<AmpsEvent>,
) -> (StatusCode, Json<serde_json::Value>) {
    let status = http_common::handle(&state.probe, &event).await;
    (
        StatusCode::from_u16(status).unwrap(),
        Json(serde_json::json!({ "handled": event.idempotency_key() })),
    )
}

async fn start(setup: Setup) -> Running {
    let state = AppState {
        verifier: setup.verifier.clone(),
        probe: setup.probe,
    };
    let app = Router::new()
        .route(
            DEDUP_PATH,
            post(handler).layer(WebhookLayer::new(setup.verifier, setup.dedup)),
        )
        .route(PLAIN_PATH, post(handler))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Running {
        base: format!("http://{addr}"),
        guard: Box::new(AbortOnDrop(server)),
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

http_suite!(start);
