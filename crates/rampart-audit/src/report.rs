//! The audit's result: every control with its status and findings, and its renderings as text
//! for a terminal and JSON. (HTML and OSCAL render the same [`Report`].)

use crate::facts::Facts;
use crate::registry::{Control, Standard, CONTROLS};
use crate::{Finding, Status};
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
pub struct ControlResult {
    #[serde(flatten)]
    pub control: &'static Control,
    pub status: Status,
    pub findings: Vec<Finding>,
}

#[derive(Serialize)]
pub struct Report {
    /// Seconds since the epoch when the facts were gathered.
    pub generated_at: i64,
    /// The server's host name, from the configuration.
    pub hostname: String,
    pub controls: Vec<ControlResult>,
}

/// Counts of each status for one standard.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub manual: usize,
    pub not_applicable: usize,
}

impl Report {
    /// Runs every control's evidence function over the facts.
    pub fn gather(facts: &Facts) -> Report {
        let controls = CONTROLS
            .iter()
            .map(|c| {
                let findings = (c.evidence)(facts);
                ControlResult {
                    control: c,
                    status: Status::worst(&findings),
                    findings,
                }
            })
            .collect();
        Report {
            generated_at: facts.now,
            hostname: facts
                .config
                .as_ref()
                .map(|c| c.hostname.get_ref().clone())
                .unwrap_or_default(),
            controls,
        }
    }

    pub fn control(&self, id: &str) -> Option<&ControlResult> {
        self.controls.iter().find(|c| c.control.id == id)
    }

    pub fn tally(&self, standard: Standard) -> Tally {
        let mut t = Tally::default();
        for c in self
            .controls
            .iter()
            .filter(|c| c.control.standard == standard)
        {
            match c.status {
                Status::Pass => t.pass += 1,
                Status::Fail => t.fail += 1,
                Status::Warn => t.warn += 1,
                Status::Manual => t.manual += 1,
                Status::NotApplicable => t.not_applicable += 1,
            }
        }
        t
    }

    /// 0 when nothing fails, 1 when something does (2, the audit could not run, is the
    /// caller's).
    pub fn exit_code(&self) -> u8 {
        u8::from(self.controls.iter().any(|c| c.status == Status::Fail))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A table for a terminal: one block per control, its findings indented under it, the
    /// remedy after each fail or warn. Colours only when `colour` (a terminal).
    pub fn to_text(&self, colour: bool) -> String {
        let mut s = String::new();
        for std in [Standard::Nc, Standard::Al] {
            let t = self.tally(std);
            let _ = writeln!(
                s,
                "{}: {} pass, {} fail, {} warn, {} manual, {} not applicable",
                std.name(),
                t.pass,
                t.fail,
                t.warn,
                t.manual,
                t.not_applicable
            );
        }
        for c in &self.controls {
            let _ = writeln!(
                s,
                "\n{:<17} {}  {}",
                c.control.id,
                paint(c.status, colour),
                c.control.title
            );
            for f in &c.findings {
                let _ = writeln!(
                    s,
                    "    {} {}: {}",
                    paint(f.status, colour),
                    f.check,
                    f.evidence
                );
                if let Some(r) = &f.remedy {
                    let _ = writeln!(s, "        fix: {r}");
                }
            }
        }
        s
    }
}

fn paint(status: Status, colour: bool) -> String {
    let word = format!("{:<6}", status.as_str().to_uppercase());
    if !colour {
        return word;
    }
    let code = match status {
        Status::Pass => "32",
        Status::Fail => "31",
        Status::Warn => "33",
        Status::Manual => "36",
        Status::NotApplicable => "90",
    };
    format!("\x1b[{code}m{word}\x1b[0m")
}
