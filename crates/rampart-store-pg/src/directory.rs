//! Directory on PostgreSQL: domains, users, aliases and send-as grants, seen by every node as
//! soon as they are committed (NC-2.1.2: only accounts the administrator creates; NC-2.1.6: one
//! answer to "do we receive for this address"). The rules are the embedded store's, shared
//! through [`rampart_store::directory`]'s normalisers and password functions.

use crate::{column, db, is_unique_violation, PgStore};
use async_trait::async_trait;
use rampart_store::api::Directory;
use rampart_store::directory::{
    check_floor, hash_password, no_user, normalise_domain, normalise_local_address, MAX_ALIAS_DEPTH,
};
use rampart_store::web_sessions::WebSessions;
use rampart_store::{now_micros, Recipient, RecipientError, Result, StoreError, TraceEvent};

#[async_trait]
impl Directory for PgStore {
    async fn add_domain(&self, name: &str) -> Result<()> {
        let name = normalise_domain(name)?;
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute(
                "INSERT INTO domains(name, created) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&name, &now_micros()],
            )
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::Invalid(format!("domain {name} exists already")));
        }
        Ok(())
    }

    async fn domains(&self) -> Result<Vec<String>> {
        let c = self.conn(&self.sessions).await?;
        column(&c, "SELECT name FROM domains ORDER BY name", &[]).await
    }

    async fn is_local_domain(&self, domain: &str) -> Result<bool> {
        let c = self.conn(&self.sessions).await?;
        exists(
            &c,
            "SELECT 1 FROM domains WHERE name = $1",
            &domain.to_ascii_lowercase(),
        )
        .await
    }

    async fn add_user(&self, address: &str, password: &str) -> Result<()> {
        let address = normalise_local_address(address)?;
        let domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default();
        check_floor(password)?;
        if !self.is_local_domain(&domain).await? {
            return Err(StoreError::Invalid(format!(
                "domain {domain} is not configured; add it first with `rampart domain add {domain}`"
            )));
        }
        // Argon2id is slow by design: off the async workers.
        let password = password.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| StoreError::Invalid(format!("a hashing task failed: {e}")))??;
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        // The alias check and the insert in one transaction; the lock makes an alias of the
        // same name, added by another node at the same time, wait for this one.
        tx.execute("LOCK TABLE aliases IN SHARE ROW EXCLUSIVE MODE", &[])
            .await
            .map_err(db)?;
        if exists(&tx, "SELECT 1 FROM aliases WHERE alias = $1", &address).await? {
            return Err(StoreError::Invalid(format!(
                "{address} is an alias already"
            )));
        }
        let n = tx
            .execute(
                "INSERT INTO users(address, domain, password_hash, created)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&address, &domain, &hash, &now_micros()],
            )
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "user {address} exists already"
            )));
        }
        tx.commit().await.map_err(db)
    }

    async fn users(&self) -> Result<Vec<String>> {
        let c = self.conn(&self.sessions).await?;
        column(&c, "SELECT address FROM users ORDER BY address", &[]).await
    }

    async fn verify_password(&self, address: &str, password: &str) -> Result<bool> {
        let c = self.conn(&self.sessions).await?;
        // A disabled account's password is never right (as in the embedded store).
        let row = c
            .query_opt(
                "SELECT password_hash FROM users WHERE address = $1 AND NOT disabled",
                &[&address.to_ascii_lowercase()],
            )
            .await
            .map_err(db)?;
        drop(c);
        let Some(row) = row else { return Ok(false) };
        let hash: String = row.get(0);
        let password = password.to_string();
        tokio::task::spawn_blocking(move || {
            rampart_store::directory::verify_password_hash(&hash, &password)
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("a hashing task failed: {e}")))?
    }

    async fn add_alias(&self, alias: &str, target: &str) -> Result<()> {
        let alias = normalise_local_address(alias)?;
        let target = normalise_local_address(target)?;
        for a in [&alias, &target] {
            let domain = a.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            if !self.is_local_domain(domain).await? {
                return Err(StoreError::Invalid(format!(
                    "{a} is not in a domain this server represents; aliases may only point inside \
                     (AL-4.2: no forwarding outside). Add the domain first if it is yours"
                )));
            }
        }
        let mut c = self.conn(&self.sessions).await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute("LOCK TABLE aliases IN SHARE ROW EXCLUSIVE MODE", &[])
            .await
            .map_err(db)?;
        if exists(&tx, "SELECT 1 FROM users WHERE address = $1", &alias).await? {
            return Err(StoreError::Invalid(format!("{alias} is a user already")));
        }
        let n = tx
            .execute(
                "INSERT INTO aliases(alias, target, created) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&alias, &target, &now_micros()],
            )
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "alias {alias} -> {target} exists already"
            )));
        }
        tx.commit().await.map_err(db)
    }

    async fn aliases(&self) -> Result<Vec<(String, String)>> {
        let c = self.conn(&self.sessions).await?;
        let rows = c
            .query(
                "SELECT alias, target FROM aliases ORDER BY alias, target",
                &[],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn add_send_as(&self, user: &str, address: &str) -> Result<()> {
        let user = normalise_local_address(user)?;
        let address = normalise_local_address(address)?;
        let c = self.conn(&self.sessions).await?;
        if !exists(&c, "SELECT 1 FROM users WHERE address = $1", &user).await? {
            return Err(StoreError::Invalid(format!(
                "no user {user}; create it first with `rampart user add {user}`"
            )));
        }
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if !exists(&c, "SELECT 1 FROM domains WHERE name = $1", domain).await? {
            return Err(StoreError::Invalid(format!(
                "{address} is not in a domain this server represents; users may send only as \
                 addresses of these domains (NC-2.1.7)"
            )));
        }
        match c
            .execute(
                r#"INSERT INTO send_as("user", address, created) VALUES ($1, $2, $3)
                   ON CONFLICT DO NOTHING"#,
                &[&user, &address, &now_micros()],
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Ok(()),
            Err(e) => Err(db(e)),
        }
    }

    async fn may_send_as(&self, user: &str, address: &str) -> Result<bool> {
        let user = user.to_ascii_lowercase();
        let address = address.to_ascii_lowercase();
        if user == address {
            return Ok(true);
        }
        let c = self.conn(&self.sessions).await?;
        // NC-2.1.7: an alias that delivers to the user, an explicit grant, or a delegate with
        // send-as or full rights on the owner's mailbox.
        let row = c
            .query_one(
                r#"SELECT EXISTS (SELECT 1 FROM aliases WHERE alias = $2 AND target = $1)
                       OR EXISTS (SELECT 1 FROM send_as WHERE "user" = $1 AND address = $2)
                       OR EXISTS (SELECT 1 FROM mailbox_grants WHERE delegate = $1 AND owner = $2
                                  AND rights IN ('send-as', 'full'))"#,
                &[&user, &address],
            )
            .await
            .map_err(db)?;
        Ok(row.get(0))
    }

    async fn resolve_recipient(
        &self,
        address: &str,
    ) -> Result<std::result::Result<Recipient, RecipientError>> {
        let address = address.to_ascii_lowercase();
        let Some((_, domain)) = address.rsplit_once('@') else {
            return Ok(Err(RecipientError::NoSuchUser));
        };
        let c = self.conn(&self.sessions).await?;
        // One statement, so one snapshot of the directory: whether the domain is ours, and the
        // alias graph walked to MAX_ALIAS_DEPTH (every address reached, and which of them are
        // users).
        let row = c
            .query_one(
                "WITH RECURSIVE reach(addr, depth) AS (
                     SELECT $1::text, 0
                     UNION
                     SELECT a.target, r.depth + 1 FROM reach r
                     JOIN aliases a ON a.alias = r.addr
                     WHERE r.depth < $2
                       AND NOT EXISTS (SELECT 1 FROM users u WHERE u.address = r.addr)
                 )
                 SELECT EXISTS (SELECT 1 FROM domains WHERE name = $3),
                        ARRAY(SELECT DISTINCT u.address FROM reach r
                              JOIN users u ON u.address = r.addr ORDER BY u.address)",
                &[&address, &(MAX_ALIAS_DEPTH as i32), &domain],
            )
            .await
            .map_err(db)?;
        if !row.get::<_, bool>(0) {
            return Ok(Err(RecipientError::ForeignDomain));
        }
        let mailboxes: Vec<String> = row.get(1);
        Ok(if mailboxes.is_empty() {
            Err(RecipientError::NoSuchUser)
        } else {
            Ok(Recipient { address, mailboxes })
        })
    }
}

