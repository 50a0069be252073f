//! Queue mode on actix-web over real sockets: `enqueue_resource` verifies, enqueues and answers
//! at once, and `enqueue_resource_observed` calls its hook with each parsed event (see
//! `http_queue_common`).
#![allow(clippy::unwrap_used)]

#[macro_use]
mod actix_server;
mod http_common;
#[macro_use]
mod http_queue_common;

use actix_web::{App, HttpResponse};
use amps_webhooks::integrations::actix::{enqueue_resource, enqueue_resource_observed};
use amps_webhooks::queue::Queue;
use amps_webhooks::{AmpsEvent, Event, Verifier};
use http_common::{DEDUP_PATH, Running};
use http_queue_common::Observed;

async fn start(verifier: Verifier, queue: Queue) -> Running {
    let server = start_actix!(1, 0, move || {
        App::new().service(enqueue_resource(
            DEDUP_PATH,
            verifier.clone(),
            queue.clone(),
        ))
    });
    Running {
        base: format!("http://{}", server.addr),
        guard: Box::new(server),
    }
}

async fn start_observed(verifier: Verifier, queue: Queue, observed: Observed) -> Running {
    let observe = move |event: &Event<AmpsEvent>, answer: &mut HttpResponse| {
        let status = answer.status().as_u16();
        http_queue_common::log_call(&observed, event, status, answer.extensions().get());
    };
    let server = start_actix!(1, 0, move || {
        App::new().service(enqueue_resource_observed(
            DEDUP_PATH,
            verifier.clone(),
            queue.clone(),
            observe.clone(),
        ))
    });
    Running {
        base: format!("http://{}", server.addr),
        guard: Box::new(server),
    }
}

suite!(start, start_observed);
