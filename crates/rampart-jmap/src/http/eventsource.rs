//! Push over EventSource (RFC 8620 §7.3): the query parameters, and the stream of `state` and
//! `ping` events made from the backend's broadcast of StateChange objects.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use futures_util::Stream;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast;
use tokio::time::Instant;

/// The ping interval is clamped to this range (RFC 8620 §7.3 lets the server choose, and says
/// so in the ping event's `interval`); 0 turns pings off.
pub const PING_MIN_SECS: u64 = 5;
pub const PING_MAX_SECS: u64 = 600;

/// A StateChange (RFC 8620 §7.1): account id -> type name -> new state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateChange {
    pub changed: BTreeMap<String, BTreeMap<String, String>>,
}

impl StateChange {
    pub fn to_value(&self) -> Value {
        json!({"@type": "StateChange", "changed": self.changed})
    }
}

/// What the client asked for in the eventSourceUrl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSourceParams {
    /// None: every type (`*`).
    pub types: Option<BTreeSet<String>>,
    /// `closeafter=state`: end the stream after the first state event.
    pub close_after_state: bool,
    /// The ping interval in seconds after clamping; 0 is no pings.
    pub ping: u64,
}

impl EventSourceParams {
    /// Parses `types`, `closeafter` and `ping`; absent ones default to `*`, `no` and 0.
    pub fn parse(query: &HashMap<String, String>) -> Result<Self, String> {
        let types = match query.get("types").map(String::as_str) {
            None | Some("*") => None,
            Some(list) => {
                let mut set = BTreeSet::new();
                for t in list.split(',').filter(|t| !t.is_empty()) {
                    if !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        return Err(format!("types: {:?} is not a type name", t));
                    }
                    set.insert(t.to_owned());
                }
                Some(set)
            }
        };
        let close_after_state = match query.get("closeafter").map(String::as_str) {
            None | Some("no") => false,
            Some("state") => true,
            Some(_) => return Err("closeafter must be \"state\" or \"no\"".into()),
        };
        let ping = match query.get("ping") {
            None => 0,
            Some(p) => p
                .parse::<u64>()
                .map_err(|_| "ping must be an unsigned integer".to_string())?,
        };
        // RFC 8620 §7.3: the server may clamp the interval to its own minimum and maximum.
        let ping = if ping == 0 {
            0
        } else {
            ping.clamp(PING_MIN_SECS, PING_MAX_SECS)
        };
        Ok(Self {
            types,
            close_after_state,
            ping,
        })
    }
}

/// One event to send.
#[derive(Debug, Clone, PartialEq)]
pub enum PushEvent {
    /// `event: state`, data the StateChange.
    State(Value),
    /// `event: ping`, data `{"interval": seconds}`.
    Ping(u64),
}

impl PushEvent {
    pub fn name(&self) -> &'static str {
        match self {
            Self::State(_) => "state",
            Self::Ping(_) => "ping",
        }
    }

    pub fn data(&self) -> Value {
        match self {
            Self::State(v) => v.clone(),
            Self::Ping(i) => json!({"interval": i}),
        }
    }
}

/// Keeps only the accounts the user reaches and the types asked for; None if nothing is left.
fn filter_change(
    c: &StateChange,
    accounts: &BTreeSet<String>,
    p: &EventSourceParams,
) -> Option<Value> {
    let mut changed = Map::new();
    for (account, types) in &c.changed {
        if !accounts.contains(account) {
            continue;
        }
        let kept: Map<String, Value> = types
            .iter()
            .filter(|(t, _)| p.types.as_ref().is_none_or(|set| set.contains(*t)))
            .map(|(t, s)| (t.clone(), Value::from(s.clone())))
            .collect();
        if !kept.is_empty() {
            changed.insert(account.clone(), Value::Object(kept));
        }
    }
    (!changed.is_empty()).then(|| json!({"@type": "StateChange", "changed": changed}))
}

struct PushState {
    rx: broadcast::Receiver<StateChange>,
    accounts: BTreeSet<String>,
    params: EventSourceParams,
    next_ping: Option<Instant>,
    done: bool,
}

