//! fake-nbia: an in-process (or standalone) fake of The Cancer Imaging Archive's NBIA REST API.
//!
//! Start one with [`FakeServer::start`], point a client at [`FakeServer::url`], compute expectations
//! from [`FakeServer::data`], and inject failures with [`FakeServer::inject`].

mod auth;
mod data;
mod faults;
mod hash;
mod images;
mod render;
mod request;
mod routes;
mod rows;
mod search;
mod time;
mod zip;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::Response;
use axum::Router;
use serde::{Deserialize, Serialize};

pub use data::{
    CollectionInfo, Dataset, Patient, Series, Study, BULK_COLLECTION, BULK_SERIES_PER_STUDY,
    BULK_STUDIES_PER_PATIENT, RESTRICTED_COLLECTION,
};
pub use faults::{Fault, FaultAction};
pub use time::Timestamp;

pub use auth::LEGACY_API_KEY;

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
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bulk_series: 2_000,
            token_lifetime_secs: 7200,
            refresh_lifetime_secs: 36000,
            image_bytes: Some(4096),
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// Raw, undecoded query string ("" if none).
    pub query: String,
    /// Raw POST body for form posts, else "".
    pub form: String,
    pub authorization: Option<String>,
    pub api_key: Option<String>,
    pub user_agent: Option<String>,
}

/// Shared server state.
struct App {
    /// The current data set; each request takes one snapshot, mutations swap in a new version.
    ds: RwLock<Arc<Dataset>>,
    /// Image caches (DEFLATE tails, MD5s), shared by every version of the data set.
    images: Arc<images::Store>,
    faults: Mutex<faults::Faults>,
    log: Mutex<Vec<RequestRecord>>,
    auth: Mutex<auth::Auth>,
    addr: SocketAddr,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl App {
    /// The current version of the data set.
    fn snapshot(&self) -> Arc<Dataset> {
        self.ds.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Apply a change to a copy of the data set and publish it (writers are serialised).
    fn mutate<T>(&self, f: impl FnOnce(&mut Dataset) -> T) -> T {
        let mut g = self.ds.write().unwrap_or_else(|e| e.into_inner());
        let mut next = Dataset::clone(&g);
        let out = f(&mut next);
        *g = Arc::new(next);
        out
    }

    fn release(&self, collection: &str, count: usize) -> Result<Vec<String>, String> {
        let now = Timestamp::now();
        self.mutate(|d| d.release(collection, count, now))
    }

    fn change(&self, series_uid: &str) -> Result<u64, String> {
        let now = Timestamp::now();
        self.mutate(|d| d.change(series_uid, now))
    }

    fn withdraw(&self, series_uid: &str) -> Result<(), String> {
        self.mutate(|d| d.withdraw(series_uid))
    }

    fn hits(&self, endpoint: &str) -> usize {
        lock(&self.log)
            .iter()
            .filter(|r| last_segment(&r.path) == endpoint)
            .count()
    }
}

fn last_segment(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// A running fake server (its own thread and tokio runtime). Dropping it shuts it down.
pub struct FakeServer {
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
        let app = Arc::new(App {
            ds: RwLock::new(Arc::new(Dataset::with_image_bytes(
                cfg.bulk_series,
                cfg.image_bytes,
            ))),
            images: Arc::new(images::Store::new()),
            faults: Mutex::new(faults::Faults::default()),
            log: Mutex::new(Vec::new()),
            auth: Mutex::new(auth::Auth::new(
                cfg.token_lifetime_secs,
                cfg.refresh_lifetime_secs,
            )),
            addr,
        });
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
                    let router = Router::new().fallback(handle).with_state(state);
                    tokio::select! {
                        _ = axum::serve(listener, router) => {}
                        _ = rx => {}
                    }
                });
                rt.shutdown_background();
            })?;
        Ok(FakeServer {
            app,
            shutdown: Some(tx),
            thread: Some(thread),
        })
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
        lock(&self.app.faults).push(fault);
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.app.faults).clear();
    }

    /// Number of requests whose path's last segment equals `endpoint` (all versions, faulted ones too).
    pub fn hits(&self, endpoint: &str) -> usize {
        self.app.hits(endpoint)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.app.log).clone()
    }

    /// A valid access token for `user`, as the token endpoint would hand out.
    pub fn issue_token(&self, user: &str) -> String {
        let v = lock(&self.app.auth).issue(user, None);
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

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The single fallback handler: control API, recording, faults, then normal routing.
async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let bytes = to_bytes(body, 512 * 1024 * 1024).await.unwrap_or_default();
    if let Some(rest) = path.strip_prefix("/__fake/") {
        return control(&app, &parts.method, rest, &query, &bytes);
    }
    let ct = header_str(&parts.headers, "content-type").unwrap_or_default();
    let is_form = parts.method == Method::POST
        && (ct.is_empty() || ct.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form {
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        String::new()
    };
    let authorization = header_str(&parts.headers, "authorization");
    let api_key = header_str(&parts.headers, "api_key");
    lock(&app.log).push(RequestRecord {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        form: form.clone(),
        authorization: authorization.clone(),
        api_key: api_key.clone(),
        user_agent: header_str(&parts.headers, "user-agent"),
    });

    let fault = lock(&app.faults).take(last_segment(&path));
    if let Some(action) = &fault {
        if let Some(r) = faults::immediate(action) {
            return r;
        }
        match action {
            FaultAction::Delay { ms } => tokio::time::sleep(Duration::from_millis(*ms)).await,
            FaultAction::Drop => std::panic::panic_any(faults::DropConnection),
            _ => {}
        }
    }

    let base_url = header_str(&parts.headers, "host")
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| format!("http://{}", app.addr));
    let resp = route(
        &app,
        &parts.method,
        &path,
        &query,
        &form,
        authorization.as_deref(),
        api_key.as_deref(),
        base_url,
        fault.as_ref(),
    );
    match &fault {
        Some(a @ (FaultAction::TruncateBody { .. } | FaultAction::Drip { .. })) => {
            faults::wrap(a, resp)
        }
        _ => resp,
    }
}

