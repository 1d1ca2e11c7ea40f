//! What the user sees while downloading: the engine's [`Reporter`] as bars (indicatif) on a
//! terminal that can draw them, plain lines otherwise (with a heartbeat line every
//! `--heartbeat`), and always one summary line naming the directory. Both keep a [`Standing`]
//! of the run, which [`interrupted_note`] reads when Ctrl-C ends it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::download::report::Reporter;
use crate::env::Env;
use crate::printer::Printer;
use crate::text::{escape_control, human_bytes};

/// What the reporter knows beyond the engine's calls.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// Where the series go (named by the summary).
    pub dir: String,
    /// Series already complete, not in this run, and their bytes.
    pub skipped: usize,
    pub skipped_bytes: u64,
    /// Off a terminal: a progress line this often (None: never).
    pub heartbeat: Option<Duration>,
}

/// Where a run stands: what Ctrl-C reports, and what the heartbeat prints.
#[derive(Debug)]
pub struct Standing {
    started: Instant,
    skipped: usize,
    skipped_bytes: u64,
    series: usize,
    done: usize,
    done_bytes: u64,
    total_bytes: u64,
    bytes_now: u64,
    /// Bytes of `bytes_now` by series not yet done, taken back when a series is retried.
    in_flight: HashMap<String, u64>,
}

impl Standing {
    fn new(view: &View) -> Standing {
        Standing {
            started: Instant::now(),
            skipped: view.skipped,
            skipped_bytes: view.skipped_bytes,
            series: 0,
            done: 0,
            done_bytes: 0,
            total_bytes: 0,
            bytes_now: 0,
            in_flight: HashMap::new(),
        }
    }

    /// `12/31 series, 3.1/48.0 GiB, 85.0 MiB/s, ETA 9m` (this run's series only).
    pub fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.bytes_now as f64 / secs;
        let mut s = format!(
            "{}/{} series, {}",
            self.done,
            self.series,
            bytes_pair(self.bytes_now, self.total_bytes)
        );
        let _ = write!(s, ", {}/s", human_bytes(rate as u64));
        if rate > 0.0 && self.total_bytes > self.bytes_now {
            let left = (self.total_bytes - self.bytes_now) as f64 / rate;
            let _ = write!(s, ", ETA {}", eta(Duration::from_secs_f64(left)));
        }
        s
    }

    /// `12 of 31 series complete (61 MiB); run the same command again to resume`, counting
    /// the series that were complete before the run.
    fn interrupted(&self) -> String {
        format!(
            "{} of {} series complete ({}); run the same command again to resume",
            self.skipped + self.done,
            self.skipped + self.series,
            human_bytes(self.skipped_bytes + self.done_bytes)
        )
    }
}

/// The run in progress, if any (one per process).
static CURRENT: Mutex<Option<Arc<Mutex<Standing>>>> = Mutex::new(None);

/// What to say when Ctrl-C ends a download or sync: where it stands, and how to resume.
pub fn interrupted_note() -> Option<String> {
    let cur = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    cur.as_ref()
        .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).interrupted())
}

fn standing(view: &View) -> Arc<Mutex<Standing>> {
    let s = Arc::new(Mutex::new(Standing::new(view)));
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(s.clone());
    s
}

