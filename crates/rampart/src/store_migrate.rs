//! `rampart store migrate-from-sqlite`: moves an embedded installation (the data directory's
//! SQLite and its queue's message files) into the PostgreSQL database of `[store]`.
//!
//! - The SQLite side must be still: a server answering on the data directory's admin socket is
//!   refused (its queue and mailboxes would change while they are read).
//! - The PostgreSQL side must be empty: migrations are applied, then any table with rows is
//!   refused ([`rampart_store_pg::import`]).
//! - Every table the PostgreSQL schema has is copied from the SQLite table of the same name,
//!   under the columns both have; message bodies go into `message_bodies`, from SQLite's own
//!   (small messages) or from the message files (large ones). All in one transaction; identity
//!   sequences are moved past the ids imported; then the count of each table is printed.
//! - SQLite tables that hold rows but have no PostgreSQL table yet are named as left behind.
//! - The DKIM key files of `data_dir/dkim/` go into `dkim_keys` in the same transaction, so
//!   every node signs with them (AL-2.2); the files stay (they are the node's own copy).

use rampart_config::{Config, StoreBackend};
use rampart_store_pg::import::{Cell, Importer, Table};
use rampart_store_pg::PgStore;
use rusqlite::types::ValueRef;
use std::path::Path;

pub type Error = Box<dyn std::error::Error>;

/// Rows handed to PostgreSQL at once; the SQLite statement stays open between batches.
const BATCH: usize = 500;

pub fn run(config: &Config) -> Result<(), Error> {
    if config.store.backend != StoreBackend::Postgresql {
        return Err(
            "migrate-from-sqlite moves the embedded store into PostgreSQL: set [store] \
                    backend = \"postgresql\" with url and password_file, and keep data_dir at \
                    the embedded installation"
                .into(),
        );
    }
    let dir = &config.data_dir;
    let db_path = dir.join("rampart.db");
    if !db_path.exists() {
        return Err(format!(
            "no embedded store in {} (rampart.db is missing); point data_dir (or --data-dir) at \
             the installation to move",
            dir.display()
        )
        .into());
    }
    match crate::admin_socket::query(dir) {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(format!(
                "a server is running on {} (its admin socket answers); stop it first \
                 (systemctl stop rampart) so that nothing changes while it is moved",
                dir.display()
            )
            .into())
        }
        Err(e) => {
            return Err(format!(
                "cannot tell whether a server runs on {} ({e}); stop it, and run this as the \
                 user rampart runs as",
                dir.display()
            )
            .into())
        }
    }
    let sqlite = rusqlite::Connection::open_with_flags(
        &db_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", db_path.display()))?;
    sqlite.busy_timeout(std::time::Duration::from_secs(10))?;
    let options = crate::store_cmd::pg_options(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let moved = runtime.block_on(async {
        let store = PgStore::connect(&options)?;
        let mut importer = store.begin_import().await?;
        // One read transaction: a consistent picture of the installation.
        sqlite.execute_batch("BEGIN")?;
        let mut moved = copy_all(&sqlite, &mut importer, &dir.join("messages")).await?;
        copy_dkim_keys(&mut importer, dir, &mut moved).await?;
        sqlite.execute_batch("COMMIT")?;
        importer.commit().await?;
        Ok::<_, Error>(moved)
    })?;
    for (table, rows) in &moved.copied {
        println!("{table}: {rows}");
    }
    for (table, rows) in &moved.left {
        println!("not moved: {table} ({rows} rows): no PostgreSQL table for it yet");
    }
    for note in &moved.notes {
        println!("{note}");
    }
    println!(
        "moved {} rows from {} into PostgreSQL in one transaction; start the nodes with \
         [store] backend = \"postgresql\"",
        moved.copied.iter().map(|(_, n)| n).sum::<u64>(),
        db_path.display()
    );
    Ok(())
}

/// Puts the data directory's DKIM key files into `dkim_keys` (as PEM), one key per domain and
/// selector as the table holds them: a second file of a selector (another algorithm) is named
/// as left behind.
async fn copy_dkim_keys(
    importer: &mut Importer,
    dir: &Path,
    moved: &mut Moved,
) -> Result<(), Error> {
    use rampart_queue::dkim;
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (domain, selector, alg, path) in dkim::list(dir) {
        if !seen.insert((domain.clone(), selector.clone())) {
            moved.notes.push(format!(
                "not moved: DKIM key file {}: selector {selector} of {domain} has a key already \
                 (one per selector); it still signs on this node",
                path.display()
            ));
            continue;
        }
        let der = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let created = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or_else(rampart_store::now_micros, |d| d.as_micros() as i64);
        rows.push(vec![
            Cell::Text(domain),
            Cell::Text(selector),
            Cell::Text(alg.name().into()),
            Cell::Text(dkim::to_pem(alg, &der)),
            Cell::Int(created),
        ]);
    }
    if rows.is_empty() {
        return Ok(());
    }
    let columns: Vec<String> = [
        "domain",
        "selector",
        "algorithm",
        "private_key_pem",
        "created",
    ]
    .map(String::from)
    .to_vec();
    let n = importer.insert("dkim_keys", &columns, &rows).await?;
    moved.copied.push(("dkim_keys".into(), n));
    Ok(())
}

/// What was copied, table by table, and what was left behind.
struct Moved {
    copied: Vec<(String, u64)>,
    left: Vec<(String, u64)>,
    /// Anything else not moved, as a line to print.
    notes: Vec<String>,
}

async fn copy_all(
    sqlite: &rusqlite::Connection,
    importer: &mut Importer,
    messages_dir: &Path,
) -> Result<Moved, Error> {
    let source = sqlite_tables(sqlite)?;
    let tables: Vec<Table> = importer.tables().to_vec();
    let mut copied = Vec::new();
    for table in &tables {
        if !source.iter().any(|t| t == &table.name) {
            continue;
        }
        let n = if table.name == "message_bodies" {
            copy_bodies(sqlite, importer, messages_dir).await?
        } else {
            copy_table(sqlite, importer, table).await?
        };
        copied.push((table.name.clone(), n));
    }
    // SQLite tables with rows that have no PostgreSQL table: named, not moved.
    let mut left = Vec::new();
    for name in source {
        if tables.iter().any(|t| t.name == name) {
            continue;
        }
        let rows: i64 =
            sqlite.query_row(&format!("SELECT count(*) FROM {}", quote(&name)), [], |r| {
                r.get(0)
            })?;
        if rows > 0 {
            left.push((name, u64::try_from(rows).unwrap_or(0)));
        }
    }
    Ok(Moved {
        copied,
        left,
        notes: Vec::new(),
    })
}

/// The SQLite database's own tables (not its internal ones, nor the virtual tables' shadows).
fn sqlite_tables(sqlite: &rusqlite::Connection) -> Result<Vec<String>, Error> {
    let mut st = sqlite.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         ORDER BY name",
    )?;
    let names = st
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(names)
}

