//! The shared server state ([`App`]) behind every request: the published data set version, the
//! image caches, the fault rules, the request log ([`RequestRecord`]) and the token store, with the
//! operations the public API, the control API and the handler perform on them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::{Deserialize, Serialize};

use crate::auth::Auth;
use crate::data::Dataset;
use crate::faults::{Fault, FaultAction, Faults};
use crate::images::Store;
use crate::time::Timestamp;

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
pub(crate) struct App {
    /// The current data set; each request takes one snapshot, mutations swap in a new version.
    ds: RwLock<Arc<Dataset>>,
    /// Image caches (DEFLATE tails, MD5s), shared by every version of the data set.
    pub images: Arc<Store>,
    faults: Mutex<Faults>,
    log: Mutex<Vec<RequestRecord>>,
    auth: Mutex<Auth>,
    /// The address the server listens on.
    pub addr: SocketAddr,
}

/// Lock a mutex, ignoring poisoning (a panicking handler must not wedge the server).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The last non-empty path segment: the endpoint name faults and hit counts use.
pub(crate) fn last_segment(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

impl App {
    pub fn new(ds: Dataset, auth: Auth, addr: SocketAddr) -> App {
        App {
            ds: RwLock::new(Arc::new(ds)),
            images: Arc::new(Store::new()),
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(Vec::new()),
            auth: Mutex::new(auth),
            addr,
        }
    }

    /// The current version of the data set.
    pub fn snapshot(&self) -> Arc<Dataset> {
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

    pub fn release(&self, collection: &str, count: usize) -> Result<Vec<String>, String> {
        let now = Timestamp::now();
        self.mutate(|d| d.release(collection, count, now))
    }

    pub fn change(&self, series_uid: &str) -> Result<u64, String> {
        let now = Timestamp::now();
        self.mutate(|d| d.change(series_uid, now))
    }

    pub fn withdraw(&self, series_uid: &str) -> Result<(), String> {
        self.mutate(|d| d.withdraw(series_uid))
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// Consume one use of the first fault rule matching `endpoint`.
    pub fn take_fault(&self, endpoint: &str) -> Option<FaultAction> {
        lock(&self.faults).take(endpoint)
    }

    pub fn record(&self, r: RequestRecord) {
        lock(&self.log).push(r);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.log).clone()
    }

    pub fn hits(&self, endpoint: &str) -> usize {
        lock(&self.log)
            .iter()
            .filter(|r| last_segment(&r.path) == endpoint)
            .count()
    }

    /// Endpoint (last path segment) → number of requests, in order of first appearance.
    pub fn hit_counts(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for r in lock(&self.log).iter() {
            let k = last_segment(&r.path).to_string();
            let n = m.get(&k).and_then(|v| v.as_u64()).unwrap_or(0);
            m.insert(k, serde_json::json!(n + 1));
        }
        m
    }

    /// The token store.
    pub fn auth(&self) -> MutexGuard<'_, Auth> {
        lock(&self.auth)
    }
}
