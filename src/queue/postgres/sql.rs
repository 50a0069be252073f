//! The SQL of the jobs table: its migration and its statements, built once for the configured
//! table; times as bound microseconds from the injected clock (the database's `now()` is never
//! read), tokens as UUIDs made by the database (`gen_random_uuid()`, PostgreSQL 13 or later).

use crate::store::postgres::ts;

/// The columns a job's record is read from, in the order [`super::row`] decodes them.
const RECORD: &str = "j.seq, j.idempotency_key, j.webhook_id, j.event_type, j.timestamp, \
    (extract(epoch FROM j.received_at) * 1000000)::int8, j.body, j.headers::text, j.attempts, \
    j.last_error, (extract(epoch FROM j.next_run_at) * 1000000)::int8";

/// The statements, built once for the configured table.
#[derive(Debug)]
pub(super) struct Sql {
    /// The table's name in messages, qualified by its schema when one is configured.
    pub(super) table: String,
    /// What the channel names are derived from: the qualified table.
    pub(super) channel_base: String,
    /// `$1` namespace, `$2` stored key, `$3` key, `$4` webhook id, `$5` type, `$6` signed-at
    /// seconds, `$7` received at, `$8` body, `$9` headers (JSON text), `$10` attempts,
    /// `$11` last error, `$12` now, `$13` channel. Answers (inserted, state, done_until µs).
    pub(super) enqueue: String,
    /// `$1` namespace, `$2` stored key. Answers (state, done_until µs).
    pub(super) existing: String,
    /// As `enqueue`: replaces a done job whose retention is over. Answers inserted.
    pub(super) replace_expired: String,
    /// `$1` namespace, `$2` now, `$3` max, `$4` lease end. Answers the was-due time and the
    /// record, then the token as 32 hex digits.
    pub(super) take: String,
    /// `$1` namespace, `$2` stored key, `$3` token, `$4` lease end.
    pub(super) renew: String,
    /// `$1` namespace, `$2` stored key, `$3` token, `$4` retention end. Answers whether it
    /// is done under this token now.
    pub(super) complete: String,
    /// `$1` namespace, `$2` stored key, `$3` token, `$4` error, `$5` next run.
    pub(super) fail_retry: String,
    /// `$1` namespace, `$2` stored key, `$3` token, `$4` error, `$5` now.
    pub(super) fail_dead: String,
    /// `$1` namespace, `$2` stored key, `$3` token, `$4` now, `$5` channel.
    pub(super) release: String,
    /// `$1` namespace, `$2` now, `$3` channel, `$4` stored key (NULL: all).
    pub(super) redrive: String,
    /// `$1` namespace, `$2` limit.
    pub(super) dead: String,
    /// `$1` namespace, `$2` now. Answers pending, running, dead, done, oldest received µs.
    pub(super) stats: String,
    /// `$1` namespace, `$2` now, `$3` batch size.
    pub(super) purge: String,
    pub(super) migration: String,
}

