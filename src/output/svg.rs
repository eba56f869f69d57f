//! The report's charts, as inline SVG built here (no script, no external
//! resource). Every text from the network goes through maud's escaping;
//! bars carry patterns and labels besides colour, so the charts read in
//! grey print and without colour vision; each chart has a title and a
//! description for screen readers (the page adds the numbers as a table).

use maud::{Markup, html};

use super::report_data::{ServiceRow, VERSION_CLASSES};
use super::summary::count as how_many;
use crate::model::timeline::{DAY, HOUR, MINUTE, SECOND};

/// Drawing width of every chart (user units; the SVG scales to the page).
const WIDTH: f64 = 960.0;

/// How a version class is drawn: fill colour, pattern, text colour, and
/// the short label written on its segment.
struct Look {
    fill: &'static str,
    /// Pattern drawn over the fill: "" none, "cross", "diag", "dots",
    /// "vert", "horiz".
    pattern: &'static str,
    ink: &'static str,
    short: &'static str,
}

fn look(class: &str) -> Look {
    let (fill, pattern, ink, short) = match class {
        "SSL2" => ("#5b0f0f", "cross", "#ffffff", "SSL2"),
        "SSL3" => ("#7f1d1d", "cross", "#ffffff", "SSL3"),
        "TLS1.0" => ("#c81e1e", "diag", "#ffffff", "1.0"),
        "TLS1.1" => ("#f0a020", "dots", "#1f1300", "1.1"),
        "TLS1.2" => ("#9fdcaa", "", "#0b2e13", "1.2"),
        "TLS1.3" => ("#1e7b3a", "", "#ffffff", "1.3"),
        "other" => ("#a6acb5", "vert", "#111827", "other"),
        _ => ("#e5e7eb", "horiz", "#111827", "none"),
    };
    Look {
        fill,
        pattern,
        ink,
        short,
    }
}

/// Pattern definitions, ids prefixed with `p` (one set per chart: ids
/// are unique in the page).
fn patterns(p: &str) -> Markup {
    html! {
        defs {
            @for class in VERSION_CLASSES {
                @let l = look(class);
                @let id = format!("{p}-{}", class_id(class));
                @match l.pattern {
                    "cross" => pattern id=(id) width="8" height="8" patternUnits="userSpaceOnUse" {
                        rect width="8" height="8" fill=(l.fill) {}
                        path d="M0 0L8 8M8 0L0 8" stroke="#ffffff" stroke-width="1.2" stroke-opacity="0.7" {}
                    },
                    "diag" => pattern id=(id) width="8" height="8" patternUnits="userSpaceOnUse" {
                        rect width="8" height="8" fill=(l.fill) {}
                        path d="M-2 2L2 -2M0 8L8 0M6 10L10 6" stroke="#ffffff" stroke-width="1.6" stroke-opacity="0.55" {}
                    },
                    "dots" => pattern id=(id) width="6" height="6" patternUnits="userSpaceOnUse" {
                        rect width="6" height="6" fill=(l.fill) {}
                        circle cx="3" cy="3" r="1.2" fill="#1f1300" fill-opacity="0.55" {}
                    },
                    "vert" => pattern id=(id) width="6" height="6" patternUnits="userSpaceOnUse" {
                        rect width="6" height="6" fill=(l.fill) {}
                        path d="M3 0V6" stroke="#111827" stroke-width="1" stroke-opacity="0.5" {}
                    },
                    "horiz" => pattern id=(id) width="6" height="6" patternUnits="userSpaceOnUse" {
                        rect width="6" height="6" fill=(l.fill) {}
                        path d="M0 3H6" stroke="#6b7280" stroke-width="1" {}
                    },
                    _ => pattern id=(id) width="6" height="6" patternUnits="userSpaceOnUse" {
                        rect width="6" height="6" fill=(l.fill) {}
                    },
                }
            }
        }
    }
}

