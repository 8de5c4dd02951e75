//! Results: their summaries, the printed tables, the target checks, and the
//! report in `docs/benchmarks/` (README with tables, one SVG per workload,
//! and the raw samples as CSV).

use crate::names;
use crate::sys::Machine;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lib {
    Zap,
    Rayon,
    Tokio,
    Chili,
    Forte,
    /// Not a pool: the sequential run (and the derived ideal).
    Baseline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Seconds.
    Time,
    Bytes,
    Count,
}

pub struct Metric {
    pub label: &'static str,
    pub unit: Unit,
}

/// The most metrics a workload has.
pub const MAX_METRICS: usize = 3;

/// What one run of a contender measured: one value per metric of its
/// workload, in the metric's unit. A fixed array, not a `Vec`: making a
/// sample must not allocate, or the counted runs would count it.
pub struct Sample {
    pub values: [f64; MAX_METRICS],
    /// The user + system CPU time of the whole process over the timed
    /// region, in seconds (NaN where not measured).
    pub cpu: f64,
    pub note: Option<String>,
}

impl Sample {
    pub fn new(values: &[f64]) -> Self {
        let mut all = [f64::NAN; MAX_METRICS];
        all[..values.len()].copy_from_slice(values);
        Sample {
            values: all,
            cpu: f64::NAN,
            note: None,
        }
    }

    /// With the process CPU time of the timed region.
    pub fn with_cpu(mut self, cpu: Duration) -> Self {
        self.cpu = cpu.as_secs_f64();
        self
    }
}

/// One contender at one thread count.
pub struct Row {
    pub threads: usize,
    pub contender: &'static str,
    pub lib: Lib,
    /// One per round.
    pub samples: Vec<[f64; MAX_METRICS]>,
    /// The process CPU time of each round, in seconds (NaN if not measured).
    pub cpu: Vec<f64>,
    /// Heap allocations in the counted run, and the items of that run.
    pub allocations: Option<(u64, u64)>,
    pub notes: Vec<String>,
}

impl Row {
    pub fn new(threads: usize, contender: &'static str, lib: Lib) -> Self {
        Row {
            threads,
            contender,
            lib,
            samples: Vec::new(),
            cpu: Vec::new(),
            allocations: None,
            notes: Vec::new(),
        }
    }

    pub fn push(&mut self, sample: Sample) {
        if let Some(note) = sample.note
            && !self.notes.contains(&note)
        {
            self.notes.push(note);
        }
        self.samples.push(sample.values);
        self.cpu.push(sample.cpu);
    }

    fn values(&self, metric: usize) -> Vec<f64> {
        let mut values: Vec<f64> = self.samples.iter().map(|s| s[metric]).collect();
        values.sort_by(f64::total_cmp);
        values
    }

    pub fn median(&self, metric: usize) -> f64 {
        median_of(self.values(metric))
    }

    /// The median process CPU time over the rounds (NaN if not measured).
    pub fn cpu_median(&self) -> f64 {
        let mut values = self.cpu.clone();
        values.sort_by(f64::total_cmp);
        median_of(values)
    }

    pub fn allocs_per_item(&self) -> Option<f64> {
        self.allocations
            .map(|(allocations, items)| allocations as f64 / items.max(1) as f64)
    }

    pub fn min(&self, metric: usize) -> f64 {
        self.values(metric).first().copied().unwrap_or(f64::NAN)
    }
}

