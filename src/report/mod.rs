//! `quiver report MODEL... -o FILE.html`: a self-contained HTML page that
//! shows what models learned, with real charts (inline SVG, [`svg`]):
//! - word2vec: the loss per epoch, and the nearest words of the commonest
//!   words;
//! - k-means: the inertia per iteration, the cluster sizes, and a map of
//!   the centroids on their first two principal components, each labelled
//!   by its nearest words (through the embedding of a tagger built on the
//!   clusters, when there is one);
//! - tagger: its coverage and tags per text over the texts it learned from,
//!   its commonest tags, the commonest tags of the largest clusters, and
//!   sample texts with their tags.
//!
//! A small inline script counts the charts and their marks into `data-`
//! attributes of the body, so a test in a real browser can check what was
//! drawn (tests/report.rs).

use std::fmt::Write;
use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use quiver_engine::models::LoadModel;
use quiver_engine::models::kmeans::KMeans;
use quiver_engine::models::tagger::payload::REPORT_FILE;
use quiver_engine::models::tagger::{Stopwords, Tagger};
use quiver_engine::models::word2vec::Word2Vec;
use quiver_engine::store::objects::get_bytes;
use quiver_engine::store::{Manifest, ModelStore};
use serde_json::Value as Json;

pub mod svg;

use svg::{Point, bars, columns, esc, line, scatter, short};

/// The page for `names`, one section per model, in order.
pub async fn render(models: &Arc<ModelStore>, names: &[String]) -> Result<String> {
    let mut sections = String::new();
    for name in names {
        let manifest = models.require("report", name).await?;
        let body = match manifest.model_type.as_str() {
            "word2vec" => word2vec(models, &manifest).await?,
            "kmeans" => kmeans(models, &manifest).await?,
            "tagger" => tagger(models, &manifest).await?,
            other => {
                return Err(DataFusionError::Plan(format!(
                    "report: model '{name}' is a {other} model, which has no report"
                )));
            }
        };
        let _ = write!(
            sections,
            "<section class=\"model\" id=\"{}\"><h2>{} <small>{} · version {} · {}</small></h2>{body}</section>",
            esc(name),
            esc(name),
            esc(&manifest.model_type),
            manifest.version,
            esc(&manifest.created)
        );
    }
    Ok(page(&names.join(", "), &sections))
}

/// A numeric metric of the manifest.
fn metric(m: &Manifest, key: &str) -> Option<f64> {
    m.metrics.get(key).and_then(Json::as_f64)
}

/// A series metric (one number per step).
fn series(m: &Manifest, key: &str) -> Vec<f64> {
    m.metrics
        .get(key)
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_f64).collect())
        .unwrap_or_default()
}