impl Sql {
    pub(super) fn new(schema: Option<&str>, table: &str) -> Self {
        let t = &match schema {
            Some(schema) => format!("\"{schema}\".\"{table}\""),
            None => format!("\"{table}\""),
        };
        let dead_seq = match schema {
            Some(schema) => format!("\"{schema}\".\"{table}_dead_seq\""),
            None => format!("\"{table}_dead_seq\""),
        };
        let name = match schema {
            Some(schema) => format!("{schema}.{table}"),
            None => table.to_owned(),
        };
        // A job addressed by its key is found through the primary key. Its state is compared as
        // `state || ''`, which no partial index's predicate matches: written `state = ...`, the
        // planner may take the due (or done) index instead, whose estimate is small while the
        // statistics lag, and filter every pending job of the namespace for the one key (a
        // completion then cost O(backlog): 5 ms a job in a drain of 10,000, measured).
        let fenced = "j.namespace = $1 AND j.key = $2 AND (j.state || '') = 'running' \
                      AND j.token = $3::text::uuid";
        let columns = "namespace, key, idempotency_key, webhook_id, event_type, timestamp, \
                       received_at, body, headers, state, attempts, last_error, next_run_at";
        let values = format!(
            "$1, $2, $3, $4, $5, $6, {received}, $8, $9::jsonb, 'pending', $10, $11, {now}",
            received = ts(7),
            now = ts(12)
        );
        let existing_row = format!(
            "SELECT state, (extract(epoch FROM done_until) * 1000000)::int8 AS done_until \
             FROM {t} WHERE namespace = $1 AND key = $2"
        );
        Self {
            migration: migration(schema, table, t, &dead_seq),
            enqueue: format!(
                "WITH ins AS (INSERT INTO {t} AS j ({columns}) VALUES ({values}) \
                 ON CONFLICT (namespace, key) DO NOTHING RETURNING 1), \
                 woken AS (SELECT pg_notify($13, '') FROM ins) \
                 SELECT (SELECT count(*) FROM woken), e.state, e.done_until \
                 FROM (SELECT 1) AS one LEFT JOIN ({existing}) AS e ON true",
                existing = existing_row,
            ),
            existing: format!(
                "SELECT state, (extract(epoch FROM done_until) * 1000000)::int8 FROM {t} \
                 WHERE namespace = $1 AND key = $2"
            ),
            replace_expired: format!(
                "WITH up AS (UPDATE {t} AS j SET ({columns}, seq, token, done_until, dead_order) = \
                 ({values}, DEFAULT, NULL, NULL, NULL) \
                 WHERE j.namespace = $1 AND j.key = $2 AND j.state = 'done' AND j.done_until <= {now} \
                 RETURNING 1), \
                 woken AS (SELECT pg_notify($13, '') FROM up) \
                 SELECT count(*) FROM woken",
                now = ts(12)
            ),
            take: format!(
                "WITH due AS (SELECT key, next_run_at AS was_due FROM {t} \
                 WHERE namespace = $1 AND state IN ('pending', 'running') AND next_run_at <= {now} \
                 ORDER BY next_run_at, seq LIMIT $3 FOR UPDATE SKIP LOCKED) \
                 UPDATE {t} AS j SET state = 'running', attempts = j.attempts + 1, \
                 token = gen_random_uuid(), next_run_at = {lease} \
                 FROM due WHERE j.namespace = $1 AND j.key = due.key \
                 RETURNING (extract(epoch FROM due.was_due) * 1000000)::int8, {RECORD}, \
                 replace(j.token::text, '-', '')",
                now = ts(2),
                lease = ts(4)
            ),
            renew: format!(
                "UPDATE {t} AS j SET next_run_at = {lease} WHERE {fenced}",
                lease = ts(4)
            ),
            complete: format!(
                "WITH up AS (UPDATE {t} AS j SET state = 'done', done_until = {until} \
                 WHERE {fenced} RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM up) OR EXISTS (SELECT 1 FROM {t} AS j \
                 WHERE j.namespace = $1 AND j.key = $2 AND (j.state || '') = 'done' \
                 AND j.token = $3::text::uuid)",
                until = ts(4)
            ),
            fail_retry: format!(
                "UPDATE {t} AS j SET state = 'pending', last_error = $4, next_run_at = {next}, \
                 token = NULL WHERE {fenced}",
                next = ts(5)
            ),
            fail_dead: format!(
                "UPDATE {t} AS j SET state = 'dead', last_error = $4, next_run_at = {now}, \
                 token = NULL, dead_order = nextval('{dead_seq}') WHERE {fenced}",
                now = ts(5),
                dead_seq = dead_seq.replace('\'', "''")
            ),
            release: format!(
                "WITH up AS (UPDATE {t} AS j SET state = 'pending', \
                 attempts = greatest(j.attempts - 1, 0), next_run_at = {now}, token = NULL \
                 WHERE {fenced} RETURNING 1), \
                 woken AS (SELECT pg_notify($5, '') FROM up) \
                 SELECT count(*) FROM woken",
                now = ts(4)
            ),
            redrive: format!(
                "WITH up AS (UPDATE {t} AS j SET state = 'pending', attempts = 0, \
                 next_run_at = {now}, dead_order = NULL \
                 WHERE j.namespace = $1 AND j.state = 'dead' AND ($4::text IS NULL OR j.key = $4) \
                 RETURNING 1), \
                 woken AS (SELECT pg_notify($3, '') FROM (SELECT 1 FROM up LIMIT 1) AS hit) \
                 SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM woken)",
                now = ts(2)
            ),
            dead: format!(
                "SELECT {RECORD} FROM {t} AS j WHERE j.namespace = $1 AND j.state = 'dead' \
                 ORDER BY j.dead_order DESC LIMIT $2"
            ),
            stats: format!(
                "SELECT count(*) FILTER (WHERE state = 'pending'), \
                 count(*) FILTER (WHERE state = 'running'), \
                 count(*) FILTER (WHERE state = 'dead'), \
                 count(*) FILTER (WHERE state = 'done' AND done_until > {now}), \
                 (extract(epoch FROM min(received_at) FILTER (WHERE state = 'pending')) * 1000000)::int8 \
                 FROM {t} WHERE namespace = $1",
                now = ts(2)
            ),
            purge: format!(
                "WITH doomed AS (SELECT key FROM {t} WHERE namespace = $1 AND state = 'done' \
                 AND done_until <= {now} ORDER BY done_until LIMIT $3 FOR UPDATE SKIP LOCKED) \
                 DELETE FROM {t} AS j USING doomed WHERE j.namespace = $1 AND j.key = doomed.key",
                now = ts(2)
            ),
            channel_base: name.clone(),
            table: name,
        }
    }
}

