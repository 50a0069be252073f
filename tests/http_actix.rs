//! The actix-web integration over real sockets: the whole status table, both header spellings,
//! limits, retries and concurrency (see `http_common`).
#![allow(clippy::unwrap_used)]

mod http_common;

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use amps_webhooks::AmpsEvent;
use amps_webhooks::integrations::actix::{VerifiedEvent, WebhookMiddleware};
use http_common::{DEDUP_PATH, PLAIN_PATH, Probe, Running, Setup};

async fn handler(
    probe: web::Data<Probe>,
    VerifiedEvent(event): VerifiedEvent<AmpsEvent>,
) -> HttpResponse {
    let status = http_common::handle(&probe, &event).await;
    HttpResponse::build(StatusCode::from_u16(status).unwrap())
        .json(serde_json::json!({ "handled": event.idempotency_key() }))
}

async fn start(setup: Setup) -> Running {
    let probe = web::Data::from(setup.probe);
    let verifier = setup.verifier;
    let dedup = setup.dedup;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(probe.clone())
            .service(
                web::resource(DEDUP_PATH)
                    .wrap(WebhookMiddleware::new(verifier.clone(), dedup.clone()))
                    .route(web::post().to(handler)),
            )
            .route(PLAIN_PATH, web::post().to(handler))
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Running {
        base: format!("http://{addr}"),
        guard: Box::new(StopOnDrop(handle)),
    }
}

struct StopOnDrop(actix_web::dev::ServerHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        drop(self.0.stop(false));
    }
}

http_suite!(start);