/// The median of sorted values (NaN for none).
fn median_of(v: Vec<f64>) -> f64 {
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One workload's description and results.
pub struct Section {
    pub key: &'static str,
    pub title: String,
    /// Markdown: what is measured, and how.
    pub about: String,
    /// The first one is the headline: plotted, compared, and given a min.
    pub metrics: Vec<Metric>,
    /// What one unit of work is called, and how many a run has.
    pub item: Option<(&'static str, u64)>,
    /// A contender to give every row's ratio to.
    pub baseline: Option<&'static str>,
    /// Whether to add "ideal" = baseline / threads.
    pub ideal: bool,
    /// Whether to give each row's time per item minus the baseline's.
    pub overhead: bool,
    pub min_threads: usize,
    pub rounds: usize,
    pub rows: Vec<Row>,
    /// Thread counts that were below `min_threads`.
    pub skipped: Vec<usize>,
}

impl Section {
    pub fn new(key: &'static str, rounds: usize) -> Self {
        Section {
            key,
            title: key.to_string(),
            about: String::new(),
            metrics: Vec::new(),
            item: None,
            baseline: None,
            ideal: false,
            overhead: false,
            min_threads: 1,
            rounds,
            rows: Vec::new(),
            skipped: Vec::new(),
        }
    }

    fn thread_counts(&self) -> Vec<usize> {
        let mut counts: Vec<usize> = self.rows.iter().map(|r| r.threads).collect();
        counts.sort_unstable();
        counts.dedup();
        counts
    }

    fn row(&self, contender: &str, threads: usize) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.contender == contender && r.threads == threads)
    }

    fn median(&self, contender: &str, threads: usize) -> Option<f64> {
        self.row(contender, threads).map(|r| r.median(0))
    }

    /// The best headline median among the forms of libraries other than
    /// `lib` (and not the baseline), at `threads`.
    fn best_peer(&self, lib: Lib, threads: usize) -> Option<f64> {
        self.rows
            .iter()
            .filter(|r| r.threads == threads && r.lib != lib && r.lib != Lib::Baseline)
            .map(|r| r.median(0))
            .min_by(f64::total_cmp)
    }

    /// The contenders, in order of first appearance.
    fn contenders(&self) -> Vec<(&'static str, Lib)> {
        let mut list: Vec<(&'static str, Lib)> = Vec::new();
        for r in &self.rows {
            if !list.iter().any(|(name, _)| *name == r.contender) {
                list.push((r.contender, r.lib));
            }
        }
        list
    }
}

// ---------------------------------------------------------------------------
// Formatting.

pub fn format_value(value: f64, unit: Unit) -> String {
    if value.is_nan() {
        return "n/a".into();
    }
    if value < 0.0 {
        return format!("-{}", format_value(-value, unit));
    }
    match unit {
        Unit::Time if value == 0.0 => "0".into(),
        Unit::Time if value >= 1.0 => format!("{value:.3} s"),
        Unit::Time if value >= 1e-3 => format!("{:.2} ms", value * 1e3),
        Unit::Time if value >= 1e-6 => format!("{:.1} µs", value * 1e6),
        // Times per item can be a few nanoseconds: keep their digits.
        Unit::Time if value >= 1e-7 => format!("{:.0} ns", value * 1e9),
        Unit::Time if value >= 1e-8 => format!("{:.1} ns", value * 1e9),
        Unit::Time => format!("{:.2} ns", value * 1e9),
        Unit::Bytes => format!("{:.1} MiB", value / f64::from(1 << 20)),
        Unit::Count if value.fract() != 0.0 && value.abs() < 10.0 => format!("{value:.2}"),
        Unit::Count => format!("{value:.0}"),
    }
}

fn ratio(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.2}x")
    } else {
        "n/a".into()
    }
}

