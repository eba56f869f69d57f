//! The clients table of the HTML report: the clients CSV's columns and
//! cells, worst first, at most [`ROW_LIMIT`] rows with a note when cut.
//! Static HTML; the page's script adds sorting and filtering.

use std::collections::BTreeSet;

use maud::{Markup, html};

use super::report_data::{ClientTable, ROW_LIMIT, VERDICTS};

/// How a column sorts in the page: `num`, `rank` (verdicts, versions) or
/// `text`; and the class of its cells: `mono` (a monospace font) for
/// fingerprints, `mono ip` (kept on one line, also in print) for addresses.
fn column_kind(name: &str, t: &ClientTable, col: usize) -> (&'static str, Option<&'static str>) {
    let mono = match name {
        "client_ip" => Some("mono ip"),
        "ja4" | "ja3" | "client_addresses" => Some("mono"),
        _ => None,
    };
    if name == "verdict"
        || name.ends_with("_version") && name != "other_version"
        || name == "client_max_offered"
    {
        return ("rank", mono);
    }
    let numeric = !t.rows.is_empty()
        && t.rows.iter().all(|r| {
            r.get(col)
                .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
        });
    (if numeric { "num" } else { "text" }, mono)
}

/// Thousands separated by a comma: `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The table section's content: truncation note, controls (hidden until
/// the script shows them), the table.
pub fn clients_table(t: &ClientTable, clients_csv: Option<&str>) -> Markup {
    let col = |name: &str| t.header.iter().position(|h| h == name);
    let verdict_col = col("verdict");
    let service_col = col("service");
    let kinds: Vec<(&str, Option<&str>)> = t
        .header
        .iter()
        .enumerate()
        .map(|(i, h)| column_kind(h, t, i))
        .collect();
    let services: BTreeSet<&str> = t
        .rows
        .iter()
        .filter_map(|r| r.get(service_col?).map(String::as_str))
        .collect();
    let cell = |r: &[String], c: Option<usize>| -> String {
        c.and_then(|c| r.get(c)).cloned().unwrap_or_default()
    };
    let shown = t.rows.len() as u64;
    html! {
        @if shown < t.total_rows {
            p.note role="note" {
                "The table shows the first " (thousands(shown)) " of " (thousands(t.total_rows))
                " rows, worst first (at most " (thousands(ROW_LIMIT as u64)) " are shown to keep the page light). "
                @match clients_csv {
                    Some(p) => { "The clients CSV, " code { (p) } ", has every row." },
                    None => { "Write every row with " code { "--clients FILE" } "." },
                }
            }
        }
        div.controls #controls hidden {
            label { "Search" input #f-text type="search" placeholder="address, name, fingerprint…" aria-controls="clients-table"; }
            label { "Verdict"
                select #f-verdict aria-controls="clients-table" {
                    option value="" { "all" }
                    @for v in VERDICTS { option value=(v) { (v) } }
                }
            }
            label { "Service"
                select #f-service aria-controls="clients-table" {
                    option value="" { "all" }
                    // (No service: `-`, as "all" is the empty value.)
                    @for s in &services { @if s.is_empty() { option value="-" { "(none)" } } @else { option value=(s) { (s) } } }
                }
            }
            output #f-shown aria-live="polite" {}
        }
        div.tablewrap {
            table.clients #clients-table data-rows=(shown) data-total-rows=(t.total_rows) {
                caption.visually-hidden {
                    "Clients: one row per client, service and server name, worst verdict first"
                }
                thead {
                    tr {
                        @for (i, h) in t.header.iter().enumerate() {
                            @let (kind, _) = kinds.get(i).copied().unwrap_or(("text", None));
                            th scope="col" data-type=(kind) class=[(kind == "num").then_some("num")] {
                                // Narrow columns (print) break after underscores only.
                                @for (j, part) in h.split('_').enumerate() {
                                    @if j > 0 { "_" wbr; }
                                    (part)
                                }
                            }
                        }
                    }
                }
                tbody {
                    @for r in &t.rows {
                        @let v = cell(r, verdict_col);
                        tr class=(v) data-verdict=(v) data-service=(cell(r, service_col)) {
                            @for (i, c) in r.iter().enumerate() {
                                @let (kind, class) = kinds.get(i).copied().unwrap_or(("text", None));
                                @if Some(i) == verdict_col {
                                    td { span class={"badge " (c)} { (c) } }
                                } @else {
                                    td class=[(kind == "num").then_some("num").or(class)] { (c) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: usize, total: u64) -> ClientTable {
        ClientTable {
            header: vec![
                "client_ip".into(),
                "service".into(),
                "verdict".into(),
                "connections".into(),
                "lowest_version".into(),
            ],
            rows: (0..rows)
                .map(|i| {
                    vec![
                        format!("10.0.{}.{}", i / 256, i % 256),
                        "Exchange".into(),
                        if i % 2 == 0 { "will-break" } else { "ready" }.into(),
                        i.to_string(),
                        "TLS1.0".into(),
                    ]
                })
                .collect(),
            total_rows: total,
            rows_per_verdict: [0; 3],
        }
    }

    #[test]
    fn kinds_and_rows() {
        let s = clients_table(&table(3, 3), Some("c.csv")).into_string();
        assert_eq!(s.matches("<tr class=").count(), 3);
        assert!(s.contains("data-type=\"num\" class=\"num\">connections<"));
        assert!(s.contains("data-type=\"rank\">verdict<"));
        assert!(s.contains("data-type=\"rank\">lowest_<wbr>version<"));
        assert!(s.contains("<td class=\"mono ip\">10.0.0.2</td>"));
        assert!(s.contains("<span class=\"badge will-break\">will-break</span>"));
        assert!(
            !s.contains("first 3"),
            "no truncation note when every row is shown"
        );
        // Controls are hidden until the script shows them.
        assert!(s.contains("id=\"controls\" hidden"));
    }

    #[test]
    fn truncation_note_names_the_csv() {
        let s = clients_table(&table(5, 12345), Some("out/clients.csv")).into_string();
        assert!(s.contains("first 5 of 12,345 rows"), "{s}");
        assert!(s.contains("<code>out/clients.csv</code>, has every row"));
        let s = clients_table(&table(5, 12345), None).into_string();
        assert!(s.contains("<code>--clients FILE</code>"));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