/// `TLS1.0` -> `tls1-0`: a class as an id part.
fn class_id(class: &str) -> String {
    class.to_ascii_lowercase().replace('.', "-")
}

/// A number with two decimals at most, as SVG coordinates are written.
fn n(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// `s` cut to `max` characters, the cut marked with an ellipsis.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The non-empty segments of a stacked bar: class, count, start and width,
/// at `scale` units per connection from `x0`.
fn segments(versions: &[u64; 8], x0: f64, scale: f64) -> Vec<(&'static str, u64, f64, f64)> {
    let mut x = x0;
    let mut out = Vec::new();
    for (class, count) in VERSION_CLASSES.iter().zip(versions) {
        if *count > 0 {
            let w = scale * *count as f64;
            out.push((*class, *count, x, w));
            x += w;
        }
    }
    out
}

/// Connections by negotiated version, one stacked bar per service.
pub fn versions_chart(services: &[ServiceRow]) -> Markup {
    let label_w = 110.0;
    let total_w = 70.0;
    let bar_h = 26.0;
    let gap = 14.0;
    let top = 8.0;
    let plot_w = WIDTH - label_w - total_w;
    let max = services
        .iter()
        .map(|s| s.versions.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let legend_y = top + services.len() as f64 * (bar_h + gap) + 6.0;
    let height = legend_y + 30.0;
    let desc = services
        .iter()
        .map(|s| {
            let parts: Vec<String> = VERSION_CLASSES
                .iter()
                .zip(s.versions)
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            if parts.is_empty() {
                format!("{}: no connections", s.name)
            } else {
                format!("{}: {}", s.name, parts.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    html! {
        svg class="chart" viewBox={"0 0 " (n(WIDTH)) " " (n(height))} role="img"
            aria-labelledby="versions-title versions-desc" {
            title id="versions-title" { "Connections by negotiated TLS version, per service" }
            desc id="versions-desc" { (desc) }
            (patterns("pv"))
            @for (i, s) in services.iter().enumerate() {
                @let y = top + i as f64 * (bar_h + gap);
                @let total: u64 = s.versions.iter().sum();
                text x=(n(label_w - 10.0)) y=(n(y + bar_h / 2.0 + 5.0)) text-anchor="end" class="label" { (s.name) }
                rect x=(n(label_w)) y=(n(y)) width=(n(plot_w)) height=(n(bar_h)) class="track" {}
                @if total == 0 {
                    text x=(n(label_w + 8.0)) y=(n(y + bar_h / 2.0 + 5.0)) class="muted" { "no connections" }
                }
                @for (class, count, x, w) in segments(&s.versions, label_w, plot_w / max) {
                    @let l = look(class);
                    g {
                        title { (s.name) ", " (class) ": " (count) " connections" }
                        rect x=(n(x)) y=(n(y)) width=(n(w)) height=(n(bar_h))
                            fill={"url(#pv-" (class_id(class)) ")"} class="seg" {}
                        @if w >= 58.0 {
                            text x=(n(x + w / 2.0)) y=(n(y + bar_h / 2.0 + 4.5)) text-anchor="middle"
                                fill=(l.ink) class="seglabel" style={"stroke:" (l.fill)} { (l.short) " · " (count) }
                        } @else if w >= 20.0 {
                            text x=(n(x + w / 2.0)) y=(n(y + bar_h / 2.0 + 4.5)) text-anchor="middle"
                                fill=(l.ink) class="seglabel" style={"stroke:" (l.fill)} { (count) }
                        }
                    }
                }
                text x=(n(WIDTH - total_w + 8.0)) y=(n(y + bar_h / 2.0 + 5.0)) class="total" { (total) }
            }
            @for (i, class) in VERSION_CLASSES.iter().enumerate() {
                @let x = label_w + i as f64 * (plot_w + total_w) / VERSION_CLASSES.len() as f64;
                rect x=(n(x)) y=(n(legend_y)) width="16" height="16" fill={"url(#pv-" (class_id(class)) ")"} class="seg" {}
                text x=(n(x + 22.0)) y=(n(legend_y + 13.0)) class="legend" { (class) }
            }
        }
    }
}

/// A round step for an axis up to `max` with about `ticks` ticks.
fn nice_step(max: u64, ticks: u64) -> u64 {
    let raw = (max / ticks.max(1)).max(1);
    let mut p = 1u64;
    while p.saturating_mul(10) <= raw {
        p *= 10;
    }
    for m in [1, 2, 5, 10] {
        if p.saturating_mul(m) >= raw {
            return p.saturating_mul(m);
        }
    }
    p.saturating_mul(10)
}

/// `per second`, `per minute`, `per hour`, `per day`, `per N days`.
pub fn bucket_name(width_us: i64) -> String {
    match width_us {
        SECOND => "per second".into(),
        MINUTE => "per minute".into(),
        HOUR => "per hour".into(),
        DAY => "per day".into(),
        w if w % DAY == 0 => format!("per {} days", w / DAY),
        w => format!("per {} s", w / 1_000_000),
    }
}

/// A bucket start as a short UTC label for its width.
pub fn bucket_label(start_us: i64, width_us: i64) -> String {
    let s = crate::text::rfc3339(start_us);
    // 2026-11-28T10:56:55.412028Z
    let date = s.get(0..10).unwrap_or(&s);
    let hm = s.get(11..16).unwrap_or("");
    if width_us < MINUTE {
        format!("{date} {}", s.get(11..19).unwrap_or(""))
    } else if width_us < DAY {
        format!("{date} {hm}")
    } else {
        date.to_string()
    }
}

/// An axis label: [`bucket_label`], without the date when it is the same
/// as the first bucket's (the first label has it).
fn axis_label(start_us: i64, width_us: i64, first_us: i64) -> String {
    let full = bucket_label(start_us, width_us);
    let first = bucket_label(first_us, width_us);
    match (full.split_once(' '), first.split_once(' ')) {
        (Some((d, t)), Some((d0, _))) if start_us != first_us && d == d0 => t.to_string(),
        _ => full,
    }
}

/// Connections below TLS 1.2 per time bucket, over all connections in
/// scope (lighter bars behind).
pub fn timeline_chart(width_us: i64, series: &[(i64, u64, u64)]) -> Markup {
    let left = 56.0;
    let right = 12.0;
    let top = 10.0;
    let plot_h = 170.0;
    let bottom = 46.0;
    let height = top + plot_h + bottom + 24.0;
    let plot_w = WIDTH - left - right;
    let max = series.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let step = nice_step(max, 4);
    let axis_max = max.div_ceil(step) * step;
    let y_of = |v: u64| top + plot_h - plot_h * v as f64 / axis_max as f64;
    let count = series.len().max(1);
    let slot = plot_w / count as f64;
    let bar_w = (slot * 0.8).clamp(1.0, 40.0);
    let labels_every = count.div_ceil(6).max(1);
    let below: u64 = series.iter().map(|b| b.2).sum();
    let total: u64 = series.iter().map(|b| b.1).sum();
    let worst = series.iter().max_by_key(|b| b.2);
    let desc = match worst {
        Some(w) if below > 0 => format!(
            "{below} of {} below TLS 1.2, {}; most in the bucket starting {} UTC ({}).",
            how_many(total, "connection"),
            bucket_name(width_us),
            bucket_label(w.0, width_us),
            w.2
        ),
        _ => format!(
            "No connection below TLS 1.2 among {total}, {}.",
            bucket_name(width_us)
        ),
    };
    let legend_y = top + plot_h + bottom;
    let step_usize = usize::try_from(step).unwrap_or(usize::MAX);
    html! {
        svg class="chart" viewBox={"0 0 " (n(WIDTH)) " " (n(height))} role="img"
            aria-labelledby="time-title time-desc" {
            title id="time-title" { "Connections below TLS 1.2 over time, " (bucket_name(width_us)) " (UTC)" }
            desc id="time-desc" { (desc) }
            (patterns("pt"))
            @for tick in (0..=axis_max).step_by(step_usize) {
                @let y = y_of(tick);
                line x1=(n(left)) x2=(n(WIDTH - right)) y1=(n(y)) y2=(n(y)) class="grid" {}
                text x=(n(left - 6.0)) y=(n(y + 4.0)) text-anchor="end" class="axis" { (tick) }
            }
            @for (i, (start, all, low)) in series.iter().enumerate() {
                @let x = left + i as f64 * slot + (slot - bar_w) / 2.0;
                g {
                    title { (bucket_label(*start, width_us)) " UTC: " (low) " of " (how_many(*all, "connection")) " below TLS 1.2" }
                    @if *all > 0 {
                        rect x=(n(x)) y=(n(y_of(*all))) width=(n(bar_w)) height=(n(y_of(0) - y_of(*all))) class="allbar" {}
                    }
                    @if *low > 0 {
                        rect x=(n(x)) y=(n(y_of(*low))) width=(n(bar_w)) height=(n(y_of(0) - y_of(*low)))
                            fill="url(#pt-tls1-0)" class="seg" {}
                    }
                    @if count <= 24 && *low > 0 {
                        text x=(n(x + bar_w / 2.0)) y=(n(y_of(*low) - 4.0)) text-anchor="middle" class="axis" { (low) }
                    }
                }
                @if i % labels_every == 0 {
                    text x=(n(x + bar_w / 2.0)) y=(n(top + plot_h + 16.0)) text-anchor="middle" class="axis" {
                        (axis_label(*start, width_us, series.first().map_or(0, |f| f.0)))
                    }
                }
            }
            line x1=(n(left)) x2=(n(WIDTH - right)) y1=(n(y_of(0))) y2=(n(y_of(0))) class="baseline" {}
            rect x=(n(left)) y=(n(legend_y)) width="16" height="16" fill="url(#pt-tls1-0)" class="seg" {}
            text x=(n(left + 22.0)) y=(n(legend_y + 13.0)) class="legend" { "below TLS 1.2" }
            rect x=(n(left + 150.0)) y=(n(legend_y)) width="16" height="16" class="allbar" {}
            text x=(n(left + 172.0)) y=(n(legend_y + 13.0)) class="legend" { "all connections in scope" }
        }
    }
}

/// Server names reached below TLS 1.2 the most, one bar each.
pub fn top_servers_chart(top: &[(String, u64)]) -> Markup {
    let label_w = 300.0;
    let count_w = 60.0;
    let bar_h = 20.0;
    let gap = 8.0;
    let plot_w = WIDTH - label_w - count_w;
    let max = top.iter().map(|t| t.1).max().unwrap_or(0).max(1) as f64;
    let height = 8.0 + top.len() as f64 * (bar_h + gap);
    let desc = top
        .iter()
        .map(|(name, c)| format!("{name}: {c}"))
        .collect::<Vec<_>>()
        .join("; ");
    html! {
        svg class="chart" viewBox={"0 0 " (n(WIDTH)) " " (n(height))} role="img"
            aria-labelledby="top-title top-desc" {
            title id="top-title" { "Server names reached below TLS 1.2, by connections" }
            desc id="top-desc" { (desc) }
            (patterns("ps"))
            @for (i, (name, c)) in top.iter().enumerate() {
                @let y = 4.0 + i as f64 * (bar_h + gap);
                @let w = (plot_w * *c as f64 / max).max(2.0);
                g {
                    title { (name) ": " (how_many(*c, "connection")) " below TLS 1.2" }
                    text x=(n(label_w - 10.0)) y=(n(y + bar_h / 2.0 + 5.0)) text-anchor="end" class="label mono" { (shorten(name, 38)) }
                    rect x=(n(label_w)) y=(n(y)) width=(n(w)) height=(n(bar_h)) fill="url(#ps-tls1-0)" class="seg" {}
                    text x=(n(label_w + w + 6.0)) y=(n(y + bar_h / 2.0 + 5.0)) class="total" { (c) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, versions: [u64; 8]) -> ServiceRow {
        ServiceRow {
            name: name.into(),
            clients: [0; 3],
            versions,
            below: 0,
        }
    }

    #[test]
    fn stacked_bars_scale_and_label() {
        let s = versions_chart(&[
            svc("Exchange", [0, 0, 13, 2, 21, 12, 0, 3]),
            svc("Teams", [0; 8]),
        ])
        .into_string();
        // One segment per non-zero class, labelled with its count.
        assert_eq!(
            s.matches("class=\"seg\"").count(),
            5 + VERSION_CLASSES.len()
        );
        assert!(s.contains("Exchange, TLS1.0: 13 connections"));
        assert!(s.contains(">1.0 · 13<"), "{s}");
        assert!(s.contains("no connections"));
        // The widest bar spans the plot, 960 - 110 - 70 = 780 units for 51
        // connections: TLS 1.0 is 13/51 of it, `none` ends at 110 + 780.
        assert!(s.contains(">51<"));
        assert!(s.contains("width=\"198.82\""));
        assert!(s.contains("x=\"844.12\" y=\"8\" width=\"45.88\""), "{s}");
        assert!(s.contains("role=\"img\""));
        assert!(s.contains("Teams: no connections"));
    }

    #[test]
    fn hostile_names_are_text() {
        let evil = "<script>alert(1)</script>\"'&";
        let s = top_servers_chart(&[(evil.into(), 3)]).into_string();
        assert!(!s.contains("<script>"), "{s}");
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;'&amp;"));
        let s = versions_chart(&[svc(evil, [1, 0, 0, 0, 0, 0, 0, 0])]).into_string();
        assert!(!s.contains("<script>"));
    }

    #[test]
    fn timeline_axis_and_gaps() {
        let h = HOUR;
        let series = vec![(0, 10, 4), (h, 0, 0), (2 * h, 7, 0)];
        let s = timeline_chart(h, &series).into_string();
        assert!(s.contains("per hour"));
        assert!(s.contains("1970-01-01 00:00 UTC: 4 of 10 connections below TLS 1.2"));
        assert!(s.contains("1970-01-01 01:00 UTC: 0 of 0"));
        // Axis ticks 0, 2, ... 10.
        assert_eq!(s.matches("class=\"grid\"").count(), 6);
        assert!(s.contains(">10</text>"));
        let empty = timeline_chart(MINUTE, &[]).into_string();
        assert!(empty.contains("No connection below TLS 1.2 among 0"));
    }

    #[test]
    fn helpers() {
        assert_eq!(nice_step(51, 4), 20);
        assert_eq!(nice_step(3, 4), 1);
        assert_eq!(nice_step(1000, 4), 500);
        assert_eq!(n(1.0), "1");
        assert_eq!(n(2.345), "2.35");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(bucket_name(3 * DAY), "per 3 days");
        assert_eq!(bucket_label(DAY + HOUR, HOUR), "1970-01-02 01:00");
        assert_eq!(bucket_label(DAY + HOUR, DAY), "1970-01-02");
        assert_eq!(
            bucket_label(DAY + 5 * SECOND, SECOND),
            "1970-01-02 00:00:05"
        );
        assert_eq!(axis_label(DAY + 2 * HOUR, HOUR, DAY), "02:00");
        assert_eq!(axis_label(DAY, HOUR, DAY), "1970-01-02 00:00");
        assert_eq!(axis_label(2 * DAY, HOUR, DAY), "1970-01-03 00:00");
    }
}