/// The run is over: an interrupt now has no standing to report.
fn forget_standing() {
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

fn lock(s: &Mutex<Standing>) -> MutexGuard<'_, Standing> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// `3.1/48.0 GiB`: both in the unit of the total, one decimal.
pub fn bytes_pair(now: u64, total: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut scale = 1f64;
    while unit + 1 < UNITS.len() && total.max(now) as f64 >= scale * 1024.0 {
        unit += 1;
        scale *= 1024.0;
    }
    if unit == 0 {
        return format!("{now}/{total} B");
    }
    format!(
        "{:.1}/{:.1} {}",
        now as f64 / scale,
        total as f64 / scale,
        UNITS[unit]
    )
}

/// `40s`, `9m`, `1h05m`.
fn eta(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s.div_ceil(60)),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Bars when stderr is a terminal that can draw them (and neither `--quiet` nor `-v`), lines
/// otherwise.
pub fn reporter(printer: &Printer, env: &Env, view: View) -> Arc<dyn Reporter> {
    if printer.stderr_tty && !env.term_dumb && !printer.quiet && printer.verbose == 0 {
        Arc::new(BarReporter::new(printer.clone(), env.clone(), view))
    } else {
        Arc::new(LineReporter::new(printer.clone(), view))
    }
}

/// Lines for logs and cron: one per finished or failed series, and a heartbeat.
pub struct LineReporter {
    printer: Printer,
    view: View,
    standing: Arc<Mutex<Standing>>,
    beat: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LineReporter {
    pub fn new(printer: Printer, view: View) -> Self {
        LineReporter {
            printer,
            standing: standing(&view),
            view,
            beat: Mutex::new(None),
        }
    }

    /// Every `--heartbeat`, the standing as one line (unless `--quiet`).
    fn start_heartbeat(&self) {
        let (Some(every), false) = (self.view.heartbeat, self.printer.quiet) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let standing = self.standing.clone();
        let task = rt.spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                eprintln!("tcia: {}", lock(&standing).line());
            }
        });
        *self.beat.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    fn stop_heartbeat(&self) {
        if let Some(t) = self.beat.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }
}

impl Drop for LineReporter {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

impl Reporter for LineReporter {
    fn begin(&self, series: usize, bytes: u64) {
        {
            let mut s = lock(&self.standing);
            s.series = series;
            s.total_bytes = bytes;
        }
        self.printer.debug(
            1,
            &format!("downloading {series} series ({})", human_bytes(bytes)),
        );
        self.start_heartbeat();
    }
    fn series_start(&self, uid: &str, _label: &str, _bytes: Option<u64>) {
        self.printer.debug(1, &format!("start {uid}"));
    }
    fn progress(&self, uid: &str, bytes: u64) {
        let mut s = lock(&self.standing);
        s.bytes_now += bytes;
        match s.in_flight.get_mut(uid) {
            Some(n) => *n += bytes,
            None => {
                s.in_flight.insert(uid.to_string(), bytes);
            }
        }
    }
    fn series_retry(&self, uid: &str, attempt: u32, why: &str) {
        // The retry starts the series again: what its failed attempt wrote no longer counts.
        {
            let mut s = lock(&self.standing);
            let n = s.in_flight.remove(uid).unwrap_or(0);
            s.bytes_now = s.bytes_now.saturating_sub(n);
        }
        self.printer
            .warn(&format!("retry {attempt} of {uid}: {why}"));
    }
    fn series_done(&self, uid: &str, files: usize, bytes: u64, path: &str) {
        {
            let mut s = lock(&self.standing);
            s.done += 1;
            s.done_bytes += bytes;
            s.in_flight.remove(uid);
        }
        self.printer.info(&format!(
            "done {uid}: {files} file{}, {} -> {path}",
            if files == 1 { "" } else { "s" },
            human_bytes(bytes)
        ));
    }
    fn series_failed(&self, uid: &str, why: &str) {
        lock(&self.standing).in_flight.remove(uid);
        eprintln!("tcia: failed {uid}: {}", escape_control(why));
    }
    fn summary(&self, line: &str) {
        self.stop_heartbeat();
        forget_standing();
        eprintln!("tcia: {line} -> {}", self.view.dir);
    }
}

/// How much room the fixed parts of the lines get: full, without the rate, without the bar.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fit {
    Wide,
    Medium,
    Narrow,
}

impl Fit {
    fn for_width(w: usize) -> Fit {
        match w {
            72.. => Fit::Wide,
            48..72 => Fit::Medium,
            _ => Fit::Narrow,
        }
    }

