//! Evidence that only an installation on PostgreSQL has (`[store] backend = "postgresql"`,
//! docs/SCALING.md): the database the nodes share, asked by the audit itself.
//!
//! - NC-2.3.4: the store holding the mailboxes (where it is), that a commit waits for the disk
//!   (`synchronous_commit`, on which the 250 after DATA depends) and the schema's version;
//! - AL-1.1: the link from this node to the database, TLS 1.2 or higher unless the database is
//!   on this host.
//!
//! On the embedded store (SQLite) these give no finding at all.

use crate::facts::{Facts, PostgresFacts};
use crate::Finding;
use rampart_config::StoreBackend;

/// The database's facts on PostgreSQL; `None` on SQLite (no findings); `Err` with the one
/// finding that says the database could not be asked.
fn database<'a>(f: &'a Facts, id: &'static str) -> Option<Result<&'a PostgresFacts, Finding>> {
    let on_pg = f
        .config
        .as_ref()
        .is_some_and(|c| c.store.backend == StoreBackend::Postgresql);
    if !on_pg {
        return None;
    }
    Some(match &f.postgresql {
        Some(Ok(pg)) => Ok(pg),
        Some(Err(e)) => Err(Finding::fail(
            id,
            "database",
            format!("the PostgreSQL database of [store] url could not be asked: {e}"),
            "check [store] url and password_file, and that the database is up; then run the audit again",
        )),
        None => Err(Finding::warn(
            id,
            "database",
            "the PostgreSQL database of [store] url was not asked",
            "run `rampart audit` with the node's configuration (--config)",
        )),
    })
}

/// NC-2.3.4 on PostgreSQL: where the mailboxes are, that commits are synchronous, and the
/// schema's version.
pub fn nc_2_3_4(f: &Facts) -> Vec<Finding> {
    const ID: &str = "NC-2.3.4";
    let pg = match database(f, ID) {
        None => return Vec::new(),
        Some(Err(finding)) => return vec![finding],
        Some(Ok(pg)) => pg,
    };
    let data_dir = f
        .config
        .as_ref()
        .map(|c| c.data_dir.display().to_string())
        .unwrap_or_default();
    vec![
        Finding::pass(
            ID,
            "store",
            format!(
                "backend postgresql: queue, mailboxes, directory, trace, bans and counters in \
                 database \"{}\" at {} (role \"{}\"), shared by every node; this node keeps only \
                 its own files (TLS, DKIM keys, integrity baseline, spool) in {data_dir}",
                pg.database, pg.host, pg.user
            ),
        ),
        synchronous_commit(ID, pg),
        schema(ID, pg),
    ]
}

/// The 250 after DATA means the rows are on the primary's disk only while no commit of
/// Rampart's returns before its WAL is flushed: `synchronous_commit` must not be `off`, neither
/// in Rampart's own sessions nor as the database's default.
fn synchronous_commit(id: &'static str, pg: &PostgresFacts) -> Finding {
    const CHECK: &str = "synchronous_commit";
    let (session, default) = (
        pg.synchronous_commit.as_str(),
        pg.synchronous_commit_default.as_str(),
    );
    if session.eq_ignore_ascii_case("off") {
        return Finding::fail(
            id,
            CHECK,
            "SHOW synchronous_commit in Rampart's own sessions answers `off`: a commit returns \
             before it is on disk, so a 250 after DATA can be undone by a crash of the database",
            format!(
                "connect Rampart to PostgreSQL directly (not through a pooler that drops startup \
                 options), and turn it on: ALTER ROLE \"{}\" RESET synchronous_commit; \
                 ALTER DATABASE \"{}\" RESET synchronous_commit",
                pg.user, pg.database
            ),
        );
    }
    if default.eq_ignore_ascii_case("off") {
        return Finding::fail(
            id,
            CHECK,
            format!(
                "SHOW synchronous_commit answers `off` as the database's default (Rampart's own \
                 sessions ask for `{session}` when they connect): any session whose startup \
                 options are lost on the way, behind a connection pooler or after a change of \
                 [store] url, commits without waiting for the disk, and the 250 after DATA would \
                 promise what a crash of the database can undo"
            ),
            format!(
                "turn it on where it was turned off, as a superuser: ALTER DATABASE \"{}\" RESET \
                 synchronous_commit; ALTER ROLE \"{}\" RESET synchronous_commit; ALTER SYSTEM \
                 RESET synchronous_commit; SELECT pg_reload_conf(); and keep it on in \
                 postgresql.conf",
                pg.database, pg.user
            ),
        );
    }
    Finding::pass(
        id,
        CHECK,
        format!(
            "SHOW synchronous_commit: `{session}` in Rampart's sessions, `{default}` as the \
             database's default: a commit, and so the 250 after DATA, returns once the rows are \
             on the primary's disk"
        ),
    )
}

