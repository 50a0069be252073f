//! The reference sender against the axum receiver (`WebhookLayer`) over loopback, with faults,
//! on the memory and the Redis stores (see `e2e_common`).
#![allow(clippy::unwrap_used)]

mod axum_server;
mod e2e_common;

use amps_webhooks::AmpsEvent;
use amps_webhooks::integrations::VerifiedEvent;
use amps_webhooks::integrations::axum::WebhookLayer;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum_server::ProbeState;
use e2e_common::{PATH, Probe, Running, Setup};

type AppState = ProbeState<Probe>;

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
    let server = axum_server::serve(setup.port, app).await;
    Running {
        url: format!("http://{}{PATH}", server.addr),
        guard: Box::new(server),
    }
}

e2e_suite!();