    fn overall(self) -> ProgressStyle {
        let t = match self {
            Fit::Wide => "{prefix:.bold} [{wide_bar}] {pair} {rate} ETA {left}",
            Fit::Medium => "{prefix:.bold} [{wide_bar}] {pair} ETA {left}",
            Fit::Narrow => "{prefix:.bold} {pair} {left}",
        };
        keyed(ProgressStyle::with_template(t).expect("valid template")).progress_chars("=> ")
    }

    fn series(self) -> ProgressStyle {
        let t = match self {
            Fit::Narrow => "  {wide_msg} {percent:>3}%",
            _ => "  {wide_msg} {percent:>3}% {pair}",
        };
        keyed(ProgressStyle::with_template(t).expect("valid template"))
    }
}

/// The template keys of our own: `{pair}` (3.1/48.0 GiB), `{rate}`, `{left}` (the ETA).
fn keyed(style: ProgressStyle) -> ProgressStyle {
    style
        .with_key("pair", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&bytes_pair(s.pos(), s.len().unwrap_or(0)));
        })
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", human_bytes(s.per_sec() as u64));
        })
        .with_key("left", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&eta(s.eta()));
        })
}

/// Bars on a terminal: one overall bar and one line per active series, fitted to the
/// terminal's width and restyled when it changes (looked at a few times a second, also while
/// no bytes arrive).
pub struct BarReporter {
    printer: Printer,
    view: View,
    standing: Arc<Mutex<Standing>>,
    multi: MultiProgress,
    shared: Arc<Shared>,
    ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the ticker redraws with the reporter.
struct Shared {
    env: Env,
    overall: ProgressBar,
    bars: Mutex<HashMap<String, ProgressBar>>,
    fit: Mutex<Fit>,
}

impl Shared {
    fn bars(&self) -> MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fit(&self) -> Fit {
        *self.fit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Restyle every line when the terminal's width changed its fit; redraw.
    fn refit(&self) {
        let now = Fit::for_width(self.env.stderr_width_now().unwrap_or(80));
        let mut fit = self.fit.lock().unwrap_or_else(|e| e.into_inner());
        if now != *fit {
            *fit = now;
            self.overall.set_style(now.overall());
            for pb in self.bars().values() {
                pb.set_style(now.series());
            }
        }
        drop(fit);
        self.overall.tick();
    }
}

impl BarReporter {
    pub fn new(printer: Printer, env: Env, view: View) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        // Drawn from `begin` on, when it knows what it counts.
        let overall = ProgressBar::hidden();
        let fit = Fit::for_width(env.stderr_width_now().unwrap_or(80));
        overall.set_style(fit.overall());
        BarReporter {
            printer,
            standing: standing(&view),
            view,
            multi,
            shared: Arc::new(Shared {
                env,
                overall,
                bars: Mutex::new(HashMap::new()),
                fit: Mutex::new(fit),
            }),
            ticker: Mutex::new(None),
        }
    }

    fn bars(&self) -> MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.shared.bars()
    }

    fn overall(&self) -> &ProgressBar {
        &self.shared.overall
    }

    /// Four times a second: follow the terminal's width, and keep the ETA moving.
    fn start_ticker(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = self.shared.clone();
        let task = rt.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                shared.refit();
            }
        });
        *self.ticker.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    fn stop_ticker(&self) {
        if let Some(t) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }

    fn count_prefix(&self) {
        let s = lock(&self.standing);
        self.overall()
            .set_prefix(format!("{}/{} series", s.done, s.series));
    }
}

impl Drop for BarReporter {
    fn drop(&mut self) {
        self.stop_ticker();
    }
}

