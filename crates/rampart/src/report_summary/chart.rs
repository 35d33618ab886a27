//! Charts drawn on the server as SVG text (AL-3.2): the report mail and the console's dashboard
//! show them with no script and no external resource. Each function returns one `<svg>` element
//! with its size and a `<title>`, every label escaped. The elements are meant to be inline in an
//! HTML page, so they carry no namespace URL.

use std::fmt::Write;

/// One series of a chart: its name, colour (a CSS colour) and one value per column.
pub struct Series<'a> {
    pub name: &'a str,
    pub colour: &'a str,
    pub values: &'a [u64],
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 24.0;

/// Escapes text for SVG and HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Grouped columns: one group per label, one bar per series (messages per hour in and out).
/// `labels` are written under every `label_every`-th column.
pub fn columns(
    title: &str,
    labels: &[String],
    series: &[Series<'_>],
    label_every: usize,
) -> String {
    let n = labels.len().max(1);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let group = plot_w / n as f64;
    let bar = (group / (series.len().max(1) as f64 + 0.5)).max(0.5);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg role="img" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11"><title>{}</title>"#,
        escape(title)
    );
    // Axes and the scale: zero and the largest value.
    let base = TOP + plot_h;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#888"/><line x1="{LEFT}" y1="{base}" x2="{}" y2="{base}" stroke="#888"/><text x="{}" y="{}" text-anchor="end">{max}</text><text x="{}" y="{base}" text-anchor="end">0</text>"##,
        WIDTH - 8.0,
        LEFT - 4.0,
        TOP + 4.0,
        LEFT - 4.0,
    );
    for (i, label) in labels.iter().enumerate() {
        let x0 = LEFT + group * i as f64;
        for (k, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0);
            let h = plot_h * v as f64 / max as f64;
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {v}</title></rect>"#,
                x0 + bar * (k as f64 + 0.25),
                base - h,
                bar,
                h,
                escape(s.colour),
                escape(label),
                escape(s.name),
            );
        }
        if label_every > 0 && i % label_every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                x0,
                base + 14.0,
                escape(label)
            );
        }
    }
    // The legend, top right.
    for (k, s) in series.iter().enumerate() {
        let x = WIDTH - 160.0 + 80.0 * k as f64;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="6" width="10" height="10" fill="{}"/><text x="{}" y="15">{}</text>"#,
            escape(s.colour),
            x + 14.0,
            escape(s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, one per item, longest first as given (verdicts, top lists).
pub fn bars(title: &str, items: &[(String, u64)], colour: &str) -> String {
    let row = 18.0;
    let label_w = 220.0;
    let height = TOP + row * items.len().max(1) as f64 + 8.0;
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg role="img" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11"><title>{}</title>"#,
        escape(title)
    );
    if items.is_empty() {
        let _ = write!(svg, r#"<text x="4" y="{}">none</text>"#, TOP + 10.0);
    }
    for (i, (name, v)) in items.iter().enumerate() {
        let y = TOP + row * i as f64;
        let w = (WIDTH - label_w - 60.0) * *v as f64 / max as f64;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{label_w}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}">{v}</text>"#,
            label_w - 6.0,
            y + 12.0,
            escape(name),
            y + 2.0,
            row - 4.0,
            escape(colour),
            label_w + w + 4.0,
            y + 12.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_3_2_charts_are_escaped_svg_without_external_references() {
        let labels: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
        let values: Vec<u64> = (0..24).collect();
        let svg = columns(
            "<in & out>",
            &labels,
            &[Series {
                name: "in\"",
                colour: "#36c",
                values: &values,
            }],
            3,
        );
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;in &amp; out&gt;") && svg.contains("in&quot;"));
        assert_eq!(svg.matches("<rect ").count(), 24 + 1);
        let b = bars("v", &[("spam=tag".into(), 3), ("<x>".into(), 1)], "#c33");
        assert!(b.contains("&lt;x&gt;") && !b.contains("<x>"));
        // Inline in HTML: no namespace URL, no link, nothing fetched.
        for svg in [&svg, &b] {
            assert!(!svg.contains("http"));
            assert!(!svg.contains("href"));
        }
    }
}
