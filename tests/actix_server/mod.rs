//! An actix-web test server on loopback, shared by the actix suites: started on the current
//! tokio runtime by [`start_actix!`], stopped when its [`ActixServer`] is dropped.

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;

/// A running actix-web server; dropping it asks the server to stop.
pub(crate) struct ActixServer {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Its handle, to stop it and wait (`handle.stop(false).await`).
    pub(crate) handle: ServerHandle,
}

impl Drop for ActixServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Starts `HttpServer::new($app)` on 127.0.0.1:`$port` (0: any free port) with `$workers`
/// workers and no signal handling, on the current tokio runtime: an [`ActixServer`].
///
/// A macro, not a function: `HttpServer::new`'s bounds name types that actix-web does not
/// re-export.
macro_rules! start_actix {
    ($workers:expr, $port:expr, $app:expr) => {{
        let server = actix_web::HttpServer::new($app)
            .workers($workers)
            .disable_signals()
            .bind(("127.0.0.1", $port))
            .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        crate::actix_server::ActixServer { addr, handle }
    }};
}
