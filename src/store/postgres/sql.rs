//! The SQL of the inbox table: its statements, built once for the configured table, and the
//! claim that runs them on one connection (the store's pool or the caller's transaction); times
//! as bound microseconds from the injected clock ([`crate::store::sql`]).

use sqlx::postgres::PgConnection;

use super::{STORE, unavailable};
use crate::store::sql::{Found, MAX_CLAIM_ATTEMPTS, claim_kept_changing, live_record};
use crate::store::{ClaimToken, StoreError};

/// A `timestamptz` from bound microseconds since the Unix epoch.
pub(crate) fn ts(param: usize) -> String {
    format!("(timestamptz 'epoch' + ${param}::int8 * interval '1 microsecond')")
}

/// The statements, built once for the configured table.
#[derive(Debug)]
pub(super) struct Sql {
    /// The table's name in messages, qualified by its schema when one is configured.
    pub(super) table: String,
    /// `$1` key, `$2` token, `$3` now, `$4` lease end.
    pub(super) insert_lease: String,
    pub(super) take_over_lease: String,
    /// `$1` key, `$2` now, `$3` retention end.
    pub(super) insert_completed: String,
    pub(super) take_over_completed: String,
    /// `$1` key.
    pub(super) select: String,
    /// `$1` key, `$2` token, `$3` now, `$4` retention end.
    pub(super) complete: String,
    /// `$1` key, `$2` token, `$3` now.
    pub(super) release: String,
    /// `$1` now, `$2` batch size.
    pub(super) purge: String,
    pub(super) migration: String,
}

impl Sql {
    pub(super) fn new(schema: Option<&str>, table: &str) -> Self {
        let qualified = match schema {
            Some(schema) => format!("\"{schema}\".\"{table}\""),
            None => format!("\"{table}\""),
        };
        let t = &qualified;
        let mut migration = String::new();
        if let Some(schema) = schema {
            migration.push_str(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\";\n"));
        }
        migration.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {t} (
    key              text        PRIMARY KEY,
    state            text        NOT NULL CHECK (state IN ('in_flight', 'completed')),
    token            uuid,
    lease_expires_at timestamptz,
    retain_until     timestamptz,
    expires_at       timestamptz NOT NULL GENERATED ALWAYS AS
                         (CASE WHEN state = 'completed' THEN retain_until ELSE lease_expires_at END) STORED,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (state <> 'in_flight' OR (token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (state <> 'completed' OR retain_until IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS \"{table}_expires_at_idx\" ON {t} (expires_at);
"
        ));
        Self {
            table: match schema {
                Some(schema) => format!("{schema}.{table}"),
                None => table.to_owned(),
            },
            insert_lease: format!(
                "INSERT INTO {t} (key, state, token, lease_expires_at, created_at, updated_at) \
                 VALUES ($1, 'in_flight', $2::text::uuid, {lease}, {now}, {now}) \
                 ON CONFLICT (key) DO NOTHING",
                lease = ts(4),
                now = ts(3)
            ),
            take_over_lease: format!(
                "UPDATE {t} SET state = 'in_flight', token = $2::text::uuid, \
                 lease_expires_at = {lease}, retain_until = NULL, created_at = {now}, updated_at = {now} \
                 WHERE key = $1 AND expires_at <= {now}",
                lease = ts(4),
                now = ts(3)
            ),
            insert_completed: format!(
                "INSERT INTO {t} (key, state, retain_until, created_at, updated_at) \
                 VALUES ($1, 'completed', {until}, {now}, {now}) \
                 ON CONFLICT (key) DO NOTHING",
                until = ts(3),
                now = ts(2)
            ),
            take_over_completed: format!(
                "UPDATE {t} SET state = 'completed', token = NULL, lease_expires_at = NULL, \
                 retain_until = {until}, created_at = {now}, updated_at = {now} \
                 WHERE key = $1 AND expires_at <= {now}",
                until = ts(3),
                now = ts(2)
            ),
            select: format!(
                "SELECT state, (extract(epoch FROM expires_at) * 1000000)::int8 FROM {t} WHERE key = $1"
            ),
            complete: format!(
                "INSERT INTO {t} AS r (key, state, token, retain_until, created_at, updated_at) \
                 VALUES ($1, 'completed', $2::text::uuid, {until}, {now}, {now}) \
                 ON CONFLICT (key) DO UPDATE SET state = 'completed', token = EXCLUDED.token, \
                 lease_expires_at = NULL, retain_until = EXCLUDED.retain_until, updated_at = EXCLUDED.updated_at \
                 WHERE (r.state = 'in_flight' AND r.token = EXCLUDED.token) OR r.expires_at <= EXCLUDED.updated_at",
                until = ts(4),
                now = ts(3)
            ),
            release: format!(
                "WITH gone AS (DELETE FROM {t} WHERE key = $1 AND state = 'in_flight' AND token = $2::text::uuid RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM gone), EXISTS (SELECT 1 FROM {t} WHERE key = $1 AND expires_at > {now})",
                now = ts(3)
            ),
            purge: format!(
                "WITH doomed AS (SELECT key FROM {t} WHERE expires_at <= {now} ORDER BY expires_at LIMIT $2 \
                 FOR UPDATE SKIP LOCKED) \
                 DELETE FROM {t} AS r USING doomed WHERE r.key = doomed.key",
                now = ts(1)
            ),
            migration,
        }
    }
}

/// What a claim writes when the key has no live record.
#[derive(Clone, Copy)]
pub(super) enum Write {
    /// An in-flight record with this token until the lease end (microseconds).
    Lease { token: ClaimToken, until: i64 },
    /// A completed record until the retention end (microseconds), inside the caller's
    /// transaction.
    Completed { until: i64 },
}

impl Write {
    /// The statement for this write (`lease` for a lease, `completed` for a completion), bound
    /// to the key, the time and this write's values: the insert and the take-over bind alike.
    fn query<'q>(
        self,
        lease: &'q str,
        completed: &'q str,
        key: &'q str,
        now: i64,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        match self {
            Self::Lease { token, until } => sqlx::query(lease)
                .bind(key)
                .bind(token.to_string())
                .bind(now)
                .bind(until),
            Self::Completed { until } => sqlx::query(completed).bind(key).bind(now).bind(until),
        }
    }
}

