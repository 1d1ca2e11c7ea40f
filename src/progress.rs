//! What the user sees while downloading: the engine's [`Reporter`] as bars (indicatif) on a
//! terminal, plain lines otherwise, and always one summary line.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::download::report::Reporter;
use crate::printer::Printer;
use crate::text::{escape_control, human_bytes};

/// Bars when stderr is a terminal (and neither `--quiet` nor `-v`), lines otherwise.
pub fn reporter(printer: &Printer) -> Arc<dyn Reporter> {
    if printer.stderr_tty && !printer.quiet && printer.verbose == 0 {
        Arc::new(BarReporter::new(printer.clone()))
    } else {
        Arc::new(LineReporter::new(printer.clone()))
    }
}

/// Lines for logs and cron: one per finished or failed series.
pub struct LineReporter {
    printer: Printer,
}

impl LineReporter {
    pub fn new(printer: Printer) -> Self {
        LineReporter { printer }
    }
}

impl Reporter for LineReporter {
    fn begin(&self, series: usize, bytes: u64) {
        self.printer.debug(
            1,
            &format!("downloading {series} series ({})", human_bytes(bytes)),
        );
    }
    fn series_start(&self, uid: &str, _bytes: Option<u64>) {
        self.printer.debug(1, &format!("start {uid}"));
    }
    fn progress(&self, _uid: &str, _bytes: u64) {}
    fn series_retry(&self, uid: &str, attempt: u32, why: &str) {
        self.printer
            .warn(&format!("retry {attempt} of {uid}: {why}"));
    }
    fn series_done(&self, uid: &str, files: usize, bytes: u64, path: &str) {
        self.printer.info(&format!(
            "done {uid}: {files} file{}, {} -> {path}",
            if files == 1 { "" } else { "s" },
            human_bytes(bytes)
        ));
    }
    fn series_failed(&self, uid: &str, why: &str) {
        eprintln!("tcia: failed {uid}: {}", escape_control(why));
    }
    fn summary(&self, line: &str) {
        eprintln!("tcia: {line}");
    }
}

/// Bars on a terminal: one overall bar and one line per active series.
pub struct BarReporter {
    printer: Printer,
    multi: MultiProgress,
    overall: ProgressBar,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl BarReporter {
    pub fn new(printer: Printer) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        BarReporter {
            printer,
            multi,
            overall,
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bars(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Reporter for BarReporter {
    fn begin(&self, series: usize, bytes: u64) {
        self.overall.set_length(bytes);
        self.overall.set_prefix(format!("0/{series} series"));
        self.overall.reset_eta();
    }
    fn series_start(&self, uid: &str, bytes: Option<u64>) {
        let pb = self.multi.add(ProgressBar::new(bytes.unwrap_or(0)));
        pb.set_style(
            ProgressStyle::with_template("  {msg} {binary_bytes}/{binary_total_bytes}")
                .expect("valid template"),
        );
        let short: String = uid
            .chars()
            .rev()
            .take(24)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        pb.set_message(format!("…{short}"));
        self.bars().insert(uid.to_string(), pb);
    }
    fn progress(&self, uid: &str, bytes: u64) {
        if let Some(pb) = self.bars().get(uid) {
            pb.inc(bytes);
        }
        self.overall.inc(bytes);
    }
    fn series_retry(&self, uid: &str, attempt: u32, why: &str) {
        if let Some(pb) = self.bars().get(uid) {
            self.overall
                .set_position(self.overall.position().saturating_sub(pb.position()));
            pb.set_position(0);
        }
        let _ = self.multi.println(format!(
            "{} retry {attempt} of {uid}: {}",
            self.printer.warning_prefix(),
            escape_control(why)
        ));
    }
    fn series_done(&self, uid: &str, _files: usize, _bytes: u64, _path: &str) {
        if let Some(pb) = self.bars().remove(uid) {
            pb.finish_and_clear();
            self.multi.remove(&pb);
        }
        let prefix = self.overall.prefix();
        if let Some((done, total)) = prefix.split_once('/') {
            if let Ok(n) = done.parse::<usize>() {
                self.overall.set_prefix(format!("{}/{total}", n + 1));
            }
        }
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
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
        eprintln!("tcia: {line}");
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

    pub fn finish(&self) {
        if let Some(pb) = &self.bar {
            pb.finish_and_clear();
        }
    }
}