impl PgStore {
    /// Sets a new password for `address` (an Argon2id hash, NC-2.1.4), with its trace event in
    /// the same commit; its webmail sessions end, so a session opened with the old password does
    /// not outlive it. The caller applies the password policy; the store keeps only the floor.
    pub async fn set_password(&self, address: &str, password: &str) -> Result<()> {
        crate::trace::logged_on_commit(async {
            let address = address.to_ascii_lowercase();
            check_floor(password)?;
            let password = password.to_string();
            let hash = tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(|e| StoreError::Invalid(format!("a hashing task failed: {e}")))??;
            let mut c = self.conn(&self.sessions).await?;
            let tx = c.transaction().await.map_err(db)?;
            let n = tx
                .execute(
                    "UPDATE users SET password_hash = $1 WHERE address = $2",
                    &[&hash, &address],
                )
                .await
                .map_err(db)?;
            if n == 0 {
                return Err(no_user(&address));
            }
            let mut e = TraceEvent::new(
                "password",
                format!("password of {address} changed by the administrator"),
            );
            e.recipient = Some(address.clone());
            crate::trace::insert_in(&tx, &e).await?;
            tx.commit().await.map_err(db)?;
            self.web_sessions_end_all(&address).await?;
            Ok(())
        })
        .await
    }

    /// Disables (or enables again) every login of `address`: password, tokens, delegation.
    /// A disabled account's webmail sessions end now, on every node.
    pub async fn set_disabled(&self, address: &str, disabled: bool) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let c = self.conn(&self.sessions).await?;
        let n = c
            .execute(
                "UPDATE users SET disabled = $1 WHERE address = $2",
                &[&disabled, &address],
            )
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(no_user(&address));
        }
        if disabled {
            self.web_sessions_end_all(&address).await?;
        }
        Ok(())
    }
}

/// Whether `sql` (with one text parameter) returns a row.
pub(crate) async fn exists(
    c: &impl deadpool_postgres::GenericClient,
    sql: &str,
    arg: &str,
) -> Result<bool> {
    Ok(c.query_opt(sql, &[&arg]).await.map_err(db)?.is_some())
}
