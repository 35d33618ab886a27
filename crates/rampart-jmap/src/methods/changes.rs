//! `/changes` (RFC 8620 §5.2).

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::args::Args;
use crate::engine::CallContext;
use crate::error::MethodError;

/// The arguments of a /changes call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesArgs {
    pub account_id: String,
    pub since_state: String,
    /// A positive number, or None for the server's choice.
    pub max_changes: Option<u64>,
}

impl ChangesArgs {
    pub fn parse(args: &mut Args, cx: &CallContext) -> Result<Self, MethodError> {
        let account_id = args.take_id("accountId")?;
        let since_state = args.take_string("sinceState")?;
        let max_changes = args.take_opt_unsigned("maxChanges")?;
        // RFC 8620 §5.2: maxChanges "MUST be a positive integer greater than 0".
        if max_changes == Some(0) {
            return Err(MethodError::invalid_arguments(
                "maxChanges must be greater than 0",
            ));
        }
        cx.account(&account_id)?;
        Ok(Self {
            account_id,
            since_state,
            max_changes,
        })
    }
}

/// What happened to one record at one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Destroyed,
}

/// One entry of a data layer's change log, oldest first: the record, what happened, and the
/// state after the change (several entries may share a state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: String,
    pub kind: ChangeKind,
    pub state: String,
}

/// The /changes response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesResponse {
    pub account_id: String,
    pub old_state: String,
    pub new_state: String,
    pub has_more_changes: bool,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub destroyed: Vec<String>,
}

impl ChangesResponse {
    /// Folds the log entries after `args.since_state` into one response of at most
    /// `max_changes` ids. Never tooManyChanges: when more changed, the response stops at a
    /// state boundary with `hasMoreChanges` (§5.2), and the client asks again from there. A record
    /// created and destroyed in the window is left out; created then updated is `created`.
    /// `current_state` is the state when no entry is left. If even the first state's changes do
    /// not fit, the answer is cannotCalculateChanges (no intermediate state exists).
    pub fn from_log(
        args: &ChangesArgs,
        log: &[Change],
        current_state: &str,
        server_max: u64,
    ) -> Result<Self, MethodError> {
        let max = args
            .max_changes
            .unwrap_or(server_max)
            .min(server_max)
            .max(1);
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        // Group by state so a page never ends inside one state.
        let mut groups: Vec<&[Change]> = Vec::new();
        let mut start = 0;
        for i in 1..=log.len() {
            if i == log.len() || log[i].state != log[start].state {
                if i > start {
                    groups.push(&log[start..i]);
                }
                start = i;
            }
        }
        let mut fate: HashMap<&str, (ChangeKind, usize)> = HashMap::new();
        let mut order = 0usize;
        let mut new_state = args.since_state.clone();
        let mut has_more = false;
        for (gi, group) in groups.iter().enumerate() {
            let mut trial = fate.clone();
            for c in group.iter() {
                let next = match (trial.get(c.id.as_str()).map(|f| f.0), c.kind) {
                    (None, k) => Some(k),
                    (Some(ChangeKind::Created), ChangeKind::Destroyed) => None,
                    (Some(ChangeKind::Created), _) => Some(ChangeKind::Created),
                    (Some(_), ChangeKind::Destroyed) => Some(ChangeKind::Destroyed),
                    (Some(k), _) => Some(k),
                };
                match next {
                    Some(k) => {
                        let o = trial.get(c.id.as_str()).map(|f| f.1).unwrap_or_else(|| {
                            order += 1;
                            order
                        });
                        trial.insert(c.id.as_str(), (k, o));
                    }
                    None => {
                        trial.remove(c.id.as_str());
                    }
                }
            }
            if trial.len() > max {
                if gi == 0 {
                    return Err(MethodError::cannot_calculate_changes());
                }
                has_more = true;
                break;
            }
            fate = trial;
            new_state = group[0].state.clone();
        }
        if !has_more {
            new_state = current_state.to_owned();
        }
        let mut sorted: Vec<(&str, (ChangeKind, usize))> = fate.into_iter().collect();
        sorted.sort_by_key(|(_, (_, o))| *o);
        let pick = |k: ChangeKind| -> Vec<String> {
            sorted
                .iter()
                .filter(|(_, (kk, _))| *kk == k)
                .map(|(id, _)| (*id).to_owned())
                .collect()
        };
        Ok(Self {
            account_id: args.account_id.clone(),
            old_state: args.since_state.clone(),
            new_state,
            has_more_changes: has_more,
            created: pick(ChangeKind::Created),
            updated: pick(ChangeKind::Updated),
            destroyed: pick(ChangeKind::Destroyed),
        })
    }

    pub fn into_arguments(self) -> Map<String, Value> {
        super::object([
            ("accountId", self.account_id.into()),
            ("oldState", self.old_state.into()),
            ("newState", self.new_state.into()),
            ("hasMoreChanges", self.has_more_changes.into()),
            ("created", self.created.into()),
            ("updated", self.updated.into()),
            ("destroyed", self.destroyed.into()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, kind: ChangeKind, state: &str) -> Change {
        Change {
            id: id.into(),
            kind,
            state: state.into(),
        }
    }

    fn args(max: Option<u64>) -> ChangesArgs {
        ChangesArgs {
            account_id: "A1".into(),
            since_state: "s0".into(),
            max_changes: max,
        }
    }

    #[test]
    fn folds_the_log() {
        use ChangeKind::*;
        let log = [
            c("a", Created, "s1"),
            c("b", Created, "s1"),
            c("a", Updated, "s2"),
            c("b", Destroyed, "s3"),
            c("x", Updated, "s3"),
            c("y", Destroyed, "s4"),
        ];
        let r = ChangesResponse::from_log(&args(None), &log, "s4", 100).unwrap();
        assert_eq!(r.created, ["a"]);
        assert_eq!(r.updated, ["x"]);
        assert_eq!(r.destroyed, ["y"]);
        assert_eq!(r.new_state, "s4");
        assert!(!r.has_more_changes);
    }

    #[test]
    fn max_changes_stops_at_a_state_boundary_with_has_more() {
        use ChangeKind::*;
        let log = [
            c("a", Created, "s1"),
            c("b", Updated, "s2"),
            c("c", Updated, "s2"),
        ];
        let r = ChangesResponse::from_log(&args(Some(2)), &log, "s2", 100).unwrap();
        assert_eq!(r.created, ["a"]);
        assert!(r.updated.is_empty());
        assert_eq!(r.new_state, "s1");
        assert!(r.has_more_changes);
        let ids = r.created.len() + r.updated.len() + r.destroyed.len();
        assert!(ids <= 2);
    }

    #[test]
    fn first_state_too_big_cannot_calculate() {
        use ChangeKind::*;
        let log = [c("a", Created, "s1"), c("b", Created, "s1")];
        let e = ChangesResponse::from_log(&args(Some(1)), &log, "s1", 100).unwrap_err();
        assert_eq!(
            e.kind,
            crate::error::MethodErrorType::CannotCalculateChanges
        );
    }

    #[test]
    fn no_changes_gives_the_current_state() {
        let r = ChangesResponse::from_log(&args(None), &[], "s0", 100).unwrap();
        assert_eq!(r.new_state, "s0");
        assert!(r.created.is_empty() && !r.has_more_changes);
    }
}
