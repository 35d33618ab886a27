//! Moving an embedded installation into this database (`rampart store migrate-from-sqlite`):
//! rows go in table by table, under the column names the two schemas share, all in one
//! transaction, so the database ends up either with the whole installation or untouched.
//!
//! The importer knows nothing of SQLite: the caller reads its tables and hands rows over as
//! [`Cell`]s, and each cell is converted to the type of the PostgreSQL column it goes into
//! (SQLite's 0/1 become booleans, for one). The importer refuses a database that already holds
//! data, orders the tables so that each comes after those it references, and at the end moves
//! every identity sequence past the largest id imported, so new rows do not collide, and marks
//! the imported emails for indexing (the full-text index is rebuilt by PostgreSQL's own).

use crate::{db, PgStore};
use rampart_store::{Result, StoreError};
use tokio_postgres::types::{ToSql, Type};

/// One value as the source holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A column of the PostgreSQL schema.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// `information_schema.columns.data_type`: `text`, `bigint`, `boolean`, `bytea`...
    pub data_type: String,
    /// `GENERATED ... AS IDENTITY`: inserted with `OVERRIDING SYSTEM VALUE`.
    pub identity: bool,
}

/// A table of the PostgreSQL schema and its columns, in their order.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
}

/// Tables the schema's migrations fill themselves: their rows are replaced by the source's, and
/// they do not count as data already there.
const SEEDED: &[&str] = &["ids_generation"];

/// An import in progress: one connection inside one transaction. Dropped without
/// [`Importer::commit`], the connection is closed and the database rolls everything back.
pub struct Importer {
    conn: Option<deadpool_postgres::Object>,
    tables: Vec<Table>,
}

impl PgStore {
    /// Applies the pending migrations, opens the import's transaction and refuses a database
    /// that holds data already (naming the first table that does).
    pub async fn begin_import(&self) -> Result<Importer> {
        self.migrate().await?;
        let conn = self.conn(&self.queue).await?;
        // Reading a large installation may pause between statements longer than a session's
        // usual idle limit; the statement timeout still bounds each statement.
        conn.batch_execute("BEGIN; SET LOCAL idle_in_transaction_session_timeout = 0")
            .await
            .map_err(db)?;
        let mut importer = Importer {
            conn: Some(conn),
            tables: Vec::new(),
        };
        importer.tables = importer.schema().await?;
        for t in &importer.tables {
            if SEEDED.contains(&t.name.as_str()) {
                continue;
            }
            let any: bool = importer
                .client()
                .query_one(
                    &format!("SELECT EXISTS (SELECT 1 FROM {})", quote(&t.name)),
                    &[],
                )
                .await
                .map_err(db)?
                .get(0);
            if any {
                return Err(StoreError::Invalid(format!(
                    "the PostgreSQL database already holds data (table {} has rows); \
                     migrate-from-sqlite fills an empty database only: create a new one \
                     (createdb) and point [store] url at it",
                    t.name
                )));
            }
        }
        Ok(importer)
    }
}

impl Importer {
    fn client(&self) -> &deadpool_postgres::Object {
        self.conn
            .as_ref()
            .expect("the connection is there until commit")
    }

