//! The notifications that wake waiting takes: one `LISTEN` connection per queue (a pool of
//! its own, one connection), owned by a task that turns each `NOTIFY` on a namespace's channel
//! into a wake-up of one waiting take, and a lost connection into a wake-up of all (they look
//! again; what was notified meanwhile is found by the look, not lost).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::{Notify, mpsc, oneshot};

/// How long the task waits before connecting again after the connection failed.
const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);

type Wakers = Arc<Mutex<HashMap<String, Waker>>>;

#[derive(Clone, Default)]
struct Waker {
    notify: Arc<Notify>,
    listening: bool,
}

/// A request to the task: listen on a channel, answered once PostgreSQL confirmed it.
struct Listen {
    channel: String,
    done: oneshot::Sender<Result<(), sqlx::Error>>,
}

/// The queue's side of the notifications.
pub(super) struct Listener {
    pool: PgPool,
    timeout: Duration,
    wakers: Wakers,
    task: Mutex<Option<mpsc::UnboundedSender<Listen>>>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    /// A listener connecting as `pool` does, on a connection of its own; nothing connects
    /// before the first waiting take.
    pub(super) fn new(pool: &PgPool, timeout: Duration) -> Self {
        let options = (*pool.connect_options()).clone();
        Self {
            pool: PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(timeout)
                .connect_lazy_with(options),
            timeout,
            wakers: Arc::default(),
            task: Mutex::new(None),
        }
    }

    /// What wakes a take waiting on `channel`: listened to by now when PostgreSQL answered in
    /// time, else not yet (the take then polls, and the next one asks again).
    pub(super) async fn waker(&self, channel: &str) -> Arc<Notify> {
        let waker = self
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(channel.to_owned())
            .or_default()
            .clone();
        if waker.listening {
            return waker.notify;
        }
        let (done, answer) = oneshot::channel();
        let sent = self
            .sender()
            .send(Listen {
                channel: channel.to_owned(),
                done,
            })
            .is_ok();
        let listened = sent
            && matches!(
                tokio::time::timeout(self.timeout, answer).await,
                Ok(Ok(Ok(())))
            );
        if listened {
            if let Some(waker) = self
                .wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_mut(channel)
            {
                waker.listening = true;
            }
        } else {
            tracing::warn!(
                channel,
                "could not LISTEN for new jobs; waiting takes poll until it can"
            );
        }
        waker.notify
    }

    /// The task's inbox, starting the task on the current runtime when it is not running.
    fn sender(&self) -> mpsc::UnboundedSender<Listen> {
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        match &*task {
            Some(sender) if !sender.is_closed() => sender.clone(),
            _ => {
                let (sender, requests) = mpsc::unbounded_channel();
                tokio::spawn(run(self.pool.clone(), Arc::clone(&self.wakers), requests));
                *task = Some(sender.clone());
                sender
            }
        }
    }
}

/// Wakes one take waiting on `channel`, or the next one to wait.
fn wake(wakers: &Wakers, channel: &str) {
    if let Some(waker) = wakers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(channel)
    {
        waker.notify.notify_one();
    }
}

/// Wakes every waiting take, and marks every channel as not listened to when `lost`.
fn wake_all(wakers: &Wakers, lost: bool) {
    for waker in wakers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .values_mut()
    {
        waker.notify.notify_waiters();
        if lost {
            waker.listening = false;
        }
    }
}

/// The task: listens on the channels asked for, wakes takes on notifications; ends when the
/// queue is dropped.
async fn run(pool: PgPool, wakers: Wakers, mut requests: mpsc::UnboundedReceiver<Listen>) {
    let mut listener: Option<PgListener> = None;
    loop {
        let Some(connected) = listener.as_mut() else {
            // Connect when asked to listen; the channels are asked for again by the takes.
            let Some(request) = requests.recv().await else {
                return;
            };
            match PgListener::connect_with(&pool).await {
                Ok(mut connected) => {
                    let listened = connected.listen(&request.channel).await;
                    let _ = request.done.send(listened);
                    listener = Some(connected);
                }
                Err(error) => {
                    let _ = request.done.send(Err(error));
                    tokio::time::sleep(RECONNECT_BACKOFF).await;
                }
            }
            continue;
        };
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { return };
                let listened = connected.listen(&request.channel).await;
                let _ = request.done.send(listened);
            }
            // Cancel-safe: sqlx consumes a message from its buffer only once it is whole.
            received = connected.try_recv() => match received {
                Ok(Some(notification)) => wake(&wakers, notification.channel()),
                // Reconnected, listening again; what was sent meanwhile is lost: look again.
                Ok(None) => wake_all(&wakers, false),
                Err(error) => {
                    tracing::warn!(%error, "the LISTEN connection failed; waiting takes poll until it is back");
                    listener = None;
                    wake_all(&wakers, true);
                }
            },
        }
    }
}
