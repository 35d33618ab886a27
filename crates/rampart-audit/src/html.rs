//! `rampart audit --html FILE`: one self-contained page an auditor can open and print. A
//! summary with a bar chart of statuses per standard (inline SVG), then every control with its
//! requirement, how Rampart carries it, its findings and remedies. No script, no external
//! resource; the page's own CSP says so.

use crate::registry::Standard;
use crate::report::{Report, Tally};
use crate::Status;
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STATUSES: [(Status, &str); 5] = [
    (Status::Pass, "#1b7f3a"),
    (Status::Fail, "#b3261e"),
    (Status::Warn, "#8a5a00"),
    (Status::Manual, "#1f5fa8"),
    (Status::NotApplicable, "#5f6368"),
];

fn count(t: &Tally, s: Status) -> usize {
    match s {
        Status::Pass => t.pass,
        Status::Fail => t.fail,
        Status::Warn => t.warn,
        Status::Manual => t.manual,
        Status::NotApplicable => t.not_applicable,
    }
}

/// One horizontal stacked bar per standard, with a legend; sizes in the SVG's own units.
fn chart(report: &Report) -> String {
    let mut svg = String::from(
        "<svg role=\"img\" aria-labelledby=\"chart-title\" viewBox=\"0 0 640 150\" width=\"640\" height=\"150\" xmlns=\"http://www.w3.org/2000/svg\"><title id=\"chart-title\">Controls by status, per standard</title>",
    );
    for (row, std) in [Standard::Nc, Standard::Al].iter().enumerate() {
        let t = report.tally(*std);
        let total: usize = STATUSES.iter().map(|(s, _)| count(&t, *s)).sum();
        let y = 20 + row * 50;
        let label = match std {
            Standard::Nc => "NC",
            Standard::Al => "AL",
        };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"14\" fill=\"#111\">{label}</text>",
            y + 18
        );
        let mut x = 40.0;
        for (s, colour) in STATUSES {
            let n = count(&t, s);
            if n == 0 || total == 0 {
                continue;
            }
            let w = 560.0 * n as f64 / total as f64;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"26\" fill=\"{colour}\"><title>{label} {}: {n}</title></rect>",
                s.as_str()
            );
            if w > 18.0 {
                let _ = write!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{}\" font-size=\"13\" fill=\"#fff\" text-anchor=\"middle\">{n}</text>",
                    x + w / 2.0,
                    y + 18
                );
            }
            x += w;
        }
    }
    for (i, (s, colour)) in STATUSES.iter().enumerate() {
        let x = 40 + i * 115;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"125\" width=\"14\" height=\"14\" fill=\"{colour}\"/><text x=\"{}\" y=\"137\" font-size=\"13\" fill=\"#111\">{}</text>",
            x + 20,
            s.as_str()
        );
    }
    svg.push_str("</svg>");
    svg
}