/// A ratio for a target check: three decimals, so that a miss by a hair
/// does not print as the goal itself.
fn ratio3(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.3}x")
    } else {
        "n/a".into()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

struct Table {
    header: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

/// The table of `section`, for one thread count or all of them.
fn table(section: &Section, only: Option<usize>) -> Table {
    let first = &section.metrics[0];
    let mut header = vec![
        "threads".to_string(),
        "contender".to_string(),
        format!("{} median", first.label),
        format!("{} min", first.label),
    ];
    for m in &section.metrics[1..] {
        header.push(format!("{} median", m.label));
    }
    let cpu = section
        .rows
        .iter()
        .any(|r| r.cpu.iter().any(|c| !c.is_nan()));
    if cpu {
        header.push("CPU median".into());
    }
    let per_item = match section.item {
        Some((name, count)) if first.unit == Unit::Time => Some((name, count)),
        _ => None,
    };
    if let Some((name, _)) = per_item {
        header.push(format!("time/{name}"));
        if cpu {
            header.push(format!("CPU/{name}"));
        }
    }
    let overhead = match (per_item, section.baseline) {
        (Some((name, _)), Some(baseline)) if section.overhead => {
            header.push(format!("overhead/{name}"));
            Some(baseline)
        }
        _ => None,
    };
    let allocs = section.rows.iter().any(|r| r.allocations.is_some());
    if let (true, Some((name, _))) = (allocs, section.item) {
        header.push(format!("allocs/{name}"));
    }
    header.push("vs best peer".into());
    if let Some(baseline) = section.baseline {
        header.push(format!("vs {baseline}"));
    }
    header.push("notes".into());
    let mut align = vec![Align::Right; header.len()];
    align[1] = Align::Left;
    *align.last_mut().expect("a header") = Align::Left;

    let mut rows = Vec::new();
    for threads in section.thread_counts() {
        if only.is_some_and(|t| t != threads) {
            continue;
        }
        let baseline = section.baseline.and_then(|b| section.median(b, threads));
        for r in section.rows.iter().filter(|r| r.threads == threads) {
            let median = r.median(0);
            let mut cells = vec![
                threads.to_string(),
                r.contender.to_string(),
                format_value(median, first.unit),
                format_value(r.min(0), first.unit),
            ];
            for (i, m) in section.metrics.iter().enumerate().skip(1) {
                cells.push(format_value(r.median(i), m.unit));
            }
            if cpu {
                cells.push(format_value(r.cpu_median(), Unit::Time));
            }
            if let Some((_, count)) = per_item {
                cells.push(format_value(median / count as f64, Unit::Time));
                if cpu {
                    cells.push(format_value(r.cpu_median() / count as f64, Unit::Time));
                }
                if let Some(name) = overhead {
                    cells.push(match baseline {
                        Some(b) if r.contender != name => {
                            format_value((median - b) / count as f64, Unit::Time)
                        }
                        _ => String::new(),
                    });
                }
            }
            if allocs {
                cells.push(
                    r.allocs_per_item()
                        .map_or(String::new(), |a| format!("{a:.2}")),
                );
            }
            cells.push(match (r.lib, section.best_peer(r.lib, threads)) {
                (Lib::Baseline, _) | (_, None) => String::new(),
                (_, Some(best)) => ratio(median / best),
            });
            if section.baseline.is_some() {
                cells.push(baseline.map_or(String::new(), |b| ratio(median / b)));
            }
            cells.push(r.notes.join("; "));
            rows.push(cells);

            if section.ideal && Some(r.contender) == section.baseline {
                let mut ideal = vec![
                    threads.to_string(),
                    "ideal".to_string(),
                    format_value(median / threads as f64, first.unit),
                ];
                ideal.resize(header.len(), String::new());
                let at = header.len() - 2;
                ideal[at] = ratio(1.0 / threads as f64);
                ideal[header.len() - 1] = "sequential / threads".into();
                rows.push(ideal);
            }
        }
    }
    Table {
        header,
        align,
        rows,
    }
}

/// The table of `section` at `threads`, aligned for a terminal.
pub fn text_table(section: &Section, threads: usize) -> String {
    let t = table(section, Some(threads));
    let mut widths: Vec<usize> = t.header.iter().map(|h| h.chars().count()).collect();
    for row in &t.rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for ((cell, w), a) in cells.iter().zip(&widths).zip(&t.align) {
            let pad = w - cell.chars().count();
            match a {
                Align::Left => {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                }
                Align::Right => {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
            }
            out.push_str("  ");
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = format!(
        "== {} ({} threads, {} rounds)\n",
        section.title, threads, section.rounds
    );
    out.push_str(&line(&t.header));
    for row in &t.rows {
        out.push_str(&line(row));
    }
    out
}

fn markdown_table(section: &Section) -> String {
    let t = table(section, None);
    let mut out = format!("| {} |\n|", t.header.join(" | "));
    for a in &t.align {
        out.push_str(match a {
            Align::Left => " --- |",
            Align::Right => " ---: |",
        });
    }
    out.push('\n');
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

// ---------------------------------------------------------------------------
// Targets: the performance goals, checked against the measured medians at
// the largest thread count of each workload, or at the one a goal names.

pub struct Target {
    pub what: String,
    pub goal: String,
    pub measured: String,
    pub met: Option<bool>,
}

fn find<'a>(sections: &'a [Section], key: &str) -> Option<(&'a Section, usize)> {
    let s = sections.iter().find(|s| s.key == key)?;
    Some((s, *s.thread_counts().last()?))
}

pub fn targets(sections: &[Section]) -> Vec<Target> {
    let mut out = Vec::new();
    let mut push = |what: String, goal: &str, measured: String, met: Option<bool>| {
        out.push(Target {
            what,
            goal: goal.to_string(),
            measured,
            met,
        });
    };

    if let Some((s, t)) = find(sections, "quicksort") {
        let best_zap = s
            .rows
            .iter()
            .filter(|r| r.threads == t && r.lib == Lib::Zap)
            .map(|r| (r.median(0), r.contender))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let (Some((zap, form)), Some(rayon)) = (best_zap, s.median(names::RAYON_JOIN, t)) {
            let r = zap / rayon;
            push(
                format!("quicksort, {t} threads: best zap form / rayon join"),
                "≤ 1.00x",
                format!("{} ({form})", ratio3(r)),
                Some(r <= 1.0),
            );
        }
        if let (Some(zap), Some(rayon)) = (
            s.median(names::ZAP_SPAWN, t),
            s.median(names::RAYON_SCOPE, t),
        ) {
            let r = zap / rayon;
            push(
                format!("quicksort, {t} threads: zap spawn / rayon scope"),
                "≤ 1.00x",
                ratio3(r),
                Some(r <= 1.0),
            );
        }
        if let (Some(zap), Some(seq), true) = (
            s.median(names::ZAP_JOIN, t),
            s.median(names::SEQUENTIAL, t),
            t == 2,
        ) {
            let r = zap / seq;
            push(
                format!("quicksort, {t} threads: zap join / sequential"),
                "≤ 0.55x",
                ratio3(r),
                Some(r <= 0.55),
            );
        }
        if let Some(seq) = s.median(names::SEQUENTIAL, t) {
            let forms: Vec<String> = s
                .rows
                .iter()
                .filter(|r| r.threads == t && r.lib != Lib::Baseline)
                .map(|r| format!("{} {}", r.contender, ratio(r.median(0) / seq)))
                .collect();
            push(
                format!("quicksort, {t} threads: each form / sequential (for reference)"),
                &format!("ideal {}", ratio(1.0 / t as f64)),
                forms.join(", "),
                None,
            );
        }
        if let Some(seq) = s.row(names::SEQUENTIAL, 2).map(Row::cpu_median) {
            // The best form, as for the time above: the others add work
            // of their own (allocations, futures) that one thread pays too.
            let best = s
                .rows
                .iter()
                .filter(|r| r.threads == 2 && r.lib == Lib::Zap)
                .map(|r| (r.cpu_median() / seq, r.contender))
                .min_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((r, form)) = best {
                push(
                    "quicksort CPU time, 2 threads: best zap form / sequential".into(),
                    "≤ 1.05x",
                    format!("{} ({form})", ratio3(r)),
                    Some(r <= 1.05),
                );
            }
            let forms: Vec<String> = s
                .rows
                .iter()
                .filter(|r| r.threads == 2 && r.lib != Lib::Baseline)
                .map(|r| format!("{} {}", r.contender, ratio(r.cpu_median() / seq)))
                .collect();
            push(
                "quicksort CPU time, 2 threads: each form / sequential (for reference)".into(),
                "for reference",
                forms.join(", "),
                None,
            );
        }
    }

    if let Some((s, t)) = find(sections, "spawn_many") {
        let peers = [names::RAYON_SPAWN, names::TOKIO_SPAWN]
            .iter()
            .filter_map(|p| s.median(p, t))
            .min_by(f64::total_cmp);
        for form in [names::ZAP_SPAWN, names::ZAP_BATCH] {
            if let (Some(zap), Some(peer)) = (s.median(form, t), peers) {
                let r = peer / zap;
                push(
                    format!("spawn_many, {t} threads: {form} throughput / faster peer's"),
                    "≥ 1.50x",
                    ratio3(r),
                    Some(r >= 1.5),
                );
            }
        }
        for (form, per_task) in [(names::ZAP_BATCH, 0), (names::ZAP_SPAWN, 1)] {
            if let Some((allocations, tasks)) = s.row(form, t).and_then(|r| r.allocations) {
                push(
                    format!("spawn_many: heap allocations per task, {form}"),
                    if per_task == 0 { "0" } else { "≤ 1" },
                    format!(
                        "{:.3} ({} in {} tasks)",
                        allocations as f64 / tasks as f64,
                        crate::group(allocations),
                        crate::group(tasks)
                    ),
                    Some(allocations <= per_task * tasks),
                );
            }
        }
    }

    if let Some((s, t)) = find(sections, "chained_spawn") {
        let peers = [names::RAYON_SPAWN, names::TOKIO_SPAWN]
            .iter()
            .filter_map(|p| s.median(p, t))
            .min_by(f64::total_cmp);
        for form in [names::ZAP_SPAWN, names::ZAP_RAW] {
            if let (Some(zap), Some(peer)) = (s.median(form, t), peers) {
                let r = zap / peer;
                push(
                    format!("chained_spawn, {t} threads: {form} / faster peer"),
                    "≤ 1.00x",
                    ratio3(r),
                    Some(r <= 1.0),
                );
            }
        }
        if let Some((allocations, tasks)) = s.row(names::ZAP_RAW, t).and_then(|r| r.allocations) {
            push(
                "chained_spawn: heap allocations per task, zap raw".into(),
                "0",
                format!(
                    "{:.3} ({} in {} tasks)",
                    allocations as f64 / tasks as f64,
                    crate::group(allocations),
                    crate::group(tasks)
                ),
                Some(allocations == 0),
            );
        }
    }

    if let Some((s, t)) = find(sections, "fanout")
        && let (Some(zap), Some(rayon)) =
            (s.median(names::ZAP_JOIN, t), s.median(names::RAYON_JOIN, t))
    {
        let r = zap / rayon;
        push(
            format!("fanout, {t} threads: zap join / rayon join"),
            "≤ 1.20x",
            ratio3(r),
            Some(r <= 1.2),
        );
    }

    // The heartbeat schedulers' fork cost: zap join against chili, at
    // every thread count of the run.
    for key in ["fanout", "tree_sum_small", "tree_sum_large"] {
        if let Some(s) = sections.iter().find(|s| s.key == key) {
            for t in s.thread_counts() {
                for form in [names::ZAP_JOIN, names::ZAP_JOIN_LAZY] {
                    if let (Some(zap), Some(chili)) = (s.median(form, t), s.median(names::CHILI, t))
                    {
                        let r = zap / chili;
                        push(
                            format!("{key}, {t} threads: {form} / chili"),
                            "≤ 1.00x",
                            ratio3(r),
                            Some(r <= 1.0),
                        );
                    }
                }
            }
        }
    }

    for key in ["trickle_1ms", "trickle_100us"] {
        if let Some((s, t)) = find(sections, key)
            && let Some(zap) = s.median(names::ZAP_SPAWN, t)
        {
            for (peer, goal, most) in [
                (names::TOKIO_SPAWN, "≤ 1.00x", 1.0),
                (names::RAYON_SPAWN, "≤ 0.25x", 0.25),
            ] {
                if let Some(other) = s.median(peer, t) {
                    let what = format!("{key}, {t} threads: zap spawn CPU/task / {peer}'s");
                    let values = format!(
                        "{} against {}",
                        format_value(zap, Unit::Time),
                        format_value(other, Unit::Time)
                    );
                    // Net of the baseline, a CPU time can come out at or
                    // below zero on a noisy machine: no ratio then.
                    if other > 0.0 {
                        let r = zap / other;
                        push(
                            what,
                            goal,
                            format!("{} ({values})", ratio3(r)),
                            Some(r <= most),
                        );
                    } else {
                        push(what, goal, format!("no ratio ({values})"), None);
                    }
                }
            }
        }
    }

    if let Some((s, t)) = find(sections, "idle")
        && let Some(r) = s.row(names::ZAP, t)
    {
        let cpu = r.median(0);
        push(
            format!("idle, {t} threads: zap threads' CPU time in the window"),
            "0",
            format!(
                "{} (max {}), {} switches",
                format_value(cpu, Unit::Time),
                format_value(r.values(0).last().copied().unwrap_or(f64::NAN), Unit::Time),
                format_value(r.median(1), Unit::Count)
            ),
            Some(cpu == 0.0),
        );
    }

    if let Some((s, t)) = find(sections, "memory") {
        if let Some(seq) = s.median(names::SEQUENTIAL, t) {
            let worst = s
                .rows
                .iter()
                .filter(|r| r.threads == t && r.lib == Lib::Zap)
                .map(|r| (r.median(0) / seq, r.contender))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((r, form)) = worst {
                push(
                    format!("quicksort peak RSS, {t} threads: worst zap form / sequential"),
                    "≤ 1.05x",
                    format!("{} ({form})", ratio3(r)),
                    Some(r <= 1.05),
                );
            }
        }
        if let Some(r) = s.row(names::ZAP_RAW, t) {
            push(
                "quicksort, zap raw: heap allocations per task (the form allocates a job \
                 per split; the pool adds none)"
                    .into(),
                "for reference",
                format!("{:.3}", r.median(1)),
                None,
            );
        }
    }
    out
}

pub fn targets_text(targets: &[Target]) -> String {
    let mut out = String::new();
    for t in targets {
        let verdict = match t.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "-",
        };
        let _ = writeln!(
            out,
            "  [{verdict:>6}] {}: {} (goal {})",
            t.what, t.measured, t.goal
        );
    }
    out
}

// ---------------------------------------------------------------------------
// SVG plots, drawn by hand: the headline median against the thread count,
// one line per contender.

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 560.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 360.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round step for about five ticks up to `max`.
fn tick_step(max: f64) -> f64 {
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalized = raw / magnitude;
    let nice = if normalized <= 1.0 {
        1.0
    } else if normalized <= 2.0 {
        2.0
    } else if normalized <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// The scale and name of the y axis's unit, for values up to `max`.
fn axis_unit(unit: Unit, max: f64) -> (f64, &'static str) {
    match unit {
        Unit::Time if max >= 1.0 => (1.0, "s"),
        Unit::Time if max >= 1e-3 => (1e3, "ms"),
        Unit::Time if max >= 1e-6 => (1e6, "µs"),
        Unit::Time => (1e9, "ns"),
        Unit::Bytes => (1.0 / f64::from(1 << 20), "MiB"),
        Unit::Count => (1.0, ""),
    }
}

fn style(lib: Lib, index: usize) -> (&'static str, &'static str) {
    const ZAP: [&str; 4] = ["#1d4ed8", "#0891b2", "#059669", "#4f46e5"];
    const RAYON: [&str; 3] = ["#ea580c", "#d97706", "#b91c1c"];
    const TOKIO: [&str; 2] = ["#9333ea", "#db2777"];
    const CHILI: [&str; 1] = ["#65a30d"];
    const FORTE: [&str; 1] = ["#0f766e"];
    const BASE: [&str; 2] = ["#525252", "#a3a3a3"];
    match lib {
        Lib::Zap => (ZAP[index % ZAP.len()], ""),
        Lib::Rayon => (RAYON[index % RAYON.len()], "8 4"),
        Lib::Tokio => (TOKIO[index % TOKIO.len()], "3 3"),
        Lib::Chili => (CHILI[index % CHILI.len()], "6 2 2 2"),
        Lib::Forte => (FORTE[index % FORTE.len()], "12 3"),
        Lib::Baseline => (BASE[index % BASE.len()], "1 4"),
    }
}

/// The y axis of a plot, in the plot's unit.
enum Axis {
    /// From 0 to `top`, a tick every `step`.
    Linear { top: f64, step: f64 },
    /// From 10^low to 10^high; used when the values span a wide range.
    Log { low: i32, high: i32 },
}

impl Axis {
    /// Where `value` sits between the bottom (0) and the top (1).
    fn position(&self, value: f64) -> f64 {
        match *self {
            Axis::Linear { top, .. } => value / top,
            Axis::Log { low, high } => {
                (value.log10() - f64::from(low)) / f64::from((high - low).max(1))
            }
        }
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        let label = |v: f64, step: f64| {
            if step < 1.0 {
                format!("{v:.*}", (-step.log10().floor()) as usize)
            } else {
                format!("{v:.0}")
            }
        };
        match *self {
            Axis::Linear { top, step } => {
                let count = (top / step).round() as usize;
                (0..=count)
                    .map(|i| {
                        let v = i as f64 * step;
                        (v, label(v, step))
                    })
                    .collect()
            }
            Axis::Log { low, high } => {
                let mut ticks = Vec::new();
                for e in low..=high {
                    let decade = 10f64.powi(e);
                    let multiples: &[f64] = if high - low <= 2 {
                        &[1.0, 2.0, 5.0]
                    } else {
                        &[1.0]
                    };
                    for &m in multiples {
                        if e == high && m > 1.0 {
                            break;
                        }
                        ticks.push((m * decade, label(m * decade, decade)));
                    }
                }
                ticks
            }
        }
    }
}

/// A plotted line: its name, its library, and (threads, median) points.
type Series = (String, Lib, Vec<(usize, f64)>);

pub fn svg(section: &Section) -> Option<String> {
    let threads = section.thread_counts();
    if threads.is_empty() {
        return None;
    }
    let metric = &section.metrics[0];
    // Series: (name, lib, points), in order of first appearance; the ideal
    // line follows the baseline's.
    let mut series: Vec<Series> = Vec::new();
    for (name, lib) in section.contenders() {
        let points: Vec<(usize, f64)> = threads
            .iter()
            .filter_map(|&t| Some((t, section.median(name, t)?)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        series.push((name.to_string(), lib, points.clone()));
        if section.ideal && Some(name) == section.baseline {
            let ideal = points.iter().map(|&(t, v)| (t, v / t as f64)).collect();
            series.push(("ideal".into(), Lib::Baseline, ideal));
        }
    }
    let values: Vec<f64> = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|&(_, v)| v))
        .collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let (scale, unit_name) = axis_unit(metric.unit, max);
    let axis = if min > 0.0 && max / min > 20.0 {
        Axis::Log {
            low: (min * scale).log10().floor() as i32,
            high: (max * scale).log10().ceil() as i32,
        }
    } else {
        let scaled_max = if max > 0.0 { max * scale } else { 1.0 };
        let step = tick_step(scaled_max * 1.05);
        Axis::Linear {
            top: (scaled_max * 1.05 / step).ceil() * step,
            step,
        }
    };

    let (t_min, t_max) = (
        threads[0] as f64,
        *threads.last().expect("non-empty") as f64,
    );
    let x = |t: usize| {
        if t_max > t_min {
            LEFT + 30.0 + (t as f64 - t_min) / (t_max - t_min) * (RIGHT - LEFT - 60.0)
        } else {
            (LEFT + RIGHT) / 2.0
        }
    };
    let y = |v: f64| BOTTOM - axis.position(v * scale) * (BOTTOM - TOP);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>"
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"28\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        LEFT,
        escape(&section.title)
    );
    // Horizontal grid and y ticks.
    for (value, label) in axis.ticks() {
        let py = BOTTOM - axis.position(value) * (BOTTOM - TOP);
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{RIGHT}\" y2=\"{py:.1}\" stroke=\"#e5e5e5\"/>"
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            LEFT - 8.0,
            py + 4.0
        );
    }
    // Axes.
    let _ = writeln!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{BOTTOM}\" x2=\"{RIGHT}\" y2=\"{BOTTOM}\" stroke=\"black\"/>"
    );
    let _ = writeln!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{BOTTOM}\" stroke=\"black\"/>"
    );
    for &t in &threads {
        let px = x(t);
        let _ = writeln!(
            out,
            "<line x1=\"{px:.1}\" y1=\"{BOTTOM}\" x2=\"{px:.1}\" y2=\"{}\" stroke=\"black\"/>",
            BOTTOM + 5.0
        );
        let _ = writeln!(
            out,
            "<text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{t}</text>",
            BOTTOM + 20.0
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">threads</text>",
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 42.0
    );
    let log_note = if matches!(axis, Axis::Log { .. }) {
        ", log scale"
    } else {
        ""
    };
    let y_label = if unit_name.is_empty() {
        format!("{} (median{log_note})", metric.label)
    } else {
        format!("{} (median, {unit_name}{log_note})", metric.label)
    };
    let _ = writeln!(
        out,
        "<text transform=\"translate(22 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        (TOP + BOTTOM) / 2.0,
        escape(&y_label)
    );
    // Lines, markers and the legend.
    let mut per_lib = [0usize; 6];
    for (i, (name, lib, points)) in series.iter().enumerate() {
        let slot = &mut per_lib[*lib as usize];
        let (color, dash) = style(*lib, *slot);
        *slot += 1;
        let dash_attr = if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        };
        if points.len() > 1 {
            let path: Vec<String> = points
                .iter()
                .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
                .collect();
            let _ = writeln!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash_attr}/>",
                path.join(" ")
            );
        }
        for &(t, v) in points {
            let _ = writeln!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"><title>{} at {t} threads: {}</title></circle>",
                x(t),
                y(v),
                escape(name),
                escape(&format_value(v, metric.unit))
            );
        }
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{ly:.1}\" x2=\"{}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"2\"{dash_attr}/>",
            RIGHT + 20.0,
            RIGHT + 50.0
        );
        let _ = writeln!(
            out,
            "<circle cx=\"{}\" cy=\"{ly:.1}\" r=\"3.5\" fill=\"{color}\"/>",
            RIGHT + 35.0
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\">{}</text>",
            RIGHT + 58.0,
            ly + 4.0,
            escape(name)
        );
    }
    out.push_str("</svg>\n");
    Some(out)
}

