//! What one Email/set (or Email/copy) call changed, summed up for the mailbox audit (AL-3.1):
//! one event per kind of change per call, naming the emails (the first few) and how many.

use std::collections::BTreeSet;

use rampart_jmap::CallContext;
use rampart_store::mailbox_audit::op;
use rampart_store::MailboxEvent;

use crate::account::MailAccount;
use crate::audit::event;
use crate::ids;

/// How many emails an event names before it says "and N more".
const NAMED: usize = 20;

#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// The account's Trash mailbox: a move into it is a soft delete.
    pub trash: Option<i64>,
    /// (email, what changed) of moves out of a mailbox into another.
    pub moves: Vec<(i64, String)>,
    /// Emails added to a mailbox while staying in their others: copies within the account.
    pub copies: Vec<(i64, String)>,
    /// Emails moved into Trash.
    pub soft_deleted: Vec<i64>,
    /// (email, keywords added and removed).
    pub keywords: Vec<(i64, String)>,
    pub destroyed: Vec<i64>,
}

fn boxes(s: &BTreeSet<i64>) -> String {
    s.iter()
        .map(|b| ids::mailbox(*b))
        .collect::<Vec<_>>()
        .join(",")
}

impl Changes {
    /// Email `id` went from the mailboxes `old` to `new`.
    pub fn moved(&mut self, id: i64, old: &BTreeSet<i64>, new: &BTreeSet<i64>) {
        let added: BTreeSet<i64> = new.difference(old).copied().collect();
        let removed: BTreeSet<i64> = old.difference(new).copied().collect();
        if self.trash.is_some_and(|t| added.contains(&t)) {
            self.soft_deleted.push(id);
        } else if removed.is_empty() {
            self.copies.push((id, format!("+{}", boxes(&added))));
        } else {
            self.moves
                .push((id, format!("{}->{}", boxes(&removed), boxes(new))));
        }
    }

    /// The keywords of email `id` went from `old` to `new`.
    pub fn keywords(&mut self, id: i64, old: &BTreeSet<String>, new: &BTreeSet<String>) {
        let mut d: Vec<String> = new.difference(old).map(|k| format!("+{k}")).collect();
        d.extend(old.difference(new).map(|k| format!("-{k}")));
        self.keywords.push((id, d.join(" ")));
    }

    /// The events for the account: one per kind of change that happened.
    pub fn events(&self, cx: &CallContext, account: &MailAccount) -> Vec<MailboxEvent> {
        let mut out = Vec::new();
        let mut add = |operation: &str, what: &str, items: Vec<String>| {
            if items.is_empty() {
                return;
            }
            let n = items.len();
            let mut d = format!("{n} emails {what}: ");
            d.push_str(
                &items
                    .iter()
                    .take(NAMED)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            if n > NAMED {
                d.push_str(&format!(" and {} more", n - NAMED));
            }
            out.push(event(cx, account, operation, d));
        };
        let named = |v: &[(i64, String)]| {
            v.iter()
                .map(|(id, d)| format!("{} {d}", ids::email(*id)))
                .collect::<Vec<_>>()
        };
        let plain = |v: &[i64]| v.iter().map(|id| ids::email(*id)).collect::<Vec<_>>();
        add(op::MOVE, "moved", named(&self.moves));
        add(op::COPY, "added to a further mailbox", named(&self.copies));
        let to_trash = self.trash.map_or(String::new(), |t| {
            format!("moved to Trash {}", ids::mailbox(t))
        });
        add(op::SOFT_DELETE, &to_trash, plain(&self.soft_deleted));
        add(
            op::KEYWORDS,
            "had their keywords changed",
            named(&self.keywords),
        );
        add(op::HARD_DELETE, "destroyed", plain(&self.destroyed));
        out
    }
}
