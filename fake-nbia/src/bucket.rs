//! [`FakeBucket`]: the fake IDC bucket server (S3 or GCS XML API, on its own thread and tokio
//! runtime) serving the generated IDC objects and index artifacts, with the public re-exports of
//! its configuration, data and fault types.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::Router;

pub use crate::idc::{
    collection_id, gcs_bucket, BucketConfig, IdcCollection, IdcData, IdcLicense, IdcObject,
    IdcProvenance, IdcSeries, IdcSource, ARTIFACTS_BUCKET, AWS_BUCKETS,
};
pub use crate::idcfile::{sha256_hex, ColKind, IDC_INDEX_COLUMNS};
pub use crate::s3::{BucketFault, BucketFaultAction, BucketRequest};

use crate::idc::Generator;
use crate::s3::BucketState;

/// A running fake bucket. Dropping it shuts it down.
pub struct FakeBucket {
    state: Arc<BucketState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeBucket {
    /// Start on 127.0.0.1 with an ephemeral port and [`BucketConfig::default`].
    pub fn start() -> FakeBucket {
        FakeBucket::start_with(BucketConfig::default())
    }

    /// Start on 127.0.0.1 with an ephemeral port. Returns once the socket is listening.
    pub fn start_with(cfg: BucketConfig) -> FakeBucket {
        FakeBucket::bind("127.0.0.1", 0, cfg).expect("fake-bucket: cannot bind 127.0.0.1:0")
    }

    /// Start on a given host and port (0 = ephemeral).
    pub fn bind(host: &str, port: u16, cfg: BucketConfig) -> std::io::Result<FakeBucket> {
        let listener = std::net::TcpListener::bind((host, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(BucketState::new(Generator::new(cfg), addr));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name("fake-bucket".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake-bucket: tokio runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("fake-bucket: listener");
                    let router = Router::new().fallback(crate::s3::handle).with_state(st);
                    tokio::select! {
                        _ = axum::serve(listener, router) => {}
                        _ = rx => {}
                    }
                });
                rt.shutdown_background();
            })?;
        Ok(FakeBucket {
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The endpoint, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.state.addr)
    }

    /// `<url>/idc-index-data-artifacts/current/release_artifacts/`
    pub fn index_url(&self) -> String {
        format!(
            "{}/{ARTIFACTS_BUCKET}/current/release_artifacts/",
            self.url()
        )
    }

    /// A snapshot of what the bucket serves (never changes; call again after a revision).
    pub fn data(&self) -> Arc<IdcData> {
        self.state.data()
    }

    /// The current `idc_index.parquet` and `collections_index.parquet` bytes.
    pub fn index_files(&self) -> (Vec<u8>, Vec<u8>) {
        let (a, b) = self.state.index_files();
        (a.to_vec(), b.to_vec())
    }

    /// Write idc_index.parquet and collections_index.parquet (and, when sidecars are on, their
    /// `.sha256` files) into `dir` (created if missing). Panics on I/O errors.
    pub fn write_index(&self, dir: &Path) {
        std::fs::create_dir_all(dir).expect("write_index: create dir");
        let (idc, coll) = self.state.index_files();
        for (name, bytes) in [
            ("idc_index.parquet", idc),
            ("collections_index.parquet", coll),
        ] {
            std::fs::write(dir.join(name), &bytes).expect("write_index: write");
            if self.state.gen.cfg.sidecars {
                std::fs::write(
                    dir.join(format!("{name}.sha256")),
                    crate::idcfile::sidecar(&bytes, name),
                )
                .expect("write_index: write sidecar");
            }
        }
    }

    /// Publish a new revision of a series: new crdc_series_uuid (returned),
    /// series_revised_idc_version + 1, one more instance; a new index version (new ETag and
    /// sha256) becomes `current`; the old objects stay in the bucket. Panics for an unknown series.
    pub fn revise_series(&self, series_uid: &str) -> String {
        self.state
            .revise(series_uid)
            .unwrap_or_else(|e| panic!("revise_series: {e}"))
    }

    /// Add a fault rule (checked in insertion order, first match wins).
    pub fn inject(&self, f: BucketFault) {
        self.state.inject(f);
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        self.state.clear_faults();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<BucketRequest> {
        self.state.requests()
    }

    /// Requests of a kind (`ListObjectsV2`, `GetObject`, `HeadObject`, `Other`), or else whose
    /// `METHOD path?query` contains `what`.
    pub fn hits(&self, what: &str) -> usize {
        let kinds = ["ListObjectsV2", "GetObject", "HeadObject", "Other"];
        self.requests()
            .iter()
            .filter(|r| {
                if kinds.contains(&what) {
                    r.kind == what
                } else {
                    format!("{} {}?{}", r.method, r.path, r.query).contains(what)
                }
            })
            .count()
    }

    /// Block the current thread until the server stops (used by the binary).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FakeBucket {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