impl Reporter for BarReporter {
    fn begin(&self, series: usize, bytes: u64) {
        {
            let mut s = lock(&self.standing);
            s.series = series;
            s.total_bytes = bytes;
        }
        self.overall().set_length(bytes);
        self.count_prefix();
        self.overall().reset_eta();
        self.multi.insert(0, self.overall().clone());
        self.start_ticker();
    }
    fn series_start(&self, uid: &str, label: &str, bytes: Option<u64>) {
        let pb = self.multi.add(ProgressBar::new(bytes.unwrap_or(0)));
        pb.set_style(self.shared.fit().series());
        pb.set_message(bar_label(uid, label));
        self.bars().insert(uid.to_string(), pb);
    }
    fn progress(&self, uid: &str, bytes: u64) {
        lock(&self.standing).bytes_now += bytes;
        if let Some(pb) = self.bars().get(uid) {
            pb.inc(bytes);
        }
        self.overall().inc(bytes);
    }
    fn series_retry(&self, uid: &str, attempt: u32, why: &str) {
        if let Some(pb) = self.bars().get(uid) {
            let overall = self.overall();
            overall.set_position(overall.position().saturating_sub(pb.position()));
            let mut s = lock(&self.standing);
            s.bytes_now = s.bytes_now.saturating_sub(pb.position());
            pb.set_position(0);
        }
        let _ = self.multi.println(format!(
            "{} retry {attempt} of {uid}: {}",
            self.printer.warning_prefix(),
            escape_control(why)
        ));
    }
    fn series_done(&self, uid: &str, _files: usize, bytes: u64, _path: &str) {
        if let Some(pb) = self.bars().remove(uid) {
            pb.finish_and_clear();
            self.multi.remove(&pb);
        }
        {
            let mut s = lock(&self.standing);
            s.done += 1;
            s.done_bytes += bytes;
        }
        self.count_prefix();
    }
    fn series_failed(&self, uid: &str, why: &str) {
        if let Some(pb) = self.bars().remove(uid) {
            pb.finish_and_clear();
            self.multi.remove(&pb);
        }
        let _ = self
            .multi
            .println(format!("tcia: failed {uid}: {}", escape_control(why)));
    }
    fn summary(&self, line: &str) {
        self.stop_ticker();
        self.overall().finish_and_clear();
        let _ = self.multi.clear();
        forget_standing();
        eprintln!("tcia: {line} -> {}", self.view.dir);
    }
}

/// The columns of [`Recorder::rows`].
pub const RESULT_COLUMNS: [&str; 7] = [
    "uid", "status", "path", "files", "bytes", "seconds", "error",
];

/// A [`Reporter`] that passes everything on and keeps one result per series (for `--format`):
/// downloaded (path, files, bytes, seconds) or failed (error).
pub struct Recorder {
    inner: Arc<dyn Reporter>,
    root: std::path::PathBuf,
    started: Mutex<HashMap<String, Instant>>,
    rows: Mutex<Vec<serde_json::Map<String, serde_json::Value>>>,
}

impl Recorder {
    pub fn new(inner: Arc<dyn Reporter>, root: &std::path::Path) -> Recorder {
        Recorder {
            inner,
            root: root.to_path_buf(),
            started: Mutex::new(HashMap::new()),
            rows: Mutex::new(Vec::new()),
        }
    }