/// The schema: the version this Rampart knows, or the command that brings it there.
fn schema(id: &'static str, pg: &PostgresFacts) -> Finding {
    const CHECK: &str = "schema";
    let (at, latest) = (pg.schema_version, pg.schema_latest);
    if at < latest {
        Finding::fail(
            id,
            CHECK,
            format!("the database's schema is at version {at}; this Rampart needs version {latest}"),
            "apply the pending migrations: `rampart store migrate` (nodes also apply them when they start)",
        )
    } else if at > latest {
        Finding::warn(
            id,
            CHECK,
            format!(
                "the database's schema is at version {at}, newer than this Rampart knows ({latest}): \
                 another node runs a newer Rampart"
            ),
            "upgrade this node to the Rampart the other nodes run",
        )
    } else {
        Finding::pass(
            id,
            CHECK,
            format!("the database's schema is at version {at}, the newest this Rampart knows"),
        )
    }
}

/// AL-1.1 on PostgreSQL: the link from this node to the database.
pub fn al_1_1(f: &Facts) -> Vec<Finding> {
    const ID: &str = "AL-1.1";
    const CHECK: &str = "database link";
    let pg = match database(f, ID) {
        None => return Vec::new(),
        Some(Err(finding)) => return vec![finding],
        Some(Ok(pg)) => pg,
    };
    let modern = |v: &str| matches!(v, "TLSv1.2" | "TLSv1.3");
    let finding = match (&pg.tls_version, pg.tls_required) {
        (Some(v), _) if !modern(v) => Finding::fail(
            ID,
            CHECK,
            format!("the link to the database at {} uses {v}", pg.host),
            "allow TLS 1.2 or higher only on the database server (ssl_min_protocol_version = 'TLSv1.2')",
        ),
        (Some(v), true) => Finding::pass(
            ID,
            CHECK,
            format!(
                "the link to the database at {} is encrypted with {v}; [store] url requires TLS \
                 and verifies the server's certificate against sslrootcert",
                pg.host
            ),
        ),
        (None, true) => Finding::fail(
            ID,
            CHECK,
            format!(
                "[store] url requires TLS, yet the database at {} sees this node's session \
                 unencrypted (a proxy ending TLS in between?)",
                pg.host
            ),
            "connect the nodes to the database server itself, with TLS to its own port",
        ),
        (_, false) if pg.local => Finding::pass(
            ID,
            CHECK,
            format!(
                "the database is on this host ({}): the link does not leave it, so [store] url \
                 does not require TLS (sslmode=disable)",
                pg.host
            ),
        ),
        _ => Finding::fail(
            ID,
            CHECK,
            format!(
                "the link to the database at {} does not require TLS{}: messages, password \
                 hashes and the trace may cross the network in plain text",
                pg.host,
                match &pg.tls_version {
                    Some(v) => format!(" (this session happens to use {v})"),
                    None => " (this session is not encrypted)".into(),
                }
            ),
            "turn ssl on in the database server and add \
             sslmode=verify-full&sslrootcert=/path/to/ca.pem to [store] url",
        ),
    };
    vec![finding]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn facts(pg: Result<PostgresFacts, String>) -> Facts {
        let mut config = rampart_config::Config::embedded_default_with_warnings().0;
        config.store.backend = StoreBackend::Postgresql;
        Facts {
            config: Some(config),
            postgresql: Some(pg),
            ..Facts::default()
        }
    }

    fn pg() -> PostgresFacts {
        PostgresFacts {
            host: "db.example:5432".into(),
            local: false,
            database: "rampart".into(),
            user: "rampart".into(),
            tls_required: true,
            tls_version: Some("TLSv1.3".into()),
            synchronous_commit: "on".into(),
            synchronous_commit_default: "on".into(),
            schema_version: 7,
            schema_latest: 7,
        }
    }

    fn statuses(findings: &[Finding]) -> Vec<(String, Status)> {
        findings
            .iter()
            .map(|f| (f.check.clone(), f.status))
            .collect()
    }

    #[test]
    fn nothing_on_the_embedded_store() {
        let mut f = facts(Ok(pg()));
        f.config.as_mut().unwrap().store.backend = StoreBackend::Sqlite;
        assert!(nc_2_3_4(&f).is_empty());
        assert!(al_1_1(&f).is_empty());
    }

    #[test]
    fn a_sound_database_passes_every_row() {
        let f = facts(Ok(pg()));
        let rows = nc_2_3_4(&f);
        assert_eq!(
            statuses(&rows),
            vec![
                ("store".into(), Status::Pass),
                ("synchronous_commit".into(), Status::Pass),
                ("schema".into(), Status::Pass)
            ]
        );
        assert!(rows[0]
            .evidence
            .contains("database \"rampart\" at db.example:5432"));
        assert_eq!(al_1_1(&f)[0].status, Status::Pass);
    }

    #[test]
    fn synchronous_commit_off_anywhere_fails_with_the_fix() {
        for (session, default) in [("off", "on"), ("on", "off")] {
            let mut p = pg();
            p.synchronous_commit = session.into();
            p.synchronous_commit_default = default.into();
            let row = nc_2_3_4(&facts(Ok(p))).remove(1);
            assert_eq!(row.status, Status::Fail, "{session}/{default}");
            assert!(row.remedy.unwrap().contains("RESET synchronous_commit"));
        }
        let mut p = pg();
        p.synchronous_commit_default = "local".into();
        assert_eq!(nc_2_3_4(&facts(Ok(p)))[1].status, Status::Pass);
    }

    #[test]
    fn a_schema_behind_fails_and_one_ahead_warns() {
        let mut p = pg();
        p.schema_version = 6;
        assert_eq!(nc_2_3_4(&facts(Ok(p.clone())))[2].status, Status::Fail);
        p.schema_version = 8;
        assert_eq!(nc_2_3_4(&facts(Ok(p)))[2].status, Status::Warn);
    }

    #[test]
    fn plain_text_passes_only_on_this_host() {
        let mut p = pg();
        p.tls_required = false;
        p.tls_version = None;
        assert_eq!(al_1_1(&facts(Ok(p.clone())))[0].status, Status::Fail);
        p.local = true;
        assert_eq!(al_1_1(&facts(Ok(p.clone())))[0].status, Status::Pass);
        p.tls_required = true;
        p.tls_version = Some("TLSv1.1".into());
        assert_eq!(al_1_1(&facts(Ok(p)))[0].status, Status::Fail);
    }

    #[test]
    fn an_unreachable_database_fails_both_controls() {
        let f = facts(Err("no database connection: timed out".into()));
        assert_eq!(nc_2_3_4(&f)[0].status, Status::Fail);
        assert_eq!(al_1_1(&f)[0].status, Status::Fail);
    }
}