/// The migration: the schema (when configured), the table, the sequence that orders the dead,
/// and the indexes.
fn migration(schema: Option<&str>, table: &str, t: &str, dead_seq: &str) -> String {
    let mut migration = String::new();
    if let Some(schema) = schema {
        migration.push_str(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\";\n"));
    }
    migration.push_str(&format!(
        "CREATE TABLE IF NOT EXISTS {t} (
    namespace       text        NOT NULL,
    key             text        NOT NULL,
    seq             bigint      NOT NULL GENERATED BY DEFAULT AS IDENTITY,
    idempotency_key text        NOT NULL,
    webhook_id      text        NOT NULL,
    event_type      text,
    timestamp       bigint      NOT NULL,
    received_at     timestamptz NOT NULL,
    body            bytea       NOT NULL,
    headers         jsonb       NOT NULL,
    state           text        NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
    attempts        integer     NOT NULL CHECK (attempts >= 0),
    last_error      text,
    next_run_at     timestamptz NOT NULL,
    token           uuid,
    done_until      timestamptz,
    dead_order      bigint,
    PRIMARY KEY (namespace, key),
    CHECK (state <> 'running' OR token IS NOT NULL),
    CHECK (state <> 'done' OR done_until IS NOT NULL),
    CHECK (state <> 'dead' OR dead_order IS NOT NULL)
);
CREATE SEQUENCE IF NOT EXISTS {dead_seq};
CREATE INDEX IF NOT EXISTS \"{table}_due_idx\" ON {t} (namespace, next_run_at, seq)
    WHERE state IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS \"{table}_done_idx\" ON {t} (namespace, done_until) WHERE state = 'done';
CREATE INDEX IF NOT EXISTS \"{table}_dead_idx\" ON {t} (namespace, dead_order) WHERE state = 'dead';
"
    ));
    migration
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_migration_is_the_default_tables() {
        let sql = Sql::new(None, super::super::DEFAULT_POSTGRES_QUEUE_TABLE);
        assert_eq!(sql.migration, include_str!("migration.sql"));
    }

    #[test]
    fn statements_name_the_table() {
        let sql = Sql::new(Some("app"), "jobs");
        assert!(sql.migration.starts_with(
            "CREATE SCHEMA IF NOT EXISTS \"app\";\nCREATE TABLE IF NOT EXISTS \"app\".\"jobs\" ("
        ));
        assert!(
            sql.migration
                .contains("\"jobs_due_idx\" ON \"app\".\"jobs\"")
        );
        assert!(
            sql.fail_dead
                .contains("nextval('\"app\".\"jobs_dead_seq\"')")
        );
        assert!(
            sql.enqueue
                .starts_with("WITH ins AS (INSERT INTO \"app\".\"jobs\"")
        );
        assert_eq!(sql.table, "app.jobs");
        assert_eq!(Sql::new(None, "jobs").table, "jobs");
    }
}