    /// The results so far, in the order the series finished.
    pub fn rows(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn seconds(&self, uid: &str) -> serde_json::Value {
        let started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        started.get(uid).map_or(serde_json::Value::Null, |t| {
            let s = (t.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
            serde_json::json!(s)
        })
    }

    fn push(&self, row: serde_json::Value) {
        if let serde_json::Value::Object(m) = row {
            self.rows.lock().unwrap_or_else(|e| e.into_inner()).push(m);
        }
    }
}

impl Reporter for Recorder {
    fn begin(&self, series: usize, bytes: u64) {
        self.inner.begin(series, bytes);
    }
    fn series_start(&self, uid: &str, label: &str, bytes: Option<u64>) {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.to_string(), Instant::now());
        self.inner.series_start(uid, label, bytes);
    }
    fn progress(&self, uid: &str, bytes: u64) {
        self.inner.progress(uid, bytes);
    }
    fn series_retry(&self, uid: &str, attempt: u32, why: &str) {
        self.inner.series_retry(uid, attempt, why);
    }
    fn series_done(&self, uid: &str, files: usize, bytes: u64, path: &str) {
        self.push(serde_json::json!({
            "uid": uid, "status": "downloaded",
            "path": self.root.join(path).display().to_string(),
            "files": files, "bytes": bytes, "seconds": self.seconds(uid), "error": null,
        }));
        self.inner.series_done(uid, files, bytes, path);
    }
    fn series_failed(&self, uid: &str, why: &str) {
        self.push(serde_json::json!({
            "uid": uid, "status": "failed", "path": null, "files": null, "bytes": null,
            "seconds": self.seconds(uid), "error": why,
        }));
        self.inner.series_failed(uid, why);
    }
    fn summary(&self, line: &str) {
        self.inner.summary(line);
    }
}

/// A running count for long jobs that are not downloads (`tcia index update`): a spinner with
/// the count on a terminal, a plain line per report otherwise.
pub struct Counter {
    printer: Printer,
    what: &'static str,
    bar: Option<ProgressBar>,
    started: std::time::Instant,
}

/// A [`Counter`] for `what`.
pub fn counter(printer: &Printer, what: &'static str) -> Counter {
    let bar = (printer.stderr_tty && !printer.quiet).then(|| {
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
                .expect("valid template"),
        );
        pb.set_prefix(what);
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    });
    Counter {
        printer: printer.clone(),
        what,
        bar,
        started: std::time::Instant::now(),
    }
}

impl Counter {
    /// `rows` rows of `table` so far.
    pub fn set(&self, table: &str, rows: u64) {
        match &self.bar {
            Some(pb) => pb.set_message(format!("{table}: {rows} rows")),
            None => self.printer.info(&format!(
                "{}: {table}: {rows} rows ({})",
                self.what,
                crate::text::human_duration(self.started.elapsed())
            )),
        }
    }

    /// `bytes` of `file` transferred so far.
    pub fn bytes(&self, file: &str, bytes: u64) {
        let got = crate::text::human_bytes(bytes);
        match &self.bar {
            Some(pb) => pb.set_message(format!("{file}: {got}")),
            None => self.printer.info(&format!(
                "{}: {file}: {got} ({})",
                self.what,
                crate::text::human_duration(self.started.elapsed())
            )),
        }
    }

    pub fn finish(&self) {
        if let Some(pb) = &self.bar {
            pb.finish_and_clear();
        }
    }
}

/// A bar's name: the series' label (Collection/PatientID/Modality), or the UID's tail.
fn bar_label(uid: &str, label: &str) -> String {
    if label.is_empty() {
        let tail: Vec<char> = uid.chars().rev().take(24).collect();
        format!("…{}", tail.into_iter().rev().collect::<String>())
    } else {
        escape_control(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_numbers() {
        assert_eq!(bytes_pair(3_328_599_654, 51_539_607_552), "3.1/48.0 GiB");
        assert_eq!(bytes_pair(10, 900), "10/900 B");
        assert_eq!(eta(Duration::from_secs(540)), "9m");
        assert_eq!(eta(Duration::from_secs(3900)), "1h05m");
        assert_eq!(eta(Duration::from_secs(7)), "7s");
    }

    #[test]
    fn a_retried_series_counts_its_bytes_once() {
        let printer = Printer {
            quiet: true,
            verbose: 0,
            stderr_tty: false,
            stdout_tty: false,
            color: false,
        };
        let view = View {
            dir: "out".into(),
            skipped: 0,
            skipped_bytes: 0,
            heartbeat: None,
        };
        let r = LineReporter::new(printer, view);
        r.begin(2, 900);
        r.progress("a", 300);
        r.progress("b", 100);
        r.progress("a", 100);
        r.series_retry("a", 1, "dropped");
        assert!(lock(&r.standing)
            .line()
            .starts_with("0/2 series, 100/900 B"));
        r.progress("a", 500);
        r.series_done("a", 1, 500, "a");
        r.progress("b", 300);
        r.series_failed("b", "gone");
        let line = lock(&r.standing).line();
        assert!(line.starts_with("1/2 series, 900/900 B"), "{line}");
        assert!(lock(&r.standing).in_flight.is_empty());
    }
}
