//! `rampart audit --oscal FILE`: the report as NIST OSCAL assessment results (JSON, OSCAL
//! 1.2.1), the format compliance tools import. One result; every control reviewed; one
//! observation per finding (method TEST for self-tests and DNS, EXAMINE for configuration,
//! host and store facts, INTERVIEW for attestations); one OSCAL finding per control whose target
//! status is `satisfied` for pass, not-applicable and attested manual controls, otherwise
//! `not-satisfied`, with Rampart's own status in the description.

use crate::report::Report;
use crate::Status;
use serde_json::{json, Value};

pub const OSCAL_VERSION: &str = "1.2.1";

/// A random (version 4) UUID.
fn uuid() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    // SystemRandom fails only without an OS random source; then a time-based value keeps the
    // document valid (uniqueness inside one document is what OSCAL needs).
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = t.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// OSCAL control ids are tokens; ours are already (`NC-2.1.1`), lower-cased as OSCAL catalogs
/// write them.
fn control_id(id: &str) -> String {
    id.to_ascii_lowercase()
}

fn method(check: &str) -> &'static str {
    if check == "attestation" {
        "INTERVIEW"
    } else if check == "self-test" || check.starts_with("probe") || check.starts_with("dns") {
        "TEST"
    } else {
        "EXAMINE"
    }
}

pub fn render(report: &Report) -> Value {
    let when = crate::rfc3339(report.generated_at);
    let mut observations = Vec::new();
    let mut findings = Vec::new();
    for c in &report.controls {
        let mut related = Vec::new();
        for f in &c.findings {
            let id = uuid();
            let mut description = format!("[{}] {}", f.status.as_str(), f.evidence);
            if let Some(r) = &f.remedy {
                description.push_str(&format!(" Remedy: {r}"));
            }
            observations.push(json!({
                "uuid": id,
                "title": format!("{}: {}", c.control.id, f.check),
                "description": description,
                "methods": [method(&f.check)],
                "collected": when,
            }));
            related.push(json!({ "observation-uuid": id }));
        }
        let attested = c.status == Status::Manual && c.findings.iter().all(|f| f.remedy.is_none());
        let satisfied = matches!(c.status, Status::Pass | Status::NotApplicable) || attested;
        let mut finding = json!({
            "uuid": uuid(),
            "title": format!("{} {}", c.control.id, c.control.title),
            "description": format!(
                "Rampart status: {}. Requirement: {} Carried by: {}",
                c.status.as_str(),
                c.control.requirement,
                c.control.carried_by
            ),
            "target": {
                "type": "objective-id",
                "target-id": format!("{}_obj", control_id(c.control.id)),
                "status": { "state": if satisfied { "satisfied" } else { "not-satisfied" } },
            },
        });
        if !related.is_empty() {
            finding["related-observations"] = Value::Array(related);
        }
        findings.push(finding);
    }
    let include: Vec<Value> = report
        .controls
        .iter()
        .map(|c| json!({ "control-id": control_id(c.control.id) }))
        .collect();
    json!({
        "assessment-results": {
            "uuid": uuid(),
            "metadata": {
                "title": format!("Compliance evidence for {}", if report.hostname.is_empty() { "a mail server" } else { &report.hostname }),
                "last-modified": when,
                "version": "1",
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": { "href": "#assessment-plan-rampart-audit" },
            "results": [{
                "uuid": uuid(),
                "title": "rampart audit",
                "description": "Evidence gathered by rampart audit for North Carolina's Electronic Mail Server Security Standard and Alabama's Standard 540S1.",
                "start": when,
                "end": when,
                "reviewed-controls": {
                    "control-selections": [{ "include-controls": include }],
                },
                "observations": observations,
                "findings": findings,
            }],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Facts;

    #[test]
    fn every_control_is_reviewed_and_found_once() {
        let facts = Facts {
            now: 1_796_310_245,
            ..Facts::default()
        };
        let doc = render(&Report::gather(&facts));
        let r = &doc["assessment-results"]["results"][0];
        let n = crate::registry::CONTROLS.len();
        assert_eq!(r["findings"].as_array().unwrap().len(), n);
        assert_eq!(
            r["reviewed-controls"]["control-selections"][0]["include-controls"]
                .as_array()
                .unwrap()
                .len(),
            n
        );
        assert_eq!(
            doc["assessment-results"]["metadata"]["last-modified"],
            "2026-12-03T15:04:05Z"
        );
        // Nothing gathered: nothing satisfied.
        assert!(r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["target"]["status"]["state"] == "not-satisfied"));
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
