//! The report's charts as inline SVG: a line chart, a column chart, a bar
//! chart of labelled values and a labelled scatter plot. Each is a
//! `<figure class="chart">` whose marks carry a class (`series`, `bar`,
//! `point`) so a test in a real browser can count what was drawn, and a
//! `<title>` per mark, which browsers show on hover. No script, no fonts
//! or files from elsewhere: the page is self-contained.

use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 300.0;
const PAD_L: f64 = 64.0;
const PAD_R: f64 = 16.0;
const PAD_T: f64 = 12.0;
const PAD_B: f64 = 40.0;

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
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

/// A number as a short label: 1.2M, 35k, 0.412.
pub fn short(x: f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if a >= 100.0 || x == x.trunc() {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

fn figure(kind: &str, caption: &str, height: f64, body: &str) -> String {
    format!(
        "<figure class=\"chart\" data-kind=\"{kind}\"><figcaption>{}</figcaption>\
         <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {height}\" \
         width=\"{W}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">{body}</svg></figure>",
        esc(caption),
        esc(caption)
    )
}

/// Maps `v` in `[lo, hi]` to `[a, b]`.
fn scale(v: f64, lo: f64, hi: f64, a: f64, b: f64) -> f64 {
    if hi > lo {
        a + (v - lo) / (hi - lo) * (b - a)
    } else {
        (a + b) / 2.0
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi { (0.0, 1.0) } else { (lo, hi) }
}

/// Axes with a few ticks on y and the given labels on x.
fn axes(out: &mut String, y: (f64, f64), x_label: &str, y_label: &str) {
    let (x0, x1, y0, y1) = (PAD_L, W - PAD_R, H - PAD_B, PAD_T);
    let _ = write!(
        out,
        "<g class=\"axes\" stroke=\"#888\" fill=\"none\"><line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\"/>\
         <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\"/></g>"
    );
    for i in 0..=4 {
        let v = y.0 + (y.1 - y.0) * i as f64 / 4.0;
        let py = scale(v, y.0, y.1, y0, y1);
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#444\">{}</text>\
             <line x1=\"{x0}\" y1=\"{py:.1}\" x2=\"{x1}\" y2=\"{py:.1}\" stroke=\"#eee\"/>",
            x0 - 6.0,
            py + 4.0,
            short(v)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#222\">{}</text>\
         <text x=\"14\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#222\" \
         transform=\"rotate(-90 14 {})\">{}</text>",
        (x0 + x1) / 2.0,
        H - 6.0,
        esc(x_label),
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0,
        esc(y_label)
    );
}

/// A line through `values` at steps 1, 2, ...
pub fn line(caption: &str, x_label: &str, y_label: &str, values: &[f64]) -> String {
    let mut out = String::new();
    let (lo, hi) = range(values.iter().copied());
    let lo = if lo > 0.0 && lo < hi {
        lo - (hi - lo) * 0.1
    } else {
        lo
    };
    axes(&mut out, (lo, hi), x_label, y_label);
    let n = values.len();
    let px = |i: usize| {
        scale(
            i as f64,
            0.0,
            (n.max(2) - 1) as f64,
            PAD_L + 8.0,
            W - PAD_R - 8.0,
        )
    };
    let py = |v: f64| scale(v, lo, hi, H - PAD_B, PAD_T);
    let finite = || values.iter().enumerate().filter(|(_, v)| v.is_finite());
    let path: Vec<String> = finite()
        .map(|(i, &v)| format!("{:.1},{:.1}", px(i), py(v)))
        .collect();
    let _ = write!(
        out,
        "<polyline class=\"series\" fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"2\" points=\"{}\"/>",
        path.join(" ")
    );
    for (i, &v) in finite() {
        let _ = write!(
            out,
            "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#2b6cb0\"><title>{} {}: {}</title></circle>",
            px(i),
            py(v),
            esc(x_label),
            i + 1,
            short(v)
        );
        if n <= 30 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
                px(i),
                H - PAD_B + 14.0,
                i + 1
            );
        }
    }
    figure("line", caption, H, &out)
}

/// One column per value, in the order given (cluster sizes, largest first).
pub fn columns(caption: &str, x_label: &str, y_label: &str, values: &[(String, f64)]) -> String {
    let mut out = String::new();
    let (_, hi) = range(values.iter().map(|v| v.1));
    axes(&mut out, (0.0, hi), x_label, y_label);
    let n = values.len().max(1) as f64;
    let slot = (W - PAD_L - PAD_R) / n;
    for (i, (label, v)) in values.iter().enumerate() {
        let y = scale(*v, 0.0, hi, H - PAD_B, PAD_T);
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#4c9f70\"><title>{}: {}</title></rect>",
            PAD_L + slot * i as f64 + slot * 0.1,
            (slot * 0.8).max(0.5),
            (H - PAD_B - y).max(0.0),
            esc(label),
            short(*v)
        );
    }
    figure("columns", caption, H, &out)
}

