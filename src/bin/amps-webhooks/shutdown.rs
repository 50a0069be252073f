//! When a long-running subcommand (`listen`, `work`) stops: at SIGINT (Ctrl-C) or SIGTERM,
//! told to everything that runs in it (the server, the worker) at once.

use tokio::sync::watch;

/// Tells every holder of a clone when the process was asked to stop.
#[derive(Clone)]
pub(crate) struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Listens for SIGINT and SIGTERM from this call on (the handlers are installed before it
    /// returns, so that a signal sent once the tool has printed its address is never left to
    /// the default action; one that cannot be listened for is). Call it inside the runtime.
    pub(crate) fn on_signals() -> Self {
        let (tell, told) = watch::channel(false);
        let signalled = signalled();
        tokio::spawn(async move {
            signalled.await;
            let _ = tell.send(true);
        });
        Self(told)
    }

    /// Completes once the process was asked to stop.
    pub(crate) async fn requested(mut self) {
        // An error means the sender is gone without telling: then nothing will ever tell.
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Installs the handlers of SIGINT and SIGTERM now; the future completes at the first of them.
#[cfg(unix)]
fn signalled() -> impl std::future::Future<Output = ()> + Send {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    async fn next(signal: Option<Signal>) {
        match signal {
            Some(mut signal) => {
                signal.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    let interrupt = signal(SignalKind::interrupt()).ok();
    let terminate = signal(SignalKind::terminate()).ok();
    async move {
        tokio::select! {
            () = next(interrupt) => {}
            () = next(terminate) => {}
        }
    }
}

/// Completes at the first Ctrl-C.
#[cfg(not(unix))]
fn signalled() -> impl std::future::Future<Output = ()> + Send {
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
