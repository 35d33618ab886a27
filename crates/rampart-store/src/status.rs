//! Where one recipient of a queued message stands: one type from delivery attempt to `rampart
//! queue list`, so no code passes statuses around as text.
//!
//! In the `queue` table the status is a column of its own plus `next_attempt` and `last_reply`;
//! [`RecipientStatus::column`] and [`RecipientStatus::from_row`] are the only places that know
//! its spelling. A scheduled recipient and one waiting to retry share the column value `queued`
//! (both are due at `next_attempt`); the reply of a failed attempt tells them apart.

/// The state of one recipient in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientStatus {
    /// Waiting for its first attempt (or released from quarantine).
    Scheduled,
    /// Accepted by the next hop, or delivered into a local mailbox: what was answered.
    Delivered(String),
    /// The last attempt failed for now; another is made at `next_attempt` (microseconds since
    /// the epoch).
    TemporaryFailure { reply: String, next_attempt: i64 },
    /// Failed for good (a 5xx reply, no such domain, or its lifetime ran out): a delivery status
    /// notification goes to the sender.
    PermanentFailure(Failure),
    /// Held in quarantine until an administrator releases or deletes it.
    Held,
}

/// Why a recipient failed for good, as a delivery status notification reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// RFC 3463 enhanced status code, e.g. `5.1.1`, or `4.4.7` for an expired message.
    pub status: String,
    /// The remote server's reply, or our reason.
    pub reply: String,
    /// The host that answered, if one did.
    pub remote_mta: Option<String>,
}

/// The value of the `queue.status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Queued,
    Delivered,
    Failed,
    Held,
}

impl Column {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Column::Queued => "queued",
            Column::Delivered => "delivered",
            Column::Failed => "failed",
            Column::Held => "held",
        }
    }

    fn parse(s: &str) -> Option<Column> {
        [
            Column::Queued,
            Column::Delivered,
            Column::Failed,
            Column::Held,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

impl rusqlite::ToSql for Column {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl RecipientStatus {
    /// The row values: (status column, next attempt, last reply).
    pub(crate) fn column(&self) -> (Column, i64, Option<String>) {
        match self {
            RecipientStatus::Scheduled => (Column::Queued, 0, None),
            RecipientStatus::Delivered(r) => (Column::Delivered, 0, Some(r.clone())),
            RecipientStatus::TemporaryFailure {
                reply,
                next_attempt,
            } => (Column::Queued, *next_attempt, Some(reply.clone())),
            RecipientStatus::PermanentFailure(f) => (Column::Failed, 0, Some(f.stored_reply())),
            RecipientStatus::Held => (Column::Held, 0, None),
        }
    }

    /// The row values as text, for a store outside this crate (PostgreSQL): (status column,
    /// next attempt, last reply), spelled as [`RecipientStatus::column`] spells them.
    pub fn row_values(&self) -> (&'static str, i64, Option<String>) {
        let (c, next, reply) = self.column();
        (c.as_str(), next, reply)
    }

    /// Reads a row back. A status the code does not know (a database written by a newer
    /// version) is reported as held: shown, never delivered by mistake.
    pub fn from_row(status: &str, next_attempt: i64, reply: Option<String>) -> Self {
        match (Column::parse(status), reply) {
            (Some(Column::Queued), None) => RecipientStatus::Scheduled,
            (Some(Column::Queued), Some(reply)) => RecipientStatus::TemporaryFailure {
                reply,
                next_attempt,
            },
            (Some(Column::Delivered), r) => RecipientStatus::Delivered(r.unwrap_or_default()),
            (Some(Column::Failed), r) => {
                RecipientStatus::PermanentFailure(Failure::from_stored(&r.unwrap_or_default()))
            }
            (Some(Column::Held), _) | (None, _) => RecipientStatus::Held,
        }
    }

    /// One word for scripts reading `rampart queue list`: `queued` (scheduled, or waiting to
    /// retry: due at its next attempt either way), `delivered`, `failed` or `held`.
    pub fn label(&self) -> &'static str {
        match self {
            RecipientStatus::Scheduled | RecipientStatus::TemporaryFailure { .. } => {
                Column::Queued.as_str()
            }
            RecipientStatus::Delivered(_) => Column::Delivered.as_str(),
            RecipientStatus::PermanentFailure(_) => Column::Failed.as_str(),
            RecipientStatus::Held => Column::Held.as_str(),
        }
    }

    /// True once nothing more will be attempted for this recipient.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            RecipientStatus::Delivered(_) | RecipientStatus::PermanentFailure(_)
        )
    }
}

impl Failure {
    /// Kept as `<status> <reply>` in `last_reply`, so `rampart queue list` shows the code.
    fn stored_reply(&self) -> String {
        format!("{} {}", self.status, self.reply)
    }

    fn from_stored(s: &str) -> Failure {
        let (status, reply) = s.split_once(' ').unwrap_or(("5.0.0", s));
        let is_code = status.split('.').count() == 3
            && status
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if is_code {
            Failure {
                status: status.to_string(),
                reply: reply.to_string(),
                remote_mta: None,
            }
        } else {
            Failure {
                status: "5.0.0".into(),
                reply: s.to_string(),
                remote_mta: None,
            }
        }
    }
}

impl std::fmt::Display for RecipientStatus {
    /// For `rampart queue list`: the state in words, then what was last answered.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecipientStatus::Scheduled => f.write_str("scheduled"),
            RecipientStatus::Delivered(r) => write!(f, "delivered: {r}"),
            RecipientStatus::TemporaryFailure {
                reply,
                next_attempt,
            } => write!(
                f,
                "temporary failure: {reply}; next attempt {}",
                crate::rfc5322_date(next_attempt / 1_000_000)
            ),
            RecipientStatus::PermanentFailure(x) => {
                write!(f, "permanent failure: {} {}", x.status, x.reply)
            }
            RecipientStatus::Held => f.write_str("held"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_survives_its_row() {
        let all = [
            RecipientStatus::Scheduled,
            RecipientStatus::Delivered("mx said: 250 ok".into()),
            RecipientStatus::TemporaryFailure {
                reply: "mx said: 451 4.3.0 later".into(),
                next_attempt: 1_800_000_000_000_000,
            },
            RecipientStatus::PermanentFailure(Failure {
                status: "5.1.1".into(),
                reply: "mx said: 550 5.1.1 no such user".into(),
                remote_mta: None,
            }),
            RecipientStatus::Held,
        ];
        for s in all {
            let (col, next, reply) = s.column();
            assert_eq!(RecipientStatus::from_row(col.as_str(), next, reply), s);
        }
    }

    #[test]
    fn an_unknown_column_value_is_never_due() {
        assert_eq!(
            RecipientStatus::from_row("frozen", 0, None),
            RecipientStatus::Held
        );
    }
}