impl Sql {
    /// Writes `write` on `key` when it has no live record; otherwise reports the live one.
    pub(super) async fn claim_on(
        &self,
        conn: &mut PgConnection,
        key: &str,
        now: i64,
        write: Write,
    ) -> Result<Found, StoreError> {
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            // Insert first: a fresh key costs one statement. A conflicting uncommitted insert
            // (a concurrent transactional claim) makes this wait for its transaction.
            let inserted = write
                .query(&self.insert_lease, &self.insert_completed, key, now)
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
            if inserted.rows_affected() == 1 {
                return Ok(Found::Written);
            }
            // The key has a row: take it over if it expired. An UPDATE whose condition fails
            // locks nothing, so answering a duplicate holds up nobody.
            let taken = write
                .query(&self.take_over_lease, &self.take_over_completed, key, now)
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
            if taken.rows_affected() == 1 {
                return Ok(Found::Written);
            }
            let row: Option<(String, i64)> = sqlx::query_as(&self.select)
                .bind(key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(unavailable)?;
            // Released, purged or expired between two statements: try again.
            if let Some(found) = live_record(STORE, &self.table, row, now) {
                return found;
            }
        }
        Err(claim_kept_changing(STORE, &self.table, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_the_table() {
        let sql = Sql::new(Some("app"), "inbox");
        assert!(
            sql.migration
                .starts_with("CREATE SCHEMA IF NOT EXISTS \"app\";")
        );
        assert!(
            sql.migration
                .contains("CREATE TABLE IF NOT EXISTS \"app\".\"inbox\"")
        );
        assert!(
            sql.migration
                .contains("\"inbox_expires_at_idx\" ON \"app\".\"inbox\" (expires_at)")
        );
        assert!(
            sql.insert_lease
                .starts_with("INSERT INTO \"app\".\"inbox\"")
        );
        let unqualified = Sql::new(None, "inbox");
        assert!(
            unqualified
                .migration
                .starts_with("CREATE TABLE IF NOT EXISTS \"inbox\"")
        );
        assert_eq!(
            (sql.table.as_str(), unqualified.table.as_str()),
            ("app.inbox", "inbox")
        );
    }
}
