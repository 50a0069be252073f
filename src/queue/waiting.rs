//! The waiting take the SQL backends (PostgreSQL, SQLite) share: look for due jobs until some
//! are found or the wait is over, woken by an enqueue where the backend can be woken, looking
//! again every poll otherwise.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;

use super::Job;
use crate::store::StoreError;

/// Runs `look` until it finds jobs or `wait` has passed (at least once), answering what the
/// last look found. Between looks it sleeps until `waker` is notified or `poll` has passed,
/// whichever comes first; with no `waker` it polls.
///
/// # Errors
///
/// The first error of `look`.
pub(super) async fn take_waiting<F, Fut>(
    wait: Duration,
    poll: Duration,
    waker: Option<&Notify>,
    mut look: F,
) -> Result<Vec<Job>, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Vec<Job>, StoreError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Registered before the look, so that an enqueue during it is not missed.
        let notified = waker.map(Notify::notified);
        tokio::pin!(notified);
        if let Some(notified) = notified.as_mut().as_pin_mut() {
            notified.enable();
        }
        let jobs = look().await?;
        let now = tokio::time::Instant::now();
        if !jobs.is_empty() || now >= deadline {
            return Ok(jobs);
        }
        let nap = (deadline - now).min(poll);
        tokio::select! {
            () = async {
                match notified.as_pin_mut() {
                    Some(notified) => notified.await,
                    None => std::future::pending().await,
                }
            } => {}
            () = tokio::time::sleep(nap) => {}
        }
    }
}
