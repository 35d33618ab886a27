//! JMAP on the HTTPS listener: the [`rampart_jmap::http::Backend`] of `rampart serve`, joining
//! the protocol engine (rampart-jmap), the mail methods (rampart-jmap-mail), the store and the
//! SMTP side's shared parts (the login guard, the submission pipeline).
//!
//! | part | file |
//! |---|---|
//! | who may log in, the user's accounts (own and delegated) | `auth.rs` |
//! | blob upload and download | `blobs.rs` |
//! | push: the store's change feed as StateChange events | here |

pub(crate) mod auth;
mod blobs;
mod submit;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Bytes;
use rampart_jmap::http::{
    Backend, Blob, BlobError, BlobInfo, Credentials, JmapConfig, StateChange,
};
use rampart_jmap::{CoreCapability, Methods, Origin, SessionUrls, User};
use rampart_jmap_mail::{ids, MailMethods};
use rampart_smtp::ServerContext;
use rampart_store::mail::Kind;
use rampart_store::AnyStore;
use tokio::sync::broadcast;

/// StateChange events a slow EventSource client may fall behind by.
const PUSH_CAPACITY: usize = 1024;

/// What the JMAP handlers of `rampart serve` run on.
pub struct JmapBackend {
    pub(crate) ctx: Arc<ServerContext>,
    pub(crate) store: AnyStore,
    pub(crate) methods: MailMethods,
    push: broadcast::Sender<StateChange>,
    /// Clients whose login the mailbox audit has recorded this hour.
    logins: auth::LoginLog,
}

impl JmapBackend {
    /// The backend over the server's context; starts the task that turns the store's change
    /// feed into push events (it ends when the backend is dropped). Submissions go through
    /// `server`'s context of the moment (see [`submit::Pipeline`]).
    pub fn new(ctx: Arc<ServerContext>, server: Arc<rampart_smtp::Server>) -> Arc<JmapBackend> {
        let store = ctx.store.clone();
        let mut methods = MailMethods::new(store.clone());
        methods.max_message_size = u64::from(ctx.config.limits.max_message_size.get());
        // AL-1.2: users' Junk moves also teach the Rspamd configured at the moment.
        let now = server.clone();
        methods.rspamd = Some(Arc::new(move || {
            now.context().config.checks.spam.rspamd.clone()
        }));
        methods = methods.with_submitter(Arc::new(submit::Pipeline { server }));
        let (push, _) = broadcast::channel(PUSH_CAPACITY);
        let backend = Arc::new(JmapBackend {
            ctx,
            store,
            methods,
            push,
            logins: auth::LoginLog::default(),
        });
        tokio::spawn(relay_changes(Arc::downgrade(&backend)));
        tokio::spawn(index_in_background(Arc::downgrade(&backend)));
        backend
    }

    /// The JMAP routes, with limits that agree with the HTTPS listener's and SMTP's.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        let c = &self.ctx.config;
        let body = u64::from(c.http.max_request_body_bytes.get());
        let core = CoreCapability {
            // An upload is at most a message, and at most a request body.
            max_size_upload: body.min(u64::from(c.limits.max_message_size.get())),
            max_size_request: body.min(10_000_000),
            ..CoreCapability::default()
        };
        rampart_jmap::http::router(
            self.clone(),
            JmapConfig {
                core,
                urls: SessionUrls {
                    base: String::new(),
                },
                realm: "mail".into(),
                ..JmapConfig::default()
            },
        )
    }
}

/// Indexes delivered mail soon after it arrives, off the delivery path: the accounts whose mail
/// changed since the last round, each brought up to date (`index_pending` works in batches and
/// skips what a reader indexed meanwhile). A read still indexes what is left first, so this
/// only moves the work out of the user's way: without it, the first read of a mailbox that
/// received 100,000 messages waits for all of them. Ends with the backend.
async fn index_in_background(backend: std::sync::Weak<JmapBackend>) {
    let mut feed = match backend.upgrade() {
        Some(b) => b.store.mail_changes_feed(),
        None => return,
    };
    loop {
        let mut dirty = std::collections::BTreeSet::new();
        match feed.recv().await {
            Ok(c) if c.kinds.contains(&Kind::Email) => {
                dirty.insert(c.account);
            }
            Ok(_) => continue,
            // Missed accounts are indexed at their next read.
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        }
        // Whatever else has arrived meanwhile goes in the same round.
        while let Ok(c) = feed.try_recv() {
            if c.kinds.contains(&Kind::Email) {
                dirty.insert(c.account);
            }
        }
        let Some(b) = backend.upgrade() else { return };
        for account in dirty {
            if let Err(e) = b.store.index_pending(&account).await {
                tracing::warn!(error = %e, "indexing delivered mail failed; the next read retries");
            }
        }
    }
}

/// Each committed mail change becomes a StateChange with the account's new states; a lag
/// reports nothing (the client's next request sees the new states). Ends with the backend.
async fn relay_changes(backend: std::sync::Weak<JmapBackend>) {
    let mut feed = match backend.upgrade() {
        Some(b) => b.store.mail_changes_feed(),
        None => return,
    };
    loop {
        let change = match feed.recv().await {
            Ok(c) => c,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "push fell behind the store's changes");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(b) = backend.upgrade() else { return };
        if b.push.receiver_count() == 0 {
            continue;
        }
        let mut states = BTreeMap::new();
        for kind in &change.kinds {
            let name = match kind {
                Kind::Mailbox => "Mailbox",
                Kind::Email => "Email",
                Kind::Thread => "Thread",
            };
            if let Ok(s) = b.store.mail_state(&change.account, *kind).await {
                states.insert(name.to_string(), s);
            }
        }
        if states.is_empty() {
            continue;
        }
        let mut changed = BTreeMap::new();
        changed.insert(ids::account(&change.account), states);
        let _ = b.push.send(StateChange { changed });
    }
}

#[async_trait]
impl Backend for JmapBackend {
    async fn authenticate(&self, credentials: &Credentials, origin: &Origin) -> Option<User> {
        auth::authenticate(self, credentials, origin).await
    }

    async fn still_valid(&self, credentials: &Credentials, origin: &Origin) -> bool {
        auth::still_valid(self, credentials, origin).await
    }

    fn methods(&self) -> &dyn Methods {
        &self.methods
    }

    async fn upload(
        &self,
        user: &User,
        account_id: &str,
        content_type: &str,
        data: Bytes,
    ) -> Result<BlobInfo, BlobError> {
        blobs::upload(self, user, account_id, content_type, data).await
    }

    async fn download(
        &self,
        user: &User,
        account_id: &str,
        blob_id: &str,
    ) -> Result<Option<Blob>, BlobError> {
        blobs::download(self, user, account_id, blob_id).await
    }

    fn subscribe(&self, _user: &User) -> broadcast::Receiver<StateChange> {
        self.push.subscribe()
    }
}