// ---------------------------------------------------------------------------
// The report on disk.

pub struct Context {
    pub machine: Machine,
    pub command: String,
    pub quick: bool,
    pub rounds: usize,
    pub threads: Vec<usize>,
    pub minutes: f64,
    /// Load averages at the start and at the end of the run.
    pub load: (String, String),
}

/// Writes `README.md`, one SVG per workload and `samples.csv` into `dir`;
/// returns the files written.
pub fn write(
    dir: &Path,
    sections: &[Section],
    targets: &[Target],
    context: &Context,
) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let m = &context.machine;
    let mut md = String::new();
    md.push_str("# Benchmarks: zap-pool, rayon, tokio, chili and forte\n\n");
    md.push_str(
        "Written by `benches/pools.rs` (`cargo bench -p zap-pool-bench --bench pools`); rerun it \
         rather than edit this file. The numbers are only as good as the quiet of the \
         machine they ran on.\n\n",
    );
    if context.quick {
        md.push_str(
            "> **Smoke test (`--quick`): every size is shrunk. These numbers only show \
             that the harness runs; they are not results.**\n\n",
        );
    }
    md.push_str("## How it was run\n\n| | |\n| --- | --- |\n");
    let threads: Vec<String> = context.threads.iter().map(ToString::to_string).collect();
    let facts = [
        ("command", format!("`{}`", context.command)),
        ("date", m.date.clone()),
        ("commit", m.commit.clone()),
        ("CPU", m.cpu.clone()),
        ("logical CPUs (`/proc/cpuinfo`)", m.logical_cpus.to_string()),
        ("`nproc`", m.nproc.clone()),
        ("memory", m.memory.clone()),
        ("kernel", m.kernel.clone()),
        ("rustc", m.rustc.clone()),
        ("profile", "`bench` (release, debug = 1)".into()),
        ("threads", threads.join(", ")),
        (
            "rounds",
            format!(
                "{} per workload (memory: 1), after one untimed warm-up run of each contender",
                context.rounds
            ),
        ),
        ("run time", format!("{:.1} min", context.minutes)),
        (
            "load average (1, 5, 15 min)",
            format!(
                "{} at the start, {} at the end",
                context.load.0, context.load.1
            ),
        ),
    ];
    for (key, value) in facts {
        let _ = writeln!(md, "| {key} | {} |", value.replace('|', "\\|"));
    }
    md.push_str(
        "\nWithin a round every contender of a workload runs once, in turn (A B C A B \
         C ...), so that a slow spell of the machine hits all of them. Each workload \
         gets fresh pools of the given thread count: zap-pool with `max_threads(n)`, \
         rayon with `num_threads(n)`, tokio's multi-thread runtime with \
         `worker_threads(n)`; the thread that starts the work only waits (chili, in \
         tree_sum and fanout, and forte, in tree_sum, work on it: see tree_sum). \
         Tables give \
         the median and the minimum over the rounds, and *CPU*: the user + system \
         CPU time of the whole process (every pool thread and the caller) over the \
         same timed region, from `getrusage(RUSAGE_SELF)`, median over the rounds. \
         For the same work, CPU time beyond the sequential run's is overhead: \
         scheduling, and threads that spin while they look for work. *vs best peer* divides \
         a form's median by the best median of the other libraries' forms at the \
         same thread count: below 1.00x it beat all of them.\n\n",
    );
    if !targets.is_empty() {
        md.push_str(
            "## Targets\n\nThe performance goals, at the largest thread count of the \
             run unless the line names another.\n\n| what | goal | measured | met |\n\
             | --- | --- | --- | --- |\n",
        );
        for t in targets {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(md, "| {} | {} | {} | {met} |", t.what, t.goal, t.measured);
        }
        md.push('\n');
    }
    for section in sections {
        let _ = writeln!(md, "## {}\n\n{}\n", section.title, section.about);
        if !section.skipped.is_empty() {
            let skipped: Vec<String> = section.skipped.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                md,
                "Not run at {} thread(s): it needs at least {}.\n",
                skipped.join(", "),
                section.min_threads
            );
        }
        if section.rows.is_empty() {
            continue;
        }
        if let Some(svg) = svg(section) {
            let file = dir.join(format!("{}.svg", section.key));
            fs::write(&file, svg)?;
            written.push(file);
            let _ = writeln!(md, "![{}]({}.svg)\n", section.key, section.key);
        }
        md.push_str(&markdown_table(section));
        md.push('\n');
    }
    let readme = dir.join("README.md");
    fs::write(&readme, md)?;
    written.push(readme);

    let mut csv = String::from("workload,threads,contender,metric,round,value\n");
    for section in sections {
        for r in &section.rows {
            for (round, (sample, cpu)) in r.samples.iter().zip(&r.cpu).enumerate() {
                let cpu = (!cpu.is_nan()).then_some(("CPU", cpu));
                let metrics = section.metrics.iter().map(|m| m.label).zip(sample);
                for (label, value) in metrics.chain(cpu) {
                    let _ = writeln!(
                        csv,
                        "{},{},{},{label},{},{value}",
                        section.key,
                        r.threads,
                        r.contender,
                        round + 1
                    );
                }
            }
            if let Some(a) = r.allocs_per_item() {
                let _ = writeln!(
                    csv,
                    "{},{},{},allocs per {},0,{a}",
                    section.key,
                    r.threads,
                    r.contender,
                    section.item.map_or("item", |(name, _)| name)
                );
            }
        }
    }
    let samples = dir.join("samples.csv");
    fs::write(&samples, csv)?;
    written.push(samples);
    Ok(written)
}
