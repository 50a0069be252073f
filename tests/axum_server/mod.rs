//! An axum test server on loopback, shared by the axum suites: [`serve`] starts it on the
//! current tokio runtime and dropping the [`AxumServer`] stops it; and [`ProbeState`], the state
//! of a webhook route whose handler reports to the suite's probe.

use std::net::SocketAddr;
use std::sync::Arc;

use amps_webhooks::Verifier;
use axum::Router;
use axum::extract::FromRef;

/// A running axum server; dropping it aborts the task serving it.
pub(crate) struct AxumServer {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AxumServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` on 127.0.0.1:`port` (0: any free port).
pub(crate) async fn serve(port: u16, app: Router) -> AxumServer {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    AxumServer { addr, task }
}

/// A webhook route's state: the verifier, which `VerifiedEvent` takes through [`FromRef`], and
/// what the handler reports to.
pub(crate) struct ProbeState<P> {
    pub(crate) verifier: Verifier,
    pub(crate) probe: Arc<P>,
}

impl<P> Clone for ProbeState<P> {
    fn clone(&self) -> Self {
        Self {
            verifier: self.verifier.clone(),
            probe: Arc::clone(&self.probe),
        }
    }
}

impl<P> FromRef<ProbeState<P>> for Verifier {
    fn from_ref(state: &ProbeState<P>) -> Self {
        state.verifier.clone()
    }
}
