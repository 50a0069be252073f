//! Queue mode on axum over real sockets: `enqueue_route` verifies, enqueues and answers at once,
//! and `enqueue_route_observed` calls its hook with each parsed event (see `http_queue_common`).
#![allow(clippy::unwrap_used)]

mod axum_server;
mod http_common;
#[macro_use]
mod http_queue_common;

use amps_webhooks::integrations::axum::{enqueue_route, enqueue_route_observed};
use amps_webhooks::queue::Queue;
use amps_webhooks::{AmpsEvent, Event, Verifier};
use axum::Router;
use axum::response::Response;
use http_common::{DEDUP_PATH, Running};
use http_queue_common::Observed;

async fn start(verifier: Verifier, queue: Queue) -> Running {
    let app: Router = Router::new().route(DEDUP_PATH, enqueue_route(verifier, queue));
    let server = axum_server::serve(0, app).await;
    Running {
        base: format!("http://{}", server.addr),
        guard: Box::new(server),
    }
}

async fn start_observed(verifier: Verifier, queue: Queue, observed: Observed) -> Running {
    let observe = move |event: &Event<AmpsEvent>, answer: &mut Response| {
        let status = answer.status().as_u16();
        http_queue_common::log_call(&observed, event, status, answer.extensions().get());
    };
    let route = enqueue_route_observed::<AmpsEvent, (), _>(verifier, queue, observe);
    let server = axum_server::serve(0, Router::new().route(DEDUP_PATH, route)).await;
    Running {
        base: format!("http://{}", server.addr),
        guard: Box::new(server),
    }
}

suite!(start, start_observed);
