//! The engine's one window on the user: it calls a [`Reporter`] as series start, progress,
//! retry, finish or fail. `progress` draws it; tests may count it.

pub trait Reporter: Send + Sync {
    /// Before the first series: how much there is to do.
    fn begin(&self, series: usize, bytes: u64);
    /// A series starts; `label` names it for people (Collection/PatientID/Modality, or "").
    fn series_start(&self, uid: &str, label: &str, bytes: Option<u64>);
    /// Uncompressed bytes written for a series.
    fn progress(&self, uid: &str, bytes: u64);
    /// A retry of a series is starting: its progress goes back to zero.
    fn series_retry(&self, uid: &str, attempt: u32, why: &str);
    fn series_done(&self, uid: &str, files: usize, bytes: u64, path: &str);
    fn series_failed(&self, uid: &str, why: &str);
    /// Shown even with `--quiet`.
    fn summary(&self, line: &str);
}