    /// The schema's tables (but `schema_version`), each after the tables it references.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    async fn schema(&self) -> Result<Vec<Table>> {
        let c = self.client();
        let mut tables: Vec<Table> = Vec::new();
        for row in c
            .query(
                "SELECT c.table_name::text, c.column_name::text, c.data_type::text,
                        c.is_identity::text = 'YES', c.is_generated::text = 'ALWAYS'
                   FROM information_schema.columns c
                   JOIN information_schema.tables t
                     ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                  WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
                    AND c.table_name <> 'schema_version'
                  ORDER BY c.table_name, c.ordinal_position",
                &[],
            )
            .await
            .map_err(db)?
        {
            let table: String = row.get(0);
            // A generated column (a search vector) is computed by the database, never copied.
            if row.get::<_, bool>(4) {
                continue;
            }
            let column = Column {
                name: row.get(1),
                data_type: row.get(2),
                identity: row.get(3),
            };
            match tables.last_mut() {
                Some(t) if t.name == table => t.columns.push(column),
                _ => tables.push(Table {
                    name: table,
                    columns: vec![column],
                }),
            }
        }
        // (table, table it references), self-references left out.
        let edges: Vec<(String, String)> = c
            .query(
                "SELECT cl.relname::text, rf.relname::text
                   FROM pg_constraint k
                   JOIN pg_class cl ON cl.oid = k.conrelid
                   JOIN pg_class rf ON rf.oid = k.confrelid
                   JOIN pg_namespace n ON n.oid = cl.relnamespace
                  WHERE k.contype = 'f' AND n.nspname = current_schema()
                    AND k.conrelid <> k.confrelid",
                &[],
            )
            .await
            .map_err(db)?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok(referenced_first(tables, &edges))
    }

    /// Inserts `rows` into `table` under `columns` (a subset of the table's, in the rows'
    /// order); returns how many went in. Each cell is converted to its column's type; one that
    /// cannot be is an error naming the table, the column and the value's kind.
    pub async fn insert(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &[Vec<Cell>],
    ) -> Result<u64> {
        let t = self
            .tables
            .iter()
            .find(|t| t.name == table)
            .ok_or_else(|| {
                StoreError::Invalid(format!("no table {table} in the PostgreSQL schema"))
            })?;
        let mut cols = Vec::with_capacity(columns.len());
        for name in columns {
            let col = t.columns.iter().find(|c| &c.name == name).ok_or_else(|| {
                StoreError::Invalid(format!("no column {table}.{name} in the PostgreSQL schema"))
            })?;
            cols.push(col.clone());
        }
        if SEEDED.contains(&table) && !rows.is_empty() {
            self.client()
                .execute(&format!("DELETE FROM {}", quote(table)), &[])
                .await
                .map_err(db)?;
        }
        let overriding = if cols.iter().any(|c| c.identity) {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO {} ({}){overriding} VALUES ({})",
            quote(table),
            cols.iter()
                .map(|c| quote(&c.name))
                .collect::<Vec<_>>()
                .join(", "),
            (1..=cols.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let types = cols
            .iter()
            .map(|c| pg_type(table, c))
            .collect::<Result<Vec<Type>>>()?;
        let client = self.client();
        let statement = client.prepare_typed(&sql, &types).await.map_err(db)?;
        let mut n = 0;
        for row in rows {
            let values = row
                .iter()
                .zip(&cols)
                .map(|(cell, col)| convert(table, col, cell))
                .collect::<Result<Vec<Box<dyn ToSql + Sync + Send>>>>()?;
            let params: Vec<&(dyn ToSql + Sync)> = values
                .iter()
                .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                .collect();
            n += client
                .execute(&statement, &params)
                .await
                .map_err(|e| StoreError::Db(format!("importing a row of {table}: {}", db(e))))?;
        }
        Ok(n)
    }

    /// Moves every identity and serial sequence past the largest id now in its table, then
    /// commits: the whole import becomes durable at once.
    pub async fn commit(mut self) -> Result<()> {
        let client = self.client();
        // The search index is PostgreSQL's own (mail_search, tsvectors; SQLite's FTS5 tables do
        // not move): an email imported without its entry is indexed again at its account's next
        // read, which rebuilds the entry (and rewrites the same header facts and thread).
        client
            .execute(
                "UPDATE mail_emails SET indexed = false
                  WHERE indexed AND NOT EXISTS (SELECT 1 FROM mail_search s WHERE s.email = id)",
                &[],
            )
            .await
            .map_err(db)?;
        let sequences = client
            .query(
                "SELECT c.table_name::text, c.column_name::text,
                        pg_get_serial_sequence(quote_ident(c.table_name), c.column_name)
                   FROM information_schema.columns c
                  WHERE c.table_schema = current_schema()
                    AND pg_get_serial_sequence(quote_ident(c.table_name), c.column_name)
                        IS NOT NULL",
                &[],
            )
            .await
            .map_err(db)?;
        for row in sequences {
            let (table, column, sequence): (String, String, String) =
                (row.get(0), row.get(1), row.get(2));
            client
                .execute(
                    &format!(
                        "SELECT setval($1::text::regclass, COALESCE((SELECT max({}) FROM {}), 0) + 1, \
                         false)",
                        quote(&column),
                        quote(&table)
                    ),
                    &[&sequence],
                )
                .await
                .map_err(db)?;
        }
        client.batch_execute("COMMIT").await.map_err(db)?;
        // Back to the pool only now, outside any transaction.
        self.conn.take();
        Ok(())
    }
}

impl Drop for Importer {
    fn drop(&mut self) {
        // Not committed: the connection is closed rather than returned to the pool inside a
        // transaction; the database rolls the import back.
        if let Some(conn) = self.conn.take() {
            drop(deadpool_postgres::Object::take(conn));
        }
    }
}

/// A quoted identifier (`"end"` and `"user"` are reserved words).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `tables` ordered so that each comes after the tables it references (by name otherwise); a
/// cycle, which the schema does not have, keeps its tables in name order at the end.
fn referenced_first(mut tables: Vec<Table>, edges: &[(String, String)]) -> Vec<Table> {
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let mut ordered: Vec<Table> = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let ready = tables.iter().position(|t| {
            edges
                .iter()
                .all(|(from, to)| from != &t.name || !tables.iter().any(|other| &other.name == to))
        });
        ordered.push(tables.remove(ready.unwrap_or(0)));
    }
    ordered
}

