//! The actix-web integration over real sockets: the whole status table, both header spellings,
//! limits, retries and concurrency (see `http_common`).
#![allow(clippy::unwrap_used)]

#[macro_use]
mod actix_server;
mod http_common;

use actix_web::dev::Service as _;
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, web};
use amps_webhooks::AmpsEvent;
use amps_webhooks::integrations::actix::WebhookMiddleware;
use amps_webhooks::integrations::{Delivery, VerifiedEvent};
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
    let server = start_actix!(2, 0, move || {
        let recorder = probe.clone();
        App::new()
            // Outside the middleware, as an access log would be: it reads every answer's record.
            .wrap_fn(move |req, service| {
                let recorder = recorder.clone();
                let answer = service.call(req);
                async move {
                    let response = answer.await?;
                    recorder.record(response.response().extensions().get::<Delivery>());
                    Ok(response)
                }
            })
            .app_data(verifier.clone())
            .app_data(probe.clone())
            .service(
                web::resource(DEDUP_PATH)
                    .wrap(WebhookMiddleware::new(verifier.clone(), dedup.clone()))
                    .route(web::post().to(handler)),
            )
            .route(PLAIN_PATH, web::post().to(handler))
    });
    Running {
        base: format!("http://{}", server.addr),
        guard: Box::new(server),
    }
}

http_suite!(start);

async fn plain(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> String {
    event.idempotency_key().to_owned()
}

/// Starts a server whose only route uses the extractor, with the verifier in `web::Data` or
/// nowhere.
async fn start_plain(with_data: bool) -> actix_server::ActixServer {
    let clock = http_common::clock();
    let verifier = http_common::verifier(&clock);
    start_actix!(1, 0, move || {
        let app = App::new();
        let app = if with_data {
            app.app_data(web::Data::new(verifier.clone()))
        } else {
            app
        };
        app.route(PLAIN_PATH, web::post().to(plain))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifier_from_data_and_missing_verifier() {
    let server = start_plain(true).await;
    let client = http_common::Client::new(&Running {
        base: format!("http://{}", server.addr),
        guard: Box::new(()),
    });
    let reply = client.deliver(PLAIN_PATH, "msg_d", "evt_d").await;
    assert_eq!((reply.status, &reply.body[..]), (200, &b"evt_d"[..]));
    server.handle.stop(false).await;

    let server = start_plain(false).await;
    let client = http_common::Client::new(&Running {
        base: format!("http://{}", server.addr),
        guard: Box::new(()),
    });
    let reply = client.deliver(PLAIN_PATH, "msg_d", "evt_d").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (500, "not_configured")
    );
    server.handle.stop(false).await;
}
