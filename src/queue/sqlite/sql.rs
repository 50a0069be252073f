//! The SQL of the SQLite jobs table: its migration and its statements, built once for the
//! configured table; times as bound integer microseconds from the injected clock, tokens made
//! by SQLite (`randomblob(16)`, one per row).

/// The columns a job's record is read from, in the order [`super::RecordRow`] holds them.
const RECORD: &str = "seq, idempotency_key, webhook_id, event_type, timestamp, received_at, \
    body, headers, attempts, last_error, next_run_at";

/// The statements, built once for the configured table.
#[derive(Debug)]
pub(super) struct Sql {
    pub(super) table: String,
    /// `?1` namespace, `?2` stored key, `?3` key, `?4` webhook id, `?5` type, `?6` signed-at
    /// seconds, `?7` received at, `?8` body, `?9` headers (JSON), `?10` attempts, `?11` last
    /// error, `?12` now. One row affected when it was stored.
    pub(super) enqueue: String,
    /// `?1` namespace, `?2` stored key: (state, done_until).
    pub(super) existing: String,
    /// As `enqueue`: replaces a done job whose retention is over.
    pub(super) replace_expired: String,
    /// `?1` namespace, `?2` now, `?3` max, `?4` lease end: the record, the token, when it was
    /// due.
    pub(super) take: String,
    /// `?1` namespace, `?2` stored key, `?3` token, `?4` lease end.
    pub(super) renew: String,
    /// `?1` namespace, `?2` stored key, `?3` token, `?4` retention end.
    pub(super) complete: String,
    /// `?1` namespace, `?2` stored key, `?3` token: whether it is done under this token.
    pub(super) done_under: String,
    /// `?1` namespace, `?2` stored key, `?3` token, `?4` error, `?5` next run.
    pub(super) fail_retry: String,
    /// `?1` namespace, `?2` stored key, `?3` token, `?4` error, `?5` now.
    pub(super) fail_dead: String,
    /// `?1` namespace, `?2` stored key, `?3` token, `?4` now.
    pub(super) release: String,
    /// `?1` namespace, `?2` now, `?3` stored key (NULL: all).
    pub(super) redrive: String,
    /// `?1` namespace, `?2` limit.
    pub(super) dead: String,
    /// `?1` namespace, `?2` now: pending, running, dead, done, oldest pending received at.
    pub(super) stats: String,
    /// `?1` namespace, `?2` now, `?3` batch size.
    pub(super) purge: String,
    pub(super) migration: String,
}

impl Sql {
    pub(super) fn new(table: &str) -> Self {
        let t = &format!("\"{table}\"");
        let fenced = "namespace = ?1 AND key = ?2 AND state = 'running' AND token = ?3";
        let columns = "namespace, key, idempotency_key, webhook_id, event_type, timestamp, \
                       received_at, body, headers, state, attempts, last_error, next_run_at";
        let values = "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?11, ?12";
        Self {
            table: table.to_owned(),
            enqueue: format!(
                "INSERT INTO {t} ({columns}) VALUES ({values}) \
                 ON CONFLICT (namespace, key) DO NOTHING"
            ),
            existing: format!(
                "SELECT state, done_until FROM {t} WHERE namespace = ?1 AND key = ?2"
            ),
            replace_expired: format!(
                "UPDATE {t} SET ({columns}, token, done_until, dead_order) = \
                 ({values}, NULL, NULL, NULL) \
                 WHERE namespace = ?1 AND key = ?2 AND state = 'done' AND done_until <= ?12"
            ),
            take: format!(
                "UPDATE {t} SET state = 'running', attempts = attempts + 1, \
                 token = lower(hex(randomblob(16))), was_due = next_run_at, next_run_at = ?4 \
                 WHERE seq IN (SELECT seq FROM {t} WHERE namespace = ?1 \
                 AND state IN ('pending', 'running') AND next_run_at <= ?2 \
                 ORDER BY next_run_at, seq LIMIT ?3) \
                 RETURNING {RECORD}, token, was_due"
            ),
            renew: format!("UPDATE {t} SET next_run_at = ?4 WHERE {fenced}"),
            complete: format!("UPDATE {t} SET state = 'done', done_until = ?4 WHERE {fenced}"),
            done_under: format!(
                "SELECT EXISTS (SELECT 1 FROM {t} WHERE namespace = ?1 AND key = ?2 \
                 AND state = 'done' AND token = ?3)"
            ),
            fail_retry: format!(
                "UPDATE {t} SET state = 'pending', last_error = ?4, next_run_at = ?5, \
                 token = NULL WHERE {fenced}"
            ),
            fail_dead: format!(
                "UPDATE {t} SET state = 'dead', last_error = ?4, next_run_at = ?5, token = NULL, \
                 dead_order = (SELECT coalesce(max(dead_order), 0) + 1 FROM {t}) WHERE {fenced}"
            ),
            release: format!(
                "UPDATE {t} SET state = 'pending', attempts = max(attempts - 1, 0), \
                 next_run_at = ?4, token = NULL WHERE {fenced}"
            ),
            redrive: format!(
                "UPDATE {t} SET state = 'pending', attempts = 0, next_run_at = ?2, \
                 dead_order = NULL \
                 WHERE namespace = ?1 AND state = 'dead' AND (?3 IS NULL OR key = ?3)"
            ),
            dead: format!(
                "SELECT {RECORD} FROM {t} WHERE namespace = ?1 AND state = 'dead' \
                 ORDER BY dead_order DESC LIMIT ?2"
            ),
            stats: format!(
                "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'running'), 0), \
                 coalesce(sum(state = 'dead'), 0), \
                 coalesce(sum(state = 'done' AND done_until > ?2), 0), \
                 min(CASE WHEN state = 'pending' THEN received_at END) \
                 FROM {t} WHERE namespace = ?1"
            ),
            purge: format!(
                "DELETE FROM {t} WHERE seq IN (SELECT seq FROM {t} WHERE namespace = ?1 \
                 AND state = 'done' AND done_until <= ?2 ORDER BY done_until LIMIT ?3)"
            ),
            migration: format!(
                "CREATE TABLE IF NOT EXISTS {t} (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace       TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    webhook_id      TEXT    NOT NULL,
    event_type      TEXT,
    timestamp       INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    body            BLOB    NOT NULL,
    headers         TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    last_error      TEXT,
    next_run_at     INTEGER NOT NULL,
    was_due         INTEGER,
    token           TEXT,
    done_until      INTEGER,
    dead_order      INTEGER,
    UNIQUE (namespace, key),
    CHECK (state <> 'running' OR token IS NOT NULL),
    CHECK (state <> 'done' OR done_until IS NOT NULL),
    CHECK (state <> 'dead' OR dead_order IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS \"{table}_due_idx\" ON {t} (namespace, next_run_at, seq)
    WHERE state IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS \"{table}_done_idx\" ON {t} (namespace, done_until) WHERE state = 'done';
CREATE INDEX IF NOT EXISTS \"{table}_dead_idx\" ON {t} (namespace, dead_order) WHERE state = 'dead';
"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_the_table() {
        let sql = Sql::new("jobs");
        assert!(
            sql.migration
                .starts_with("CREATE TABLE IF NOT EXISTS \"jobs\" (")
        );
        assert_eq!(sql.migration.split_inclusive(";\n").count(), 4);
        assert!(
            sql.take
                .starts_with("UPDATE \"jobs\" SET state = 'running'")
        );
        assert!(sql.take.contains("WHERE seq IN (SELECT seq FROM \"jobs\""));
    }
}
