//! The one way this crate reaches Redis, shared by the store and the queue: a URL read as a
//! single server (`redis://`, `rediss://`) or a Redis Cluster (`redis+cluster://host:port,..`,
//! feature `redis-cluster`), and the [`RedisConnection`] that runs commands on either.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Cmd, Pipeline, RedisFuture, Value};

use crate::store::StoreError;
use crate::store::backend::configuration;

/// The scheme of a Redis Cluster URL: `redis+cluster://host:port,host:port[,..]`, with an
/// optional `user:password@` before the first node, applied to every node.
pub(crate) const CLUSTER_SCHEME: &str = "redis+cluster://";

/// Where a URL points: one server, or the seed nodes of a cluster.
#[derive(Clone)]
pub(crate) enum Target {
    /// One server (or a cluster-aware proxy).
    Single(Client),
    /// A Redis Cluster, through redis-rs's cluster client.
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster::ClusterClient),
}

impl Target {
    /// Reads `url` for `store` (the name its errors carry).
    pub(crate) fn open(store: &'static str, url: &str) -> Result<Self, StoreError> {
        match url.strip_prefix(CLUSTER_SCHEME) {
            Some(rest) => Self::cluster(store, rest),
            None => Client::open(url).map(Self::Single).map_err(|error| {
                configuration(
                    store,
                    format!(
                        "the Redis URL was refused ({:?}); expected redis://host:port or \
                         {CLUSTER_SCHEME}host:port,host:port",
                        error.kind()
                    ),
                )
            }),
        }
    }

    #[cfg(feature = "redis-cluster")]
    fn cluster(store: &'static str, rest: &str) -> Result<Self, StoreError> {
        let nodes = cluster_nodes(rest).ok_or_else(|| {
            configuration(
                store,
                format!("a cluster URL names its nodes: {CLUSTER_SCHEME}host:port,host:port"),
            )
        })?;
        redis::cluster::ClusterClient::new(nodes)
            .map(Self::Cluster)
            .map_err(|error| {
                configuration(
                    store,
                    format!("the cluster client was refused ({:?})", error.kind()),
                )
            })
    }

    #[cfg(not(feature = "redis-cluster"))]
    fn cluster(store: &'static str, _rest: &str) -> Result<Self, StoreError> {
        Err(configuration(
            store,
            "a Redis Cluster URL needs this crate's feature `redis-cluster`",
        ))
    }

    /// A connection that connects on first use and reconnects after a failure; each command
    /// answers within `timeout` or fails.
    pub(crate) fn connect_lazy(
        &self,
        store: &'static str,
        timeout: Duration,
    ) -> Result<RedisConnection, StoreError> {
        match self {
            Self::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2);
                ConnectionManager::new_lazy_with_config(client.clone(), config)
                    .map(RedisConnection::Single)
                    .map_err(|error| {
                        configuration(
                            store,
                            format!("the connection manager was refused: {error}"),
                        )
                    })
            }
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(client) => Ok(RedisConnection::Cluster(
                client.get_pending_async_connection_with_config(
                    redis::cluster::ClusterConfig::new()
                        .set_connection_timeout(timeout)
                        .set_response_timeout(timeout),
                ),
            )),
        }
    }

    /// A new connection of its own (not shared with other commands), for a command that blocks
    /// the connection it runs on for up to `response_timeout`.
    pub(crate) async fn connect_dedicated(
        &self,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> redis::RedisResult<RedisConnection> {
        match self {
            Self::Single(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(response_timeout));
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(RedisConnection::Dedicated)
            }
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(client) => client
                .get_async_connection_with_config(
                    redis::cluster::ClusterConfig::new()
                        .set_connection_timeout(connect_timeout)
                        .set_response_timeout(response_timeout),
                )
                .await
                .map(RedisConnection::Cluster),
        }
    }
}

/// The nodes of a cluster URL after its scheme, each as a `redis://` URL; `None` when it
/// names none.
#[cfg_attr(not(feature = "redis-cluster"), allow(dead_code))]
fn cluster_nodes(rest: &str) -> Option<Vec<String>> {
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(|host| format!("redis://{userinfo}{host}{path}"))
        .collect();
    (!nodes.is_empty()).then_some(nodes)
}

/// A connection to one server or to a cluster; cheap to clone (clones share the connection).
#[derive(Clone)]
pub(crate) enum RedisConnection {
    /// One server, reconnected in the background.
    Single(ConnectionManager),
    /// One server, on a connection of its own (for blocking reads).
    Dedicated(redis::aio::MultiplexedConnection),
    /// A cluster: each command routed to the node of its key's slot.
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Dedicated(connection) => connection.req_packed_command(cmd),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Dedicated(connection) => connection.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Dedicated(connection) => connection.get_db(),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_every_node_with_the_credentials() {
        assert_eq!(
            cluster_nodes("127.0.0.1:7000,127.0.0.1:7001"),
            Some(vec![
                "redis://127.0.0.1:7000".to_owned(),
                "redis://127.0.0.1:7001".to_owned()
            ])
        );
        assert_eq!(
            cluster_nodes("u:p@a:1, b:2"),
            Some(vec![
                "redis://u:p@a:1".to_owned(),
                "redis://u:p@b:2".to_owned()
            ])
        );
        assert_eq!(cluster_nodes(""), None);
        assert_eq!(cluster_nodes(",,"), None);
    }
}
