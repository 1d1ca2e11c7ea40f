//! fake-nbia: an in-process (or standalone) fake of The Cancer Imaging Archive's NBIA REST API.
//!
//! Start one with [`FakeServer::start`], point a client at [`FakeServer::url`], compute expectations
//! from [`FakeServer::data`], and inject failures with [`FakeServer::inject`].
//!
//! The crate root holds the public API only: [`Config`], [`FakeServer`] (a server on its own
//! thread and tokio runtime) and re-exports of the data set, fault, request log and time types.
//! The private modules are layered without import cycles (see "Source layout" in README.md):
//! `handler` → `control` / `routes` → `extra` → `search` / `zip` → `request` → `images` → `data` → `hash`,
//! and for the fake IDC bucket ([`FakeBucket`]) `bucket` → `s3` → `idcfile` → `idc` → `images`.

mod app;
mod auth;
mod bucket;
mod control;
mod data;
mod extra;
mod faults;
mod handler;
mod hash;
mod idc;
mod idcfile;
mod images;
pub mod reference;
mod render;
mod request;
mod routes;
mod rows;
mod s3;
mod search;
mod time;
mod zip;

use std::sync::Arc;
use std::thread::JoinHandle;

use axum::Router;

use app::App;

pub use app::RequestRecord;
pub use auth::LEGACY_API_KEY;
pub use bucket::{
    collection_id, gcs_bucket, sha256_hex, BucketConfig, BucketFault, BucketFaultAction,
    BucketRequest, ColKind, FakeBucket, IdcCollection, IdcData, IdcLicense, IdcObject,
    IdcProvenance, IdcSeries, IdcSource, ARTIFACTS_BUCKET, AWS_BUCKETS, IDC_INDEX_COLUMNS,
};
pub use data::{
    CollectionInfo, Dataset, Patient, Series, Study, BULK_COLLECTION, BULK_SERIES_PER_STUDY,
    BULK_STUDIES_PER_PATIENT, RESTRICTED_COLLECTION,
};
pub use faults::{Fault, FaultAction};
pub use time::Timestamp;

/// Server configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of series in the lazily generated Bulk-Synthetic collection (0 = no such collection).
    pub bulk_series: usize,
    pub token_lifetime_secs: u64,
    pub refresh_lifetime_secs: u64,
    /// Size of every served image in bytes; None = realistic sizes (200-520 KiB per image).
    /// FileSize of each series is always the exact sum of its images' bytes.
    pub image_bytes: Option<u32>,
    /// At most this many images per Bulk-Synthetic series (1 to N, varying; None = 100-300).
    pub bulk_max_images: Option<u64>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bulk_series: 2_000,
            token_lifetime_secs: 7200,
            refresh_lifetime_secs: 36000,
            image_bytes: Some(4096),
            bulk_max_images: None,
        }
    }
}

/// A running fake server (its own thread and tokio runtime). Dropping it shuts it down.
pub struct FakeServer {
    /// Unique in this process (ports are reused; this is not).
    id: u64,
    app: Arc<App>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Start on 127.0.0.1 with an ephemeral port and [`Config::default`].
    pub fn start() -> FakeServer {
        FakeServer::start_with(Config::default())
    }

    /// Start on 127.0.0.1 with an ephemeral port. Returns once the socket is listening.
    pub fn start_with(cfg: Config) -> FakeServer {
        FakeServer::bind("127.0.0.1", 0, cfg).expect("fake-nbia: cannot bind 127.0.0.1:0")
    }

    /// Start on a given host and port (0 = ephemeral).
    pub fn bind(host: &str, port: u16, cfg: Config) -> std::io::Result<FakeServer> {
        faults::install_quiet_hook();
        let listener = std::net::TcpListener::bind((host, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let app = Arc::new(App::new(
            Dataset::with_image_bytes(cfg.bulk_series, cfg.image_bytes)
                .with_bulk_max_images(cfg.bulk_max_images),
            auth::Auth::new(cfg.token_lifetime_secs, cfg.refresh_lifetime_secs),
            addr,
        ));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = app.clone();
        let thread = std::thread::Builder::new()
            .name("fake-nbia".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake-nbia: tokio runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("fake-nbia: listener");
                    let router = Router::new().fallback(handler::handle).with_state(state);
                    tokio::select! {
                        _ = axum::serve(listener, router) => {}
                        _ = rx => {}
                    }
                });
                rt.shutdown_background();
            })?;
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(FakeServer {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            app,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// A number no other server started by this process has (a port may be reused by a later
    /// server; this is not), e.g. for a per-server directory in tests.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Base URL, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.app.addr)
    }

    /// A snapshot of the data set this server currently serves (deterministic until
    /// [`release_series`](Self::release_series), [`change_series`](Self::change_series) or
    /// [`withdraw_series`](Self::withdraw_series) publish a new version; a snapshot never changes).
    pub fn data(&self) -> Arc<Dataset> {
        self.app.snapshot()
    }

    /// Release `count` new series into `collection` (one new patient with one new study), with
    /// realistic fields, images, SOP UIDs and md5s, DateReleased = now, so getUpdatedSeries /
    /// NewPatientsInCollection / NewStudiesInPatientCollection with an earlier date return them.
    /// Returns their SeriesInstanceUIDs. Panics for an unknown collection or Bulk-Synthetic.
    pub fn release_series(&self, collection: &str, count: usize) -> Vec<String> {
        self.app
            .release(collection, count)
            .unwrap_or_else(|e| panic!("release_series: {e}"))
    }

    /// Re-release a series changed: one more image (new SOP UID, new bytes; FileSize grows by one
    /// image), DateReleased = now. Returns the new ImageCount. Panics for an unknown or
    /// Bulk-Synthetic series.
    pub fn change_series(&self, series_uid: &str) -> u64 {
        self.app
            .change(series_uid)
            .unwrap_or_else(|e| panic!("change_series: {e}"))
    }

    /// Withdraw a series: it disappears from every listing, metadata endpoint and download (400 as
    /// for an unknown series); its study/patient go too when left empty. Panics for an unknown or
    /// Bulk-Synthetic series.
    pub fn withdraw_series(&self, series_uid: &str) {
        self.app
            .withdraw(series_uid)
            .unwrap_or_else(|e| panic!("withdraw_series: {e}"))
    }

    /// Add a fault rule (checked in insertion order, first match wins).
    pub fn inject(&self, fault: Fault) {
        self.app.inject(fault);
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        self.app.clear_faults();
    }

    /// Number of requests whose path's last segment equals `endpoint` (all versions, faulted ones too).
    pub fn hits(&self, endpoint: &str) -> usize {
        self.app.hits(endpoint)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.app.requests()
    }

    /// A valid access token for `user`, as the token endpoint would hand out.
    pub fn issue_token(&self, user: &str) -> String {
        let v = self.app.auth().issue(user, None);
        v["access_token"].as_str().unwrap_or_default().to_string()
    }

    /// Block the current thread until the server stops (used by the binary).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
