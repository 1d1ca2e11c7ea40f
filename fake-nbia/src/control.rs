//! The `/__fake/...` control API (never recorded, never faulted): fault rules, hit counts, the
//! request log, tokens, and the release / change / withdraw data changes. Errors are 400 text/plain.

use axum::http::Method;
use axum::response::Response;
use serde::Deserialize;

use crate::app::App;
use crate::faults::Fault;
use crate::render::{json_value, text};
use crate::request::Params;

/// Serve `/__fake/<rest>`.
pub(crate) fn handle(app: &App, method: &Method, rest: &str, query: &str, body: &[u8]) -> Response {
    match (method.as_str(), rest) {
        ("POST", "faults") => add_fault(app, body),
        ("DELETE", "faults") => {
            app.clear_faults();
            ok()
        }
        ("GET", "hits") => json_value(&serde_json::Value::Object(app.hit_counts())),
        ("GET", "requests") => {
            json_value(&serde_json::to_value(app.requests()).unwrap_or_default())
        }
        ("POST", "release") => release(app, body),
        ("POST", "change") => change(app, body),
        ("POST", "withdraw") => withdraw(app, body),
        ("GET", "token") => token(app, query),
        _ => text(404, Some("text/plain"), "Not Found"),
    }
}

fn ok() -> Response {
    json_value(&serde_json::json!({"ok": true}))
}

fn bad(msg: impl Into<String>) -> Response {
    text(400, Some("text/plain"), msg)
}

/// `POST /__fake/faults` with a JSON [`Fault`].
fn add_fault(app: &App, body: &[u8]) -> Response {
    match serde_json::from_slice::<Fault>(body) {
        Ok(f) => {
            app.inject(f);
            ok()
        }
        Err(e) => bad(format!("bad fault: {e}")),
    }
}

/// `POST /__fake/release` `{"collection": .., "count": n}` (count defaults to 1) → the new UIDs.
fn release(app: &App, body: &[u8]) -> Response {
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
            Ok(uids) => json_value(&serde_json::json!(uids)),
            Err(e) => bad(e),
        },
        Err(e) => bad(format!("bad release: {e}")),
    }
}

/// The `{"series": "<uid>"}` body of change / withdraw (`what` names the call in the error).
fn target_series(body: &[u8], what: &str) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Target {
        series: String,
    }
    serde_json::from_slice::<Target>(body)
        .map(|t| t.series)
        .map_err(|e| format!("bad {what}: {e}"))
}

/// `POST /__fake/change` → `{"series": uid, "image_count": n}`.
fn change(app: &App, body: &[u8]) -> Response {
    let series = match target_series(body, "change") {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    match app.change(&series) {
        Ok(n) => json_value(&serde_json::json!({"series": series, "image_count": n})),
        Err(e) => bad(e),
    }
}

/// `POST /__fake/withdraw` → `{"ok": true}`.
fn withdraw(app: &App, body: &[u8]) -> Response {
    let series = match target_series(body, "withdraw") {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    match app.withdraw(&series) {
        Ok(()) => ok(),
        Err(e) => bad(e),
    }
}

/// `GET /__fake/token?user=alice` → the token JSON (user defaults to the guest).
fn token(app: &App, query: &str) -> Response {
    let q = Params::parse(query);
    let user = q.get("user").unwrap_or("nbia_guest").to_string();
    json_value(&app.auth().issue(&user, None))
}
