//! Queue mode on axum over real sockets: `enqueue_route` verifies, enqueues and answers at once
//! (see `http_queue_common`).
#![allow(clippy::unwrap_used)]

mod axum_server;
mod http_common;
mod http_queue_common;

use amps_webhooks::Verifier;
use amps_webhooks::integrations::axum::enqueue_route;
use amps_webhooks::queue::Queue;
use axum::Router;
use http_common::{DEDUP_PATH, Running};

async fn start(verifier: Verifier, queue: Queue) -> Running {
    let app: Router = Router::new().route(DEDUP_PATH, enqueue_route(verifier, queue));
    let server = axum_server::serve(0, app).await;
    Running {
        base: format!("http://{}", server.addr),
        guard: Box::new(server),
    }
}

macro_rules! cases {
    ($($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                http_queue_common::$name(|verifier, queue| Box::pin(start(verifier, queue))).await;
            }
        )+
    };
}

cases!(
    a_delivery_is_queued_with_its_bytes_and_headers_then_a_duplicate,
    rejected_deliveries_store_no_job,
    other_methods_get_405_and_store_nothing,
    an_unreachable_backend_gets_503_with_retry_after,
);
