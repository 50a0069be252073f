//! The reference sender against the axum receiver (`WebhookLayer`) over loopback, with faults,
//! on the memory and the Redis stores (see `e2e_common`).
#![allow(clippy::unwrap_used)]

mod e2e_common;

use std::sync::Arc;

use amps_webhooks::AmpsEvent;
use amps_webhooks::integrations::axum::{VerifiedEvent, WebhookLayer};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use e2e_common::{PATH, Probe, Running, Setup};

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
) -> Response {
    let answer = e2e_common::handle(&state.probe, &event).await;
    let mut response = (StatusCode::from_u16(answer.status).unwrap(), "handled").into_response();
    if let Some(secs) = answer.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

async fn start(setup: Setup) -> Running {
    let state = AppState {
        verifier: setup.verifier.clone(),
        probe: setup.probe,
    };
    let app = Router::new()
        .route(
            PATH,
            post(handler).layer(WebhookLayer::new(setup.verifier, setup.dedup)),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", setup.port))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Running {
        url: format!("http://{addr}{PATH}"),
        guard: Box::new(AbortOnDrop(server)),
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

e2e_suite!();
