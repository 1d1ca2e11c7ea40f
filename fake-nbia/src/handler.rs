//! The server's single axum fallback handler: `/__fake/...` goes to `control`; every other request
//! is recorded, gets its fault (if a rule matches), and is routed by path to the v1/v2/v4,
//! advanced or legacy endpoints (with a fresh [`Ctx`]), the OAuth token endpoint or logout.

use std::sync::Arc;
use std::time::Duration;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::Response;

use crate::app::{last_segment, App, RequestRecord};
use crate::control;
use crate::faults::{self, FaultAction};
use crate::render::text;
use crate::request::{Ctx, Params, Ver};
use crate::routes;

/// The parts of a request that recording and routing need.
struct Incoming {
    method: Method,
    path: String,
    /// Raw query string.
    query: String,
    /// Raw body of a form POST, else "".
    form: String,
    authorization: Option<String>,
    api_key: Option<String>,
    /// "http://host:port" as the client addressed this server.
    base_url: String,
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The fallback handler: control API, recording, faults, then normal routing.
pub(crate) async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let bytes = to_bytes(body, 512 * 1024 * 1024).await.unwrap_or_default();
    if let Some(rest) = path.strip_prefix("/__fake/") {
        return control::handle(&app, &parts.method, rest, &query, &bytes);
    }
    let inc = incoming(&app, &parts, path, query, &bytes);
    // The fault first: a test that has seen this request counted may clear the faults, and
    // must not race the request's own lookup.
    let fault = app.take_fault(last_segment(&inc.path));
    app.record(record(&inc, &parts.headers));
    if let Some(action) = &fault {
        if let Some(r) = before_routing(action).await {
            return r;
        }
    }
    let resp = route(&app, &inc, fault.as_ref());
    match &fault {
        Some(a @ (FaultAction::TruncateBody { .. } | FaultAction::Drip { .. })) => {
            faults::wrap(a, resp)
        }
        _ => resp,
    }
}

fn incoming(app: &App, parts: &Parts, path: String, query: String, body: &[u8]) -> Incoming {
    let ct = header_str(&parts.headers, "content-type").unwrap_or_default();
    let is_form = parts.method == Method::POST
        && (ct.is_empty() || ct.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form {
        String::from_utf8_lossy(body).into_owned()
    } else {
        String::new()
    };
    let base_url = header_str(&parts.headers, "host")
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| format!("http://{}", app.addr));
    Incoming {
        method: parts.method.clone(),
        path,
        query,
        form,
        authorization: header_str(&parts.headers, "authorization"),
        api_key: header_str(&parts.headers, "api_key"),
        base_url,
    }
}

fn record(inc: &Incoming, headers: &HeaderMap) -> RequestRecord {
    RequestRecord {
        method: inc.method.to_string(),
        path: inc.path.clone(),
        query: inc.query.clone(),
        form: inc.form.clone(),
        authorization: inc.authorization.clone(),
        api_key: inc.api_key.clone(),
        user_agent: header_str(headers, "user-agent"),
    }
}

/// The part of a fault that acts before routing: an immediate response (Status, HtmlPage), a
/// delay, or a dropped connection (the handler panics; hyper closes the connection).
async fn before_routing(action: &FaultAction) -> Option<Response> {
    if let Some(r) = faults::immediate(action) {
        return Some(r);
    }
    match action {
        FaultAction::Delay { ms } => tokio::time::sleep(Duration::from_millis(*ms)).await,
        FaultAction::Drop => std::panic::panic_any(faults::DropConnection),
        _ => {}
    }
    None
}

/// Route by path, on the data set version current now (after any Delay).
fn route(app: &App, inc: &Incoming, fault: Option<&FaultAction>) -> Response {
    let segs: Vec<&str> = inc.path.trim_start_matches('/').split('/').collect();
    let ds = app.snapshot();
    let ctx = |ver| Ctx {
        ds: ds.clone(),
        images: app.images.clone(),
        ver,
        q: Params::parse(&inc.query),
        form: Params::parse(&inc.form),
        privileged: false,
        base_url: inc.base_url.clone(),
        fault: fault.cloned(),
    };
    let authorization = inc.authorization.as_deref();
    let auth = || app.auth().check(authorization);
    let method = &inc.method;
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
            app.auth().token_endpoint(&Params::parse(&inc.form).0)
        }
        ["nbia-api", "logout"] => {
            app.auth().logout(authorization);
            text(200, Some("text/plain"), "You Have Logged Out successfully.")
        }
        ["services", "v3", "TCIA", "query", ep] | ["services", "TCIA", "TCIA", "query", ep] => {
            routes::legacy(ctx(Ver::Legacy), ep, inc.api_key.as_deref())
        }
        _ => text(404, Some("text/plain"), "Not Found"),
    }
}