fn figures(items: &[(&str, String)]) -> String {
    let mut out = String::from("<dl class=\"figures\">");
    for (k, v) in items {
        let _ = write!(out, "<div><dt>{}</dt><dd>{}</dd></div>", esc(k), esc(v));
    }
    out.push_str("</dl>");
    out
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", esc(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

async fn word2vec(models: &Arc<ModelStore>, m: &Manifest) -> Result<String> {
    let model = Word2Vec::load(models, m).await?;
    let mut out = figures(&[
        ("vocabulary", short(model.len() as f64)),
        ("dimensions", model.dim.to_string()),
        (
            "training seconds",
            metric(m, "train_seconds").map_or("-".into(), short),
        ),
    ]);
    let loss = series(m, "loss");
    if !loss.is_empty() {
        out.push_str(&line("Training loss per epoch", "epoch", "loss", &loss));
    }
    // The commonest words that say something (not "for", "the", "2024").
    let mut ids: Vec<u32> = (0..model.len() as u32)
        .filter(|&i| !Stopwords::English.excludes(&model.words[i as usize]))
        .collect();
    ids.sort_by(|a, b| model.counts[*b as usize].cmp(&model.counts[*a as usize]));
    let rows: Vec<Vec<String>> = ids
        .iter()
        .take(15)
        .map(|&id| {
            let near = model.nearest(model.vector(id), 8, Some(id));
            vec![
                model.words[id as usize].clone(),
                model.counts[id as usize].to_string(),
                near.iter()
                    .map(|&(w, s)| format!("{} ({s:.2})", model.words[w as usize]))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    out.push_str("<h3>The commonest words and their nearest words (cosine similarity)</h3>");
    out.push_str(&table(&["word", "count", "nearest words"], &rows));
    Ok(out)
}

/// The first two principal components of the rows of `values` (`k x dim`),
/// by power iteration on the centred rows: each row's coordinates.
fn pca2(values: &[f32], dim: usize) -> Vec<(f64, f64)> {
    let k = values.len() / dim.max(1);
    if k == 0 || dim == 0 {
        return Vec::new();
    }
    let mut mean = vec![0.0f64; dim];
    for row in values.chunks(dim) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x as f64 / k as f64;
        }
    }
    let rows: Vec<Vec<f64>> = values
        .chunks(dim)
        .map(|r| r.iter().zip(&mean).map(|(&x, m)| x as f64 - m).collect())
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut components: Vec<Vec<f64>> = Vec::new();
    for c in 0..2 {
        // A fixed start that is not orthogonal to any axis.
        let mut v: Vec<f64> = (0..dim).map(|i| 1.0 + ((i * 7 + c) % 5) as f64).collect();
        for _ in 0..100 {
            // v <- X^T X v, less the components found already.
            let xv: Vec<f64> = rows.iter().map(|r| dot(r, &v)).collect();
            let mut next = vec![0.0; dim];
            for (r, s) in rows.iter().zip(&xv) {
                for (n, x) in next.iter_mut().zip(r) {
                    *n += x * s;
                }
            }
            for p in &components {
                let d = dot(&next, p);
                next.iter_mut().zip(p).for_each(|(n, q)| *n -= d * q);
            }
            let norm = dot(&next, &next).sqrt();
            if norm == 0.0 || !norm.is_finite() {
                break;
            }
            v = next.into_iter().map(|x| x / norm).collect();
        }
        components.push(v);
    }
    rows.iter()
        .map(|r| (dot(r, &components[0]), dot(r, &components[1])))
        .collect()
}

/// The embedding of a tagger built on clusters `name`, if there is one.
async fn embedding_for(models: &Arc<ModelStore>, name: &str) -> Result<Option<Arc<Word2Vec>>> {
    for m in models.list().await? {
        let opt = |k: &str| m.options.get(k).and_then(Json::as_str).map(str::to_string);
        if m.model_type != "tagger" || opt("clusters").as_deref() != Some(name) {
            continue;
        }
        let Some(e) = opt("embedding") else { continue };
        let Some(&v) = m.depends_on.get(&e) else {
            continue;
        };
        if let Some(em) = models.version(&e, v).await? {
            return Ok(Some(Word2Vec::load(models, &em).await?));
        }
    }
    Ok(None)
}

async fn kmeans(models: &Arc<ModelStore>, m: &Manifest) -> Result<String> {
    let model = KMeans::load(models, m).await?;
    let (k, dim) = (model.centroids.k, model.dim());
    let mut out = figures(&[
        ("clusters", k.to_string()),
        ("dimensions", dim.to_string()),
        (
            "final inertia",
            metric(m, "final_inertia").map_or("-".into(), short),
        ),
        (
            "training seconds",
            metric(m, "train_seconds").map_or("-".into(), short),
        ),
    ]);
    let inertia = series(m, "inertia");
    if !inertia.is_empty() {
        out.push_str(&line(
            "Inertia per iteration",
            "iteration",
            "inertia",
            &inertia,
        ));
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|a, b| model.sizes[*b].cmp(&model.sizes[*a]).then(a.cmp(b)));
    let sizes: Vec<(String, f64)> = order
        .iter()
        .map(|&j| (format!("cluster {j}"), model.sizes[j] as f64))
        .collect();
    out.push_str(&columns(
        "Cluster sizes, largest first",
        "clusters",
        "points",
        &sizes,
    ));
    let embedding = embedding_for(models, &m.name).await?;
    let labels: Vec<String> = (0..k)
        .map(|j| match &embedding {
            Some(e) if e.dim == dim => e
                .nearest(model.centroids.row(j), 3, None)
                .iter()
                .map(|&(w, _)| e.words[w as usize].as_str())
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        })
        .collect();
    let largest: Vec<usize> = order.iter().copied().take(12).collect();
    let points: Vec<Point> = pca2(&model.centroids.values, dim)
        .into_iter()
        .enumerate()
        .map(|(j, (x, y))| Point {
            x,
            y,
            size: model.sizes[j] as f64,
            name: format!("cluster {j}: {} points; {}", model.sizes[j], labels[j]),
            label: if largest.contains(&j) {
                labels[j].clone()
            } else {
                String::new()
            },
        })
        .collect();
    out.push_str(&scatter(
        "Centroids on their first two principal components (area: cluster size; labels: nearest words of the 12 largest)",
        "component 1",
        "component 2",
        &points,
    ));
    Ok(out)
}

async fn tagger(models: &Arc<ModelStore>, m: &Manifest) -> Result<String> {
    let t = Tagger::load_version(Arc::clone(models), m.clone(), "report".into()).await?;
    let learned = t.options.learned_from.is_some();
    let mut items = vec![
        (
            "method",
            if learned {
                "learned from texts".to_string()
            } else {
                "nearest words of each centre".to_string()
            },
        ),
        (
            "embedding · clusters",
            format!("{} · {}", t.options.embedding, t.options.clusters),
        ),
        (
            "candidates",
            t.lists.iter().map(Vec::len).sum::<usize>().to_string(),
        ),
    ];
    if learned {
        items.push((
            "texts learned from",
            metric(m, "texts").map_or("-".into(), short),
        ));
        items.push((
            "coverage (texts with a tag)",
            metric(m, "coverage").map_or("-".into(), |c| format!("{:.1}%", 100.0 * c)),
        ));
        items.push((
            "tags per text",
            metric(m, "tags_per_text").map_or("-".into(), |c| format!("{c:.2}")),
        ));
        items.push(("phrases", metric(m, "phrases").map_or("-".into(), short)));
    }
    let mut out = figures(&items);
    let top: Vec<(String, f64)> = m
        .metrics
        .get("top_tags")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|o| {
                    Some((
                        o.get("label")?.as_str()?.to_string(),
                        o.get("value")?.as_f64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if !top.is_empty() {
        out.push_str(&bars("The commonest tags (texts tagged with each)", &top));
    }
    let summary = if learned {
        let path = models.file_path(m, REPORT_FILE);
        let bytes = get_bytes(models.object_store().as_ref(), &path).await?;
        serde_json::from_slice::<Json>(&bytes)
            .map_err(|e| DataFusionError::Execution(format!("tagger model file {path}: {e}")))?
    } else {
        Json::Null
    };
    if let Some(clusters) = summary.get("clusters").and_then(Json::as_array) {
        let mut rows: Vec<(u64, Vec<String>)> = clusters
            .iter()
            .map(|c| {
                let n = c.get("texts").and_then(Json::as_u64).unwrap_or(0);
                let tags = c
                    .get("top_tags")
                    .and_then(Json::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| {
                                Some(format!("{} ({})", p.get(0)?.as_str()?, p.get(1)?))
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                let id = c.get("cluster_id").and_then(Json::as_u64).unwrap_or(0);
                (n, vec![id.to_string(), n.to_string(), tags])
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        let rows: Vec<Vec<String>> = rows.into_iter().take(20).map(|r| r.1).collect();
        out.push_str("<h3>The commonest tags of the 20 largest clusters</h3>");
        out.push_str(&table(
            &["cluster", "texts", "commonest tags (texts)"],
            &rows,
        ));
    } else {
        let rows: Vec<Vec<String>> = t
            .lists
            .iter()
            .enumerate()
            .take(20)
            .map(|(j, l)| {
                let words = l.iter().take(8).map(|c| t.unit_text(c.unit));
                vec![j.to_string(), words.collect::<Vec<_>>().join(", ")]
            })
            .collect();
        out.push_str("<h3>Candidates of the first 20 clusters, nearest the centre first</h3>");
        out.push_str(&table(&["cluster", "candidates"], &rows));
    }
    if let Some(samples) = summary.get("samples").and_then(Json::as_array) {
        let rows: Vec<Vec<String>> = samples
            .iter()
            .map(|s| {
                let tags = s
                    .get("tags")
                    .and_then(Json::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Json::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                vec![
                    s.get("text")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                    tags,
                ]
            })
            .collect();
        out.push_str("<h3>Texts drawn at random from those it learned from, with their tags</h3>");
        out.push_str(&table(&["text", "tags"], &rows));
    }
    Ok(out)
}

fn page(title: &str, sections: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>quiver report: {t}</title><style>{STYLE}</style></head>\
         <body><header><h1>quiver report: {t}</h1></header><main>{sections}</main>\
         <script>{SCRIPT}</script></body></html>\n",
        t = esc(title)
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1a202c;background:#f7fafc}\
header{background:#2d3748;color:#fff;padding:12px 24px}h1{font-size:20px;margin:0}\
main{padding:8px 24px;max-width:1100px}section.model{background:#fff;border:1px solid #e2e8f0;\
border-radius:6px;padding:12px 20px;margin:16px 0}h2 small{font-weight:normal;color:#718096;\
font-size:13px}dl.figures{display:flex;flex-wrap:wrap;gap:12px 28px}dl.figures dt{font-size:12px;\
color:#718096}dl.figures dd{margin:0;font-size:18px}figure.chart{margin:16px 0}figcaption{\
font-weight:600;margin-bottom:4px}table{border-collapse:collapse;font-size:13px;margin:8px 0}\
td,th{border-bottom:1px solid #e2e8f0;padding:4px 8px;text-align:left;vertical-align:top}";

/// Counts the charts and their marks into the body's data attributes, and
/// any script error into `data-errors`.
const SCRIPT: &str = "(function(){var b=document.body;b.dataset.errors='0';\
window.addEventListener('error',function(){b.dataset.errors=String(+b.dataset.errors+1);});\
var charts=document.querySelectorAll('figure.chart svg');var marks=0,empty=0;\
charts.forEach(function(s){var n=s.querySelectorAll('.series,.bar,.point').length;marks+=n;\
var r=s.getBoundingClientRect();if(n===0||r.width===0||r.height===0){empty++;}});\
b.dataset.charts=String(charts.length);b.dataset.marks=String(marks);\
b.dataset.emptyCharts=String(empty);})();";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_axis_of_largest_spread() {
        // Points spread along (1, 1, 0) and a little along (0, 0, 1).
        let mut values = Vec::new();
        for i in 0..10 {
            let t = i as f32 - 4.5;
            values.extend([t, t, 0.1 * ((i % 3) as f32 - 1.0)]);
        }
        let p = pca2(&values, 3);
        assert_eq!(p.len(), 10);
        let spread = |f: &dyn Fn(&(f64, f64)) -> f64| {
            let v: Vec<f64> = p.iter().map(f).collect();
            v.iter().fold(f64::MIN, |a, &b| a.max(b)) - v.iter().fold(f64::MAX, |a, &b| a.min(b))
        };
        assert!(spread(&|q| q.0) > 10.0 * spread(&|q| q.1));
        assert!(pca2(&[], 3).is_empty());
    }
}