pub fn render(report: &Report) -> String {
    let mut h = String::new();
    let title = format!(
        "Compliance evidence for {}",
        if report.hostname.is_empty() {
            "a mail server"
        } else {
            &report.hostname
        }
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{}</style></head><body><main>",
        escape(&title),
        CSS
    );
    let _ = write!(
        h,
        "<h1>{}</h1><p class=\"meta\">Gathered at {} (UTC). Each control's status is the worst of its findings. Evidence is what was looked at, as it was seen.</p>",
        escape(&title),
        escape(&utc(report.generated_at))
    );
    h.push_str("<section aria-labelledby=\"summary\"><h2 id=\"summary\">Summary</h2>");
    h.push_str(&chart(report));
    h.push_str("<table class=\"tally\"><thead><tr><th scope=\"col\">Standard</th>");
    for (s, _) in STATUSES {
        let _ = write!(h, "<th scope=\"col\">{}</th>", s.as_str());
    }
    h.push_str("</tr></thead><tbody>");
    for std in [Standard::Nc, Standard::Al] {
        let t = report.tally(std);
        let _ = write!(h, "<tr><th scope=\"row\">{}</th>", escape(std.name()));
        for (s, _) in STATUSES {
            let _ = write!(h, "<td>{}</td>", count(&t, s));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></section>");
    for std in [Standard::Nc, Standard::Al] {
        let _ = write!(h, "<section><h2>{}</h2>", escape(std.name()));
        for c in report.controls.iter().filter(|c| c.control.standard == std) {
            let _ = write!(
                h,
                "<article class=\"control\" id=\"{id}\"><h3><span class=\"id\">{id}</span> {title} <span class=\"status s-{st}\">{st}</span></h3>\
<p><strong>Requirement:</strong> {req}</p><p><strong>How Rampart carries it:</strong> {how}</p>",
                id = escape(c.control.id),
                title = escape(c.control.title),
                st = c.status.as_str(),
                req = escape(c.control.requirement),
                how = escape(c.control.carried_by),
            );
            if !c.control.weakened_by.is_empty() {
                let _ = write!(
                    h,
                    "<p><strong>Weakened by:</strong> <code>{}</code></p>",
                    c.control
                        .weakened_by
                        .iter()
                        .map(|k| escape(k))
                        .collect::<Vec<_>>()
                        .join("</code>, <code>")
                );
            }
            h.push_str("<table class=\"findings\"><thead><tr><th scope=\"col\">Status</th><th scope=\"col\">Looked at</th><th scope=\"col\">Evidence</th><th scope=\"col\">Remedy</th></tr></thead><tbody>");
            for f in &c.findings {
                let _ = write!(
                    h,
                    "<tr><td><span class=\"status s-{st}\">{st}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&f.check),
                    escape(&f.evidence),
                    escape(f.remedy.as_deref().unwrap_or("")),
                    st = f.status.as_str()
                );
            }
            h.push_str("</tbody></table></article>");
        }
        h.push_str("</section>");
    }
    h.push_str("</main></body></html>\n");
    h
}

/// `YYYY-MM-DD HH:MM` from seconds since the epoch.
fn utc(secs: i64) -> String {
    let (y, m, d, hh, mm, _) = crate::civil(secs);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}")
}

const CSS: &str = "body{font:15px/1.45 system-ui,sans-serif;color:#111;background:#fff;margin:0}\
main{max-width:1100px;margin:0 auto;padding:1.5rem}h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:2px solid #ccc}\
.meta{color:#444}table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}\
.tally td{text-align:right}.control{break-inside:avoid;margin:1.2rem 0;padding-top:.2rem;border-top:1px solid #ddd}\
.control h3{font-size:1.05rem}.id{font-family:ui-monospace,monospace}\
.status{display:inline-block;padding:0 .4rem;border-radius:3px;color:#fff;font-size:.85rem;font-weight:600}\
.s-pass{background:#1b7f3a}.s-fail{background:#b3261e}.s-warn{background:#8a5a00}.s-manual{background:#1f5fa8}.s-not-applicable{background:#5f6368}\
code{font-family:ui-monospace,monospace;font-size:.9em}@media print{main{max-width:none}a{color:inherit}}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Facts;

    #[test]
    fn the_page_is_self_contained_and_escapes_evidence() {
        let mut facts = Facts {
            now: 1_764_763_200,
            ..Facts::default()
        };
        facts.attestations.push(crate::facts::Attestation {
            control: "NC-2.5".into(),
            by: "<script>alert(1)</script>".into(),
            note: "room \"B\"".into(),
            at: 1_764_763_200,
        });
        let page = render(&Report::gather(&facts));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<script"));
        assert!(
            !page.contains("http://") || page.matches("http://").count() == 1,
            "only the SVG namespace"
        );
        assert!(!page.contains("https://"));
        assert!(page.contains("2025-12-03 12:00"));
        for c in crate::registry::CONTROLS {
            assert!(page.contains(&format!("id=\"{}\"", c.id)), "{}", c.id);
        }
    }
}
