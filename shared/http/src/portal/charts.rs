//! The health charts of an endpoint (and of the whole service): deliveries
//! by hour — succeeded, and failed (given up on) — and, apart, the attempts
//! that made them, so an endpoint whose every delivery succeeded after a
//! retry reads as healthy deliveries with some failed attempts, not as a
//! failure rate. Bars in an SVG, with the axes' labels in HTML around it.

use maud::{Markup, html};

use hookline::api::stats::Stats;
use hookline::ports::HourCount;

/// One bar: what its hour (or day) is called in full and under the axis,
/// and its two parts.
struct Bar {
    label: String,
    tick: String,
    ok: u64,
    ko: u64,
}

/// Bars: the failed part stacked on the succeeded one; each bar
/// says its numbers on hover and to a screen reader, the caption the totals.
/// Under the bars, every `every`-th bar's label.
fn chart(title: &str, bars: &[Bar], every: usize) -> Markup {
    const W: u64 = 10;
    let (ok_word, ko_word) = ("succeeded", "failed");
    let top = bars.iter().map(|b| b.ok + b.ko).max().unwrap_or(0).max(1);
    let (ok, ko) = bars.iter().fold((0, 0), |a, b| (a.0 + b.ok, a.1 + b.ko));
    let rate = match ok + ko {
        0 => String::new(),
        all => format!(" ({:.1} % {ko_word})", 100.0 * ko as f64 / all as f64),
    };
    let height = |n: u64| 60.0 * n as f64 / top as f64;
    let caption = format!("{title}: {ok} {ok_word}, {ko} {ko_word}{rate}");
    html! {
        figure {
            figcaption { (caption) }
            div.plot {
                div.y aria-hidden="true" { span { (top) } span { "0" } }
                svg.chart role="img" aria-label=(caption) viewBox={ "0 0 " (W * bars.len() as u64) " 60" } preserveAspectRatio="none" {
                    @for (i, b) in bars.iter().enumerate() {
                        @let x = W * i as u64;
                        g {
                            title { (b.label) ": " (b.ok) " " (ok_word) ", " (b.ko) " " (ko_word) }
                            rect.ok x=(x + 1) y=(format!("{:.2}", 60.0 - height(b.ok))) width=(W - 2) height=(format!("{:.2}", height(b.ok))) {}
                            rect.ko x=(x + 1) y=(format!("{:.2}", 60.0 - height(b.ok) - height(b.ko))) width=(W - 2) height=(format!("{:.2}", height(b.ko))) {}
                        }
                    }
                }
            }
            div.x aria-hidden="true" style={ "grid-template-columns:repeat(" (bars.len().max(1)) ",1fr)" } {
                @for (i, b) in bars.iter().enumerate() {
                    span { @if i % every == 0 { (b.tick) } }
                }
            }
            ul.legend aria-hidden="true" {
                li { span.key.ok {} (ok_word) } li { span.key.ko {} (ko_word) }
            }
        }
    }
}

/// The last 24 hours hour by hour and the last 7 days day by day, of
/// deliveries, and the last 24 hours of attempts, from 7 days of hourly
/// stats.
pub(super) fn charts(stats: &Stats) -> Markup {
    let hours = &stats.hours;
    let day = &hours[hours.len().saturating_sub(24)..];
    let hourly = |pick: fn(&HourCount) -> (u64, u64)| -> Vec<Bar> {
        day.iter()
            .map(|h| {
                let (ok, ko) = pick(h);
                let label = h.hour.format("%a %d %b, %H:00 UTC").to_string();
                Bar { label, tick: h.hour.format("%H:00").to_string(), ok, ko }
            })
            .collect()
    };
    let deliveries = |h: &HourCount| (h.succeeded, h.gave_up);
    let attempts = |h: &HourCount| (h.succeeded, h.failed);
    let week: Vec<Bar> = hours
        .chunks(24)
        .map(|c| {
            let (ok, ko) = c.iter().fold((0, 0), |a, h| (a.0 + h.succeeded, a.1 + h.gave_up));
            let label = format!("24 hours from {}", c[0].hour.format("%a %d %b, %H:00 UTC"));
            Bar { label, tick: c[0].hour.format("%a").to_string(), ok, ko }
        })
        .collect();
    html! {
        div.charts {
            (chart("Deliveries, last 24 hours", &hourly(deliveries), 6))
            (chart("Deliveries, last 7 days", &week, 1))
            (chart("Attempts, last 24 hours", &hourly(attempts), 6))
        }
        p { small { "A delivery succeeds with its first successful attempt, and fails when it is given up on (its retries run out, or the failure is not worth retrying); its failed attempts before that are retries. Times in UTC." } }
    }
}