/// Horizontal bars with their labels (commonest tags).
pub fn bars(caption: &str, values: &[(String, f64)]) -> String {
    let row = 20.0;
    let height = PAD_T + row * values.len().max(1) as f64 + 8.0;
    let (_, hi) = range(values.iter().map(|v| v.1));
    let (x0, x1) = (180.0, W - 70.0);
    let mut out = String::new();
    for (i, (label, v)) in values.iter().enumerate() {
        let y = PAD_T + row * i as f64;
        let w = scale(*v, 0.0, hi, 0.0, x1 - x0).max(1.0);
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#222\">{}</text>\
             <rect class=\"bar\" x=\"{x0}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"#d69e2e\"><title>{}: {}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#444\">{}</text>",
            x0 - 6.0,
            y + 14.0,
            esc(label),
            y + 3.0,
            row - 6.0,
            esc(label),
            short(*v),
            x0 + w + 4.0,
            y + 14.0,
            short(*v)
        );
    }
    figure("bars", caption, height, &out)
}

/// A point per item at (x, y), its area by `size`, labelled when `label`
/// is not empty; every point names itself on hover.
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub size: f64,
    pub name: String,
    pub label: String,
}

pub fn scatter(caption: &str, x_label: &str, y_label: &str, points: &[Point]) -> String {
    let mut out = String::new();
    let (xlo, xhi) = range(points.iter().map(|p| p.x));
    let (ylo, yhi) = range(points.iter().map(|p| p.y));
    axes(&mut out, (ylo, yhi), x_label, y_label);
    let (_, smax) = range(points.iter().map(|p| p.size));
    for p in points {
        let cx = scale(p.x, xlo, xhi, PAD_L + 12.0, W - PAD_R - 60.0);
        let cy = scale(p.y, ylo, yhi, H - PAD_B - 8.0, PAD_T + 8.0);
        let r = 3.0 + 9.0 * (p.size.max(0.0) / smax.max(1e-9)).sqrt();
        let _ = write!(
            out,
            "<circle class=\"point\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{r:.1}\" fill=\"#805ad5\" fill-opacity=\"0.45\" stroke=\"#553c9a\"><title>{}</title></circle>",
            esc(&p.name)
        );
        if !p.label.is_empty() {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#222\">{}</text>",
                cx + r + 2.0,
                cy + 3.0,
                esc(&p.label)
            );
        }
    }
    figure("scatter", caption, H, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_draw_one_mark_per_value_and_escape_text() {
        let l = line("loss <per> epoch", "epoch", "loss", &[3.0, 2.0, 1.5]);
        assert_eq!(l.matches("class=\"point\"").count(), 3);
        assert!(l.contains("loss &lt;per&gt; epoch"));
        let c = columns(
            "sizes",
            "cluster",
            "titles",
            &[("a".into(), 1.0), ("b".into(), 0.0)],
        );
        assert_eq!(c.matches("class=\"bar\"").count(), 2);
        let b = bars("tags", &[("x&y".into(), 5.0)]);
        assert!(b.contains("x&amp;y") && !b.contains("x&y"));
        let s = scatter(
            "map",
            "pc1",
            "pc2",
            &[Point {
                x: 0.0,
                y: 0.0,
                size: 1.0,
                name: "c0".into(),
                label: "pizza".into(),
            }],
        );
        assert_eq!(s.matches("class=\"point\"").count(), 1);
        // Empty and non-finite input draws no NaN coordinates.
        let e = line("empty", "x", "y", &[]);
        let n = line("nan", "x", "y", &[f64::NAN, 1.0]);
        assert!(!e.contains("NaN") && !n.contains("NaN"));
        assert_eq!(n.matches("class=\"point\"").count(), 1);
    }
}
