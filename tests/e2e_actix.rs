//! The reference sender against the actix-web receiver (`WebhookMiddleware`) over loopback,
//! with faults, on the memory and the Redis stores (see `e2e_common`).
#![allow(clippy::unwrap_used)]

#[macro_use]
mod actix_server;
mod e2e_common;

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, web};
use amps_webhooks::AmpsEvent;
use amps_webhooks::integrations::VerifiedEvent;
use amps_webhooks::integrations::actix::WebhookMiddleware;
use e2e_common::{PATH, Probe, Running, Setup};

async fn handler(
    probe: web::Data<Probe>,
    VerifiedEvent(event): VerifiedEvent<AmpsEvent>,
) -> HttpResponse {
    let answer = e2e_common::handle(&probe, &event).await;
    let mut response = HttpResponse::build(StatusCode::from_u16(answer.status).unwrap());
    if let Some(secs) = answer.retry_after {
        response.insert_header(("retry-after", secs.to_string()));
    }
    response.body("handled")
}

async fn start(setup: Setup) -> Running {
    let probe = web::Data::from(setup.probe);
    let verifier = setup.verifier;
    let dedup = setup.dedup;
    let server = start_actix!(2, setup.port, move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(probe.clone())
            .service(
                web::resource(PATH)
                    .wrap(WebhookMiddleware::new(verifier.clone(), dedup.clone()))
                    .route(web::post().to(handler)),
            )
    });
    Running {
        url: format!("http://{}{PATH}", server.addr),
        guard: Box::new(server),
    }
}

e2e_suite!();
