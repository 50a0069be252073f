//! A receiver whose effect and deduplication record commit together: every `push.completed`
//! inserts a row in `completed_pushes` in the same transaction as its inbox claim, so a crash or
//! an error before the commit leaves the event unprocessed for the platform's retry, and a
//! duplicate never inserts a second row.
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1/test WEBHOOK_SECRET=whsec_...
//! cargo run --example postgres_inbox --features postgres,http`, then POST signed deliveries to
//! `http://127.0.0.1:3000/webhooks` (`amps-webhooks sign` makes them).

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::store::sqlx::{self, PgPool};
use amps_webhooks::store::{InboxClaim, PostgresInbox, PostgresStore};
use amps_webhooks::{AmpsEvent, Verifier};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header::RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

struct App {
    verifier: Verifier,
    pool: PgPool,
    inbox: PostgresInbox,
}

type BoxError = Box<dyn Error + Send + Sync>;

async fn receive(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let event = match app.verifier.verify(&headers, &body) {
        Ok(verified) => match verified.parse::<AmpsEvent>() {
            Ok(event) => event,
            Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        },
        Err(error) => {
            let status = StatusCode::from_u16(error.http_status());
            return status.unwrap_or(StatusCode::BAD_REQUEST).into_response();
        }
    };
    let AmpsEvent::PushCompleted(push) = event.payload() else {
        return StatusCode::NO_CONTENT.into_response(); // nothing to do for other events
    };
    let outcome: Result<Response, BoxError> = async {
        let mut tx = app.pool.begin().await?;
        Ok(match app.inbox.claim_event_in(&mut tx, &event).await? {
            InboxClaim::Acquired => {
                sqlx::query(
                    "INSERT INTO completed_pushes (event_id, action_id, device_id) VALUES ($1, $2, $3)",
                )
                .bind(event.idempotency_key())
                .bind(&push.action_id)
                .bind(&push.device_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?; // the row and its inbox record, together
                StatusCode::OK.into_response()
            }
            // A duplicate: acknowledge; dropping `tx` rolls it back.
            InboxClaim::Completed => StatusCode::OK.into_response(),
            InboxClaim::InFlight { retry_after } => {
                let seconds = retry_after.as_secs().max(1).to_string();
                (StatusCode::CONFLICT, [(RETRY_AFTER, seconds)]).into_response()
            }
        })
    }
    .await;
    outcome.unwrap_or_else(|error| {
        eprintln!("not processed, the sender will retry: {error}");
        (StatusCode::SERVICE_UNAVAILABLE, [(RETRY_AFTER, "5")]).into_response()
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let secret = std::env::var("WEBHOOK_SECRET")
        .unwrap_or_else(|_| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());

    let pool = PgPool::connect(&url).await?;
    let store = PostgresStore::with_pool(pool.clone()).build()?;
    store.migrate().await?;
    let _purger = store.spawn_purger(Duration::from_secs(3600));
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS completed_pushes \
         (event_id text NOT NULL, action_id text NOT NULL, device_id text NOT NULL)",
    )
    .execute(&pool)
    .await?;

    let app = Arc::new(App {
        verifier: Verifier::builder().secret(secret.parse()?).build()?,
        inbox: store.inbox("amps")?,
        pool,
    });
    let router = axum::Router::new()
        .route("/webhooks", post(receive))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}/webhooks", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