#[allow(clippy::too_many_arguments)]
fn route(
    app: &Arc<App>,
    method: &Method,
    path: &str,
    query: &str,
    form: &str,
    authorization: Option<&str>,
    api_key: Option<&str>,
    base_url: String,
    fault: Option<&FaultAction>,
) -> Response {
    use request::{Ctx, Params, Ver};
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ds = app.snapshot();
    let ctx = |ver| Ctx {
        ds: ds.clone(),
        images: app.images.clone(),
        ver,
        q: Params::parse(query),
        form: Params::parse(form),
        privileged: false,
        base_url: base_url.clone(),
        fault: fault.cloned(),
    };
    let auth = || lock(&app.auth).check(authorization);
    match segs.as_slice() {
        ["nbia-api", "services", v, ep] if matches!(*v, "v1" | "v2" | "v4") => {
            let ver = match *v {
                "v1" => Ver::V1,
                "v2" => Ver::V2,
                _ => Ver::V4,
            };
            routes::versioned(ctx(ver), ep, method, auth())
        }
        ["nbia-api", "services", ep] => routes::advanced(ctx(Ver::Advanced), ep, auth()),
        ["nbia-api", "oauth", "token"] if method == Method::POST => {
            lock(&app.auth).token_endpoint(&Params::parse(form).0)
        }
        ["nbia-api", "logout"] => {
            lock(&app.auth).logout(authorization);
            render::text(200, Some("text/plain"), "You Have Logged Out successfully.")
        }
        ["services", "v3", "TCIA", "query", ep] | ["services", "TCIA", "TCIA", "query", ep] => {
            routes::legacy(ctx(Ver::Legacy), ep, api_key)
        }
        _ => render::text(404, Some("text/plain"), "Not Found"),
    }
}

/// `/__fake/...` control API (not recorded, never faulted).
fn control(app: &App, method: &Method, rest: &str, query: &str, body: &[u8]) -> Response {
    let json = |v: serde_json::Value| render::json_value(&v);
    match (method.as_str(), rest) {
        ("POST", "faults") => match serde_json::from_slice::<Fault>(body) {
            Ok(f) => {
                lock(&app.faults).push(f);
                json(serde_json::json!({"ok": true}))
            }
            Err(e) => render::text(400, Some("text/plain"), format!("bad fault: {e}")),
        },
        ("DELETE", "faults") => {
            lock(&app.faults).clear();
            json(serde_json::json!({"ok": true}))
        }
        ("GET", "hits") => {
            let mut m = serde_json::Map::new();
            for r in lock(&app.log).iter() {
                let k = last_segment(&r.path).to_string();
                let n = m.get(&k).and_then(|v| v.as_u64()).unwrap_or(0);
                m.insert(k, serde_json::json!(n + 1));
            }
            json(serde_json::Value::Object(m))
        }
        ("GET", "requests") => json(serde_json::to_value(&*lock(&app.log)).unwrap_or_default()),
        ("POST", "release") => {
            #[derive(Deserialize)]
            struct Release {
                collection: String,
                #[serde(default = "one")]
                count: usize,
            }
            fn one() -> usize {
                1
            }
            match serde_json::from_slice::<Release>(body) {
                Ok(r) => match app.release(&r.collection, r.count) {
                    Ok(uids) => json(serde_json::json!(uids)),
                    Err(e) => render::text(400, Some("text/plain"), e),
                },
                Err(e) => render::text(400, Some("text/plain"), format!("bad release: {e}")),
            }
        }
        ("POST", "change") | ("POST", "withdraw") => {
            #[derive(Deserialize)]
            struct Target {
                series: String,
            }
            let t = match serde_json::from_slice::<Target>(body) {
                Ok(t) => t,
                Err(e) => return render::text(400, Some("text/plain"), format!("bad {rest}: {e}")),
            };
            let r = if rest == "change" {
                app.change(&t.series)
                    .map(|n| serde_json::json!({"series": t.series, "image_count": n}))
            } else {
                app.withdraw(&t.series)
                    .map(|()| serde_json::json!({"ok": true}))
            };
            match r {
                Ok(v) => json(v),
                Err(e) => render::text(400, Some("text/plain"), e),
            }
        }
        ("GET", "token") => {
            let q = request::Params::parse(query);
            let user = q.get("user").unwrap_or("nbia_guest").to_string();
            json(lock(&app.auth).issue(&user, None))
        }
        _ => {
            let mut r = Response::new(Body::from("Not Found"));
            *r.status_mut() = axum::http::StatusCode::NOT_FOUND;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain"),
            );
            r
        }
    }
}