fn sqlite_columns(sqlite: &rusqlite::Connection, table: &str) -> Result<Vec<String>, Error> {
    let mut st = sqlite.prepare(&format!("PRAGMA table_info({})", quote(table)))?;
    let names = st
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(names)
}

/// Copies the columns `table` shares with SQLite's table of that name, in SQLite's row order
/// (a mailbox's parent, inserted before it, has the smaller id).
async fn copy_table(
    sqlite: &rusqlite::Connection,
    importer: &mut Importer,
    table: &Table,
) -> Result<u64, Error> {
    let have = sqlite_columns(sqlite, &table.name)?;
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| c.name.clone())
        .filter(|c| have.contains(c))
        .collect();
    if columns.is_empty() {
        return Ok(0);
    }
    let list = columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let ordered = format!("SELECT {list} FROM {} ORDER BY rowid", quote(&table.name));
    // A table WITHOUT ROWID has no rowid: its own order then.
    let mut st = match sqlite.prepare(&ordered) {
        Ok(st) => st,
        Err(_) => sqlite.prepare(&format!("SELECT {list} FROM {}", quote(&table.name)))?,
    };
    let mut rows = st.query([])?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut n = 0;
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            cells.push(cell(row.get_ref(i)?));
        }
        batch.push(cells);
        if batch.len() == BATCH {
            n += importer.insert(&table.name, &columns, &batch).await?;
            batch.clear();
        }
    }
    n += importer.insert(&table.name, &columns, &batch).await?;
    Ok(n)
}

/// Every stored message's body: SQLite's `message_bodies` row when it has one (small messages),
/// else the message file of the same name.
async fn copy_bodies(
    sqlite: &rusqlite::Connection,
    importer: &mut Importer,
    messages_dir: &Path,
) -> Result<u64, Error> {
    let columns = ["id".to_string(), "data".to_string()];
    let mut st = sqlite.prepare(
        "SELECT m.id, b.data FROM messages m LEFT JOIN message_bodies b ON b.id = m.id
         ORDER BY m.rowid",
    )?;
    let mut rows = st.query([])?;
    let mut batch = Vec::new();
    let mut bytes = 0;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let data: Vec<u8> = match row.get::<_, Option<Vec<u8>>>(1)? {
            Some(d) => d,
            None => {
                // An id is a file name of ours; anything else is not looked up.
                if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
                    return Err(format!("message id {id:?} is not a file name; not moved").into());
                }
                let path = messages_dir.join(&id);
                std::fs::read(&path).map_err(|e| {
                    format!(
                        "message {id} has no body: {} cannot be read ({e}); the installation \
                         is damaged, nothing was moved",
                        path.display()
                    )
                })?
            }
        };
        bytes += data.len();
        batch.push(vec![Cell::Text(id), Cell::Blob(data)]);
        // Bodies are large: a batch is bounded by its bytes too.
        if batch.len() == BATCH || bytes > 32 * 1024 * 1024 {
            n += importer.insert("message_bodies", &columns, &batch).await?;
            batch.clear();
            bytes = 0;
        }
    }
    n += importer.insert("message_bodies", &columns, &batch).await?;
    Ok(n)
}

fn cell(v: ValueRef<'_>) -> Cell {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Real(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Cell::Text(s.to_string()),
            Err(_) => Cell::Blob(t.to_vec()),
        },
        ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
