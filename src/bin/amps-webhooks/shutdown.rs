//! When a long-running subcommand (`listen`, `work`) stops: at SIGINT (Ctrl-C) or SIGTERM,
//! told to everything that runs in it (the server, the worker) at once.

use tokio::sync::watch;

/// Tells every holder of a clone when the process was asked to stop.
#[derive(Clone)]
pub(crate) struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Starts listening for SIGINT and SIGTERM (a signal that cannot be listened for is
    /// left to its default action). Call it inside the runtime.
    pub(crate) fn on_signals() -> Self {
        let (tell, told) = watch::channel(false);
        tokio::spawn(async move {
            signalled().await;
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

/// Completes at the first SIGINT or SIGTERM.
async fn signalled() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