/// The events for one EventSource connection. A ping is sent whenever `ping` seconds pass
/// without any event (§7.3). If the receiver lagged (changes were lost) or the sender is gone,
/// the stream ends: the client reconnects and finds the states by itself.
pub fn push_stream(
    rx: broadcast::Receiver<StateChange>,
    accounts: BTreeSet<String>,
    params: EventSourceParams,
) -> impl Stream<Item = PushEvent> + Send + 'static {
    let interval = Duration::from_secs(params.ping);
    let next_ping = (params.ping > 0).then(|| Instant::now() + interval);
    let state = PushState {
        rx,
        accounts,
        params,
        next_ping,
        done: false,
    };
    futures_util::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let ping_at = st.next_ping;
            let ev = tokio::select! {
                r = st.rx.recv() => match r {
                    Ok(change) => match filter_change(&change, &st.accounts, &st.params) {
                        Some(v) => PushEvent::State(v),
                        None => continue,
                    },
                    Err(_) => return None,
                },
                _ = sleep_until(ping_at) => PushEvent::Ping(st.params.ping),
            };
            if let Some(t) = st.next_ping.as_mut() {
                *t = Instant::now() + interval;
            }
            if matches!(ev, PushEvent::State(_)) && st.params.close_after_state {
                st.done = true;
            }
            return Some((ev, st));
        }
    })
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn change(account: &str, ty: &str, state: &str) -> StateChange {
        StateChange {
            changed: BTreeMap::from([(
                account.to_string(),
                BTreeMap::from([(ty.to_string(), state.to_string())]),
            )]),
        }
    }

    #[test]
    fn params_parse_and_ping_is_clamped() {
        let p =
            EventSourceParams::parse(&q(&[("types", "*"), ("closeafter", "no"), ("ping", "1")]))
                .unwrap();
        assert_eq!(
            p,
            EventSourceParams {
                types: None,
                close_after_state: false,
                ping: PING_MIN_SECS
            }
        );
        let p = EventSourceParams::parse(&q(&[("ping", "100000")])).unwrap();
        assert_eq!(p.ping, PING_MAX_SECS);
        assert_eq!(
            EventSourceParams::parse(&q(&[("ping", "0")])).unwrap().ping,
            0
        );
        let p =
            EventSourceParams::parse(&q(&[("types", "Email,Mailbox"), ("closeafter", "state")]))
                .unwrap();
        assert!(p.close_after_state);
        assert_eq!(p.types.unwrap().len(), 2);
        for bad in [
            ("ping", "-1"),
            ("ping", "x"),
            ("closeafter", "yes"),
            ("types", "Em ail"),
        ] {
            assert!(EventSourceParams::parse(&q(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn state_change_has_the_rfc_format() {
        let v = change("A1", "Email", "s5").to_value();
        assert_eq!(
            v,
            json!({"@type": "StateChange", "changed": {"A1": {"Email": "s5"}}})
        );
    }

    #[tokio::test(start_paused = true)]
    async fn ping_is_sent_after_the_interval_with_its_value() {
        let (tx, rx) = broadcast::channel(8);
        let params = EventSourceParams {
            types: None,
            close_after_state: false,
            ping: 30,
        };
        let start = Instant::now();
        let mut s = Box::pin(push_stream(rx, BTreeSet::from(["A1".into()]), params));
        let ev = s.next().await.unwrap();
        assert_eq!(ev, PushEvent::Ping(30));
        assert_eq!(ev.data(), json!({"interval": 30}));
        assert_eq!(Instant::now() - start, Duration::from_secs(30));
        tx.send(change("A1", "Email", "s1")).unwrap();
        assert_eq!(s.next().await.unwrap().name(), "state");
        // The next ping comes 30 s after the state event, not after the first ping.
        let t = Instant::now();
        assert_eq!(s.next().await.unwrap(), PushEvent::Ping(30));
        assert_eq!(Instant::now() - t, Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn types_and_accounts_are_filtered_and_closeafter_state_ends() {
        let (tx, rx) = broadcast::channel(8);
        let params = EventSourceParams {
            types: Some(BTreeSet::from(["Mailbox".into()])),
            close_after_state: true,
            ping: 0,
        };
        let mut s = Box::pin(push_stream(rx, BTreeSet::from(["A1".into()]), params));
        tx.send(change("A1", "Email", "s1")).unwrap(); // type not asked for
        tx.send(change("B9", "Mailbox", "s1")).unwrap(); // another user's account
        tx.send(change("A1", "Mailbox", "m2")).unwrap();
        tx.send(change("A1", "Mailbox", "m3")).unwrap();
        let ev = s.next().await.unwrap();
        assert_eq!(
            ev.data(),
            json!({"@type": "StateChange", "changed": {"A1": {"Mailbox": "m2"}}})
        );
        assert!(
            s.next().await.is_none(),
            "closeafter=state ends after one state event"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn lagging_ends_the_stream() {
        let (tx, rx) = broadcast::channel(1);
        let params = EventSourceParams {
            types: None,
            close_after_state: false,
            ping: 0,
        };
        let mut s = Box::pin(push_stream(rx, BTreeSet::from(["A1".into()]), params));
        tx.send(change("A1", "Email", "s1")).unwrap();
        tx.send(change("A1", "Email", "s2")).unwrap();
        assert!(s.next().await.is_none());
    }
}