fn pg_type(table: &str, c: &Column) -> Result<Type> {
    Ok(match c.data_type.as_str() {
        "text" | "character varying" => Type::TEXT,
        "bigint" => Type::INT8,
        "integer" => Type::INT4,
        "smallint" => Type::INT2,
        "boolean" => Type::BOOL,
        "bytea" => Type::BYTEA,
        "double precision" => Type::FLOAT8,
        "real" => Type::FLOAT4,
        other => {
            return Err(StoreError::Invalid(format!(
                "column {table}.{} has type {other}, which the import does not convert",
                c.name
            )))
        }
    })
}

/// `cell` as a value of `col`'s type.
fn convert(table: &str, col: &Column, cell: &Cell) -> Result<Box<dyn ToSql + Sync + Send>> {
    let bad = |what: &str| {
        StoreError::Invalid(format!(
            "column {table}.{} ({}) cannot hold the source's {what}",
            col.name, col.data_type
        ))
    };
    Ok(match (col.data_type.as_str(), cell) {
        ("text" | "character varying", Cell::Null) => Box::new(None::<String>),
        ("text" | "character varying", Cell::Text(s)) => Box::new(Some(s.clone())),
        ("text" | "character varying", Cell::Int(i)) => Box::new(Some(i.to_string())),
        ("text" | "character varying", Cell::Real(f)) => Box::new(Some(f.to_string())),
        ("text" | "character varying", Cell::Blob(b)) => Box::new(Some(
            String::from_utf8(b.clone()).map_err(|_| bad("bytes that are not UTF-8"))?,
        )),
        ("bigint", Cell::Null) => Box::new(None::<i64>),
        ("bigint", Cell::Int(i)) => Box::new(Some(*i)),
        ("bigint", Cell::Text(s)) => {
            Box::new(Some(s.trim().parse::<i64>().map_err(|_| bad("text"))?))
        }
        ("integer", Cell::Null) => Box::new(None::<i32>),
        ("integer", Cell::Int(i)) => {
            Box::new(Some(i32::try_from(*i).map_err(|_| bad("large integer"))?))
        }
        ("smallint", Cell::Null) => Box::new(None::<i16>),
        ("smallint", Cell::Int(i)) => {
            Box::new(Some(i16::try_from(*i).map_err(|_| bad("large integer"))?))
        }
        ("boolean", Cell::Null) => Box::new(None::<bool>),
        ("boolean", Cell::Int(i)) => Box::new(Some(*i != 0)),
        ("bytea", Cell::Null) => Box::new(None::<Vec<u8>>),
        ("bytea", Cell::Blob(b)) => Box::new(Some(b.clone())),
        ("bytea", Cell::Text(s)) => Box::new(Some(s.clone().into_bytes())),
        ("double precision", Cell::Null) => Box::new(None::<f64>),
        ("double precision", Cell::Real(f)) => Box::new(Some(*f)),
        ("double precision", Cell::Int(i)) => Box::new(Some(*i as f64)),
        ("real", Cell::Null) => Box::new(None::<f32>),
        ("real", Cell::Real(f)) => Box::new(Some(*f as f32)),
        (_, Cell::Null) => return Err(bad("NULL")),
        (_, Cell::Int(_)) => return Err(bad("integer")),
        (_, Cell::Real(_)) => return Err(bad("real number")),
        (_, Cell::Text(_)) => return Err(bad("text")),
        (_, Cell::Blob(_)) => return Err(bad("blob")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> Table {
        Table {
            name: name.into(),
            columns: Vec::new(),
        }
    }

    #[test]
    fn tables_come_after_those_they_reference() {
        let edges = [
            ("users".to_string(), "domains".to_string()),
            ("queue".to_string(), "messages".to_string()),
            ("message_bodies".to_string(), "messages".to_string()),
            ("mail_emails".to_string(), "messages".to_string()),
            ("mail_emails".to_string(), "mail_threads".to_string()),
        ];
        let order: Vec<String> = referenced_first(
            vec![
                t("users"),
                t("queue"),
                t("mail_emails"),
                t("message_bodies"),
                t("domains"),
                t("messages"),
                t("mail_threads"),
            ],
            &edges,
        )
        .into_iter()
        .map(|t| t.name)
        .collect();
        let at = |n: &str| order.iter().position(|x| x == n).unwrap();
        for (from, to) in &edges {
            assert!(at(from) > at(to), "{from} before {to}: {order:?}");
        }
    }

    #[test]
    fn sqlite_integers_become_booleans_and_bad_cells_are_named() {
        let col = |ty: &str| Column {
            name: "c".into(),
            data_type: ty.into(),
            identity: false,
        };
        assert!(convert("t", &col("boolean"), &Cell::Int(1)).is_ok());
        let e = convert("t", &col("integer"), &Cell::Int(i64::MAX))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("t.c"), "{e}");
        let e = convert("queue", &col("boolean"), &Cell::Text("x".into()))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("queue.c (boolean)") && e.contains("text"), "{e}");
        assert!(pg_type("t", &col("tsvector")).is_err());
    }
}
