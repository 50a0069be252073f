//! The SQL of the SQLite idempotency table: its statements, built once for the configured
//! table; times as bound integer microseconds from the injected clock
//! ([`crate::store::sql`]).

/// The statements, built once for the configured table.
#[derive(Debug)]
pub(super) struct Sql {
    /// The table's name.
    pub(super) table: String,
    /// `?1` key, `?2` token, `?3` now, `?4` lease end: inserts an in-flight row, or takes an
    /// expired one over; one row affected when the claim is the caller's.
    pub(super) claim: String,
    /// `?1` key: `(state, expires_at)`.
    pub(super) select: String,
    /// `?1` key, `?2` token, `?3` now, `?4` retention end.
    pub(super) complete: String,
    /// `?1` key, `?2` token.
    pub(super) release: String,
    /// `?1` key, `?2` now: whether a live record is left.
    pub(super) live: String,
    /// `?1` now, `?2` batch size.
    pub(super) purge: String,
    pub(super) migration: String,
}

impl Sql {
    pub(super) fn new(table: &str) -> Self {
        let t = format!("\"{table}\"");
        Self {
            table: table.to_owned(),
            claim: format!(
                "INSERT INTO {t} (key, state, token, expires_at, created_at, updated_at) \
                 VALUES (?1, 'in_flight', ?2, ?4, ?3, ?3) \
                 ON CONFLICT (key) DO UPDATE SET state = 'in_flight', token = excluded.token, \
                 expires_at = excluded.expires_at, created_at = excluded.created_at, \
                 updated_at = excluded.updated_at \
                 WHERE {t}.expires_at <= excluded.updated_at"
            ),
            select: format!("SELECT state, expires_at FROM {t} WHERE key = ?1"),
            complete: format!(
                "INSERT INTO {t} (key, state, token, expires_at, created_at, updated_at) \
                 VALUES (?1, 'completed', ?2, ?4, ?3, ?3) \
                 ON CONFLICT (key) DO UPDATE SET state = 'completed', token = excluded.token, \
                 expires_at = excluded.expires_at, updated_at = excluded.updated_at \
                 WHERE ({t}.state = 'in_flight' AND {t}.token = excluded.token) \
                 OR {t}.expires_at <= excluded.updated_at"
            ),
            release: format!(
                "DELETE FROM {t} WHERE key = ?1 AND state = 'in_flight' AND token = ?2"
            ),
            live: format!("SELECT EXISTS (SELECT 1 FROM {t} WHERE key = ?1 AND expires_at > ?2)"),
            purge: format!(
                "DELETE FROM {t} WHERE rowid IN \
                 (SELECT rowid FROM {t} WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)"
            ),
            migration: format!(
                "CREATE TABLE IF NOT EXISTS {t} (
    key        TEXT    PRIMARY KEY NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('in_flight', 'completed')),
    token      TEXT,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK (state <> 'in_flight' OR token IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS \"{table}_expires_at_idx\" ON {t} (expires_at);
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
        let sql = Sql::new("inbox");
        assert!(
            sql.migration
                .starts_with("CREATE TABLE IF NOT EXISTS \"inbox\" (")
        );
        assert!(
            sql.migration
                .contains("\"inbox_expires_at_idx\" ON \"inbox\" (expires_at);\n")
        );
        assert_eq!(sql.migration.split_inclusive(";\n").count(), 2);
        assert!(sql.claim.starts_with("INSERT INTO \"inbox\" "));
        assert_eq!(sql.table, "inbox");
    }
}
