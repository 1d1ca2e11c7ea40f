//! Metadata rows from the server: logical parameters turned into wire queries (one per
//! combination of repeated filters), and JSON array responses split into rows as they arrive.

use std::collections::HashSet;

use serde_json::Value;

use super::catalogue::{Api, Endpoint, Param, Route};
use super::client::{is_html, Client, Request};
use crate::dates::Date;
use crate::error::{usage, Error};
use crate::output::{Row, RowParser, RowRef};
use crate::stream::{ArraySplitter, Elements, SplitError};
use crate::text::escape_control;

/// Every combination of one value per parameter (parameters without values left out; values
/// trimmed, repeats dropped), in the order the requests are sent.
pub fn combinations(params: &[(Param, Vec<String>)]) -> Vec<Vec<(Param, String)>> {
    let mut combos: Vec<Vec<(Param, String)>> = vec![Vec::new()];
    for (p, values) in params.iter().filter(|(_, v)| !v.is_empty()) {
        let mut seen = HashSet::new();
        let values: Vec<String> = values
            .iter()
            .map(|v| v.trim().to_string())
            .filter(|v| seen.insert(v.clone()))
            .collect();
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((*p, v.clone()));
                    c
                })
            })
            .collect();
    }
    combos
}

/// Turn logical parameters into wire query strings: one per combination of repeated values.
pub fn plan(
    api: Api,
    endpoint: &Endpoint,
    route: &Route,
    params: &[(Param, Vec<String>)],
) -> anyhow::Result<Vec<Vec<(String, String)>>> {
    for (param, values) in params.iter().filter(|(_, v)| !v.is_empty()) {
        let Some(wire) = route.wire(*param) else {
            return Err(not_accepted(api, endpoint, route, *param));
        };
        for v in values.iter().map(|v| v.trim()) {
            if v.is_empty() {
                return Err(usage(format!("{} needs a value", param.flag())));
            }
            if wire.date.is_some() {
                Date::parse_iso(v).map_err(usage)?;
            }
        }
    }
    for req in route.required {
        let given = params.iter().any(|(p, v)| p == req && !v.is_empty());
        if !given {
            return Err(usage(format!("{} requires {}", endpoint.name, req.flag())));
        }
    }
    let on_the_wire = |(p, v): (Param, String)| {
        let wire = route.wire(p).expect("checked above");
        let v = match wire.date {
            Some(fmt) => Date::parse_iso(&v).expect("checked above").format(fmt),
            None => v,
        };
        (wire.name.to_string(), v)
    };
    let mut combos: Vec<Vec<(String, String)>> = combinations(params)
        .into_iter()
        .map(|c| c.into_iter().map(on_the_wire).collect())
        .collect();
    if api == Api::Legacy {
        for c in &mut combos {
            c.push(("format".into(), "json".into()));
        }
    }
    Ok(combos)
}

fn not_accepted(api: Api, endpoint: &Endpoint, route: &Route, param: Param) -> anyhow::Error {
    let takes: Vec<&str> = route.params.iter().map(|w| w.param.flag()).collect();
    usage(format!(
        "{} is not accepted by {} with --api {}; it takes {}",
        param.flag(),
        endpoint.name,
        api.as_str(),
        if takes.is_empty() {
            "no filters".to_string()
        } else {
            takes.join(", ")
        }
    ))
}

/// The requests for an endpoint and its parameters under `api`, with the route's method.
pub fn requests(
    api: Api,
    endpoint: &'static Endpoint,
    params: &[(Param, Vec<String>)],
) -> anyhow::Result<(&'static Route, Vec<Request>)> {
    let route = endpoint.route(api).map_err(usage)?;
    let path = route.path.url_path(api);
    let reqs = plan(api, endpoint, route, params)?
        .into_iter()
        .map(|q| Request::for_method(route.method, path.clone(), q))
        .collect();
    Ok((route, reqs))
}

/// Send a request and hand each row of the JSON array response to `on_row` as it arrives.
pub async fn stream_rows(
    client: &Client,
    req: &Request,
    on_row: &mut dyn FnMut(Row) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let url = client.url_for(req);
    let mut handle = |bytes: &[u8]| -> anyhow::Result<()> { on_row(parse_row(bytes, &url)?) };
    stream_elements(client, req, &url, &mut handle).await
}

/// Like [`stream_rows`], with each row read in place (the fast path for large responses); rows
/// are the same as [`stream_rows`] gives, key for key and value for value.
pub async fn stream_row_refs(
    client: &Client,
    req: &Request,
    on_row: &mut dyn FnMut(RowRef<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let url = client.url_for(req);
    let mut rows = InPlace {
        parser: RowParser::new(),
        url: &url,
        on_row,
    };
    stream_elements(client, req, &url, &mut rows).await
}

/// Rows read in place, mostly straight from the chunk they arrived in; serde_json reads what
/// the in-place reader leaves (and names what is wrong with invalid JSON).
struct InPlace<'u, 'f> {
    parser: RowParser,
    url: &'u reqwest::Url,
    on_row: &'f mut dyn FnMut(RowRef<'_>) -> anyhow::Result<()>,
}

impl Elements<anyhow::Error> for InPlace<'_, '_> {
    fn element(&mut self, text: &[u8]) -> anyhow::Result<()> {
        let row = match self.parser.parse(text) {
            Some(row) => row,
            None => RowRef::from_map(parse_row(text, self.url)?),
        };
        (self.on_row)(row)
    }

    fn element_at(&mut self, rest: &[u8]) -> anyhow::Result<Option<usize>> {
        match self.parser.parse_prefix(rest) {
            Some((row, n)) => {
                (self.on_row)(row)?;
                Ok(Some(n))
            }
            None => Ok(None),
        }
    }
}

/// As [`stream_rows`], with each element's JSON text unparsed (for callers that parse it
/// elsewhere, such as on another thread).
pub async fn stream_raw_elements(
    client: &Client,
    req: &Request,
    on_elem: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let url = client.url_for(req);
    stream_elements(client, req, &url, &mut |bytes: &[u8]| on_elem(bytes)).await
}

/// Send a request and hand each element of the JSON array response to `elements`.
async fn stream_elements(
    client: &Client,
    req: &Request,
    url: &reqwest::Url,
    elements: &mut impl Elements<anyhow::Error>,
) -> anyhow::Result<()> {
    let mut resp = client.send(req).await?;
    reject_html(&resp, url)?;
    let mut splitter = ArraySplitter::new();
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|e| client.transport_error(req.method(), url, e))?;
        let Some(chunk) = chunk else { break };
        splitter
            .feed_to(&chunk, elements)
            .map_err(|e| bad_response(url, e))?;
    }
    splitter
        .finish_to(elements)
        .map_err(|e| bad_response(url, e))?;
    Ok(())
}

/// All rows of a metadata query (for selections, which are modest in size).
pub async fn fetch_rows(
    client: &Client,
    api: Api,
    endpoint: &'static Endpoint,
    params: Vec<(Param, Vec<String>)>,
) -> anyhow::Result<Vec<Row>> {
    let (_, reqs) = requests(api, endpoint, &params)?;
    let mut rows = Vec::new();
    for req in reqs {
        stream_rows(client, &req, &mut |r| {
            rows.push(r);
            Ok(())
        })
        .await?;
    }
    Ok(rows)
}

/// As [`fetch_rows`], each row handed to `on_row` as it arrives (a selection of 300,000 series
/// is then never held as JSON rows).
pub async fn for_each_row(
    client: &Client,
    api: Api,
    endpoint: &'static Endpoint,
    params: Vec<(Param, Vec<String>)>,
    on_row: &mut dyn FnMut(Row) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (_, reqs) = requests(api, endpoint, &params)?;
    for req in reqs {
        stream_rows(client, &req, on_row).await?;
    }
    Ok(())
}

fn bad_response(url: &reqwest::Url, e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<SplitError>() {
        Ok(split) => Error::BadResponse {
            url: url.to_string(),
            message: escape_control(&split.to_string()),
        }
        .into(),
        Err(other) => other,
    }
}

/// A 200 with an HTML page (a proxy's error page) is an error, not data.
pub fn reject_html(resp: &reqwest::Response, url: &reqwest::Url) -> Result<(), Error> {
    if is_html(resp.headers()) {
        return Err(Error::BadResponse {
            url: url.to_string(),
            message:
                "the server sent an HTML page instead of data (an outage or a proxy login page?)"
                    .into(),
        });
    }
    Ok(())
}

/// One element of a JSON array response as a row (a non-object becomes `{"value": ...}`).
pub fn parse_row(bytes: &[u8], url: &reqwest::Url) -> anyhow::Result<Row> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::BadResponse {
        url: url.to_string(),
        message: format!("invalid JSON in the response: {e}"),
    })?;
    Ok(match v {
        Value::Object(m) => m,
        other => {
            let mut m = Row::new();
            m.insert("value".into(), other);
            m
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::catalogue as cat;

    /// Rows read in place, whether an element lies in one chunk or is split anywhere, are the
    /// rows serde_json reads from the whole document (non-objects as `{"value": ...}`).
    #[test]
    fn rows_in_place_at_every_chunk_size_equal_serde() {
        let doc = r#"[ {"a":1,"b":"x, y","n":null} ,{"c":[1,{"d":"}]"}],"e":-2.50},{"a":"\u00e9\""},
            {},{"a":1,"a":2},{"b":true,"a":12345678901234567890} , 5,"s",{"z":0}]"#;
        let want: Vec<Row> = serde_json::from_str::<Vec<Value>>(doc)
            .unwrap()
            .into_iter()
            .map(|v| match v {
                Value::Object(m) => m,
                other => Row::from_iter([("value".to_string(), other)]),
            })
            .collect();
        let url = reqwest::Url::parse("http://127.0.0.1/x").unwrap();
        for size in 1..=doc.len() {
            let mut got = Vec::new();
            let mut on_row = |r: RowRef<'_>| -> anyhow::Result<()> {
                got.push(r.to_row());
                Ok(())
            };
            let mut rows = InPlace {
                parser: RowParser::new(),
                url: &url,
                on_row: &mut on_row,
            };
            let mut splitter = ArraySplitter::new();
            for chunk in doc.as_bytes().chunks(size) {
                splitter.feed_to(chunk, &mut rows).unwrap();
            }
            splitter.finish_to(&mut rows).unwrap();
            assert_eq!(got, want, "chunk size {size}");
        }
    }

    fn p(v: &[(Param, &[&str])]) -> Vec<(Param, Vec<String>)> {
        v.iter()
            .map(|(p, vs)| (*p, vs.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn spelling_and_dates_per_version() {
        let params = p(&[(Param::Collection, &["X"]), (Param::Since, &["2024-03-07"])]);
        let v4 = plan(
            Api::V4,
            &cat::NEW_PATIENTS,
            cat::NEW_PATIENTS.route(Api::V4).unwrap(),
            &params,
        )
        .unwrap();
        assert_eq!(
            v4,
            vec![vec![
                ("Collection".into(), "X".into()),
                ("fromDate".into(), "03-07-2024".into())
            ]]
        );
        let v1 = plan(
            Api::V1,
            &cat::NEW_PATIENTS,
            cat::NEW_PATIENTS.route(Api::V1).unwrap(),
            &params,
        )
        .unwrap();
        assert_eq!(
            v1,
            vec![vec![
                ("Collection".into(), "X".into()),
                ("Date".into(), "2024/03/07".into())
            ]]
        );
        let upd = p(&[(Param::Since, &["2024-03-07"])]);
        let v1u = plan(
            Api::V1,
            &cat::UPDATED_SERIES,
            cat::UPDATED_SERIES.route(Api::V1).unwrap(),
            &upd,
        )
        .unwrap();
        assert_eq!(v1u[0][0].1, "07/03/2024");
    }

    #[test]
    fn repeated_values_multiply() {
        let params = p(&[
            (Param::Collection, &["A", "B"]),
            (Param::Modality, &["CT", "MR"]),
        ]);
        let combos = plan(
            Api::V4,
            &cat::SERIES,
            cat::SERIES.route(Api::V4).unwrap(),
            &params,
        )
        .unwrap();
        assert_eq!(combos.len(), 4);
    }

    #[test]
    fn unsupported_flag_is_usage_error() {
        let params = p(&[(Param::BodyPart, &["CHEST"])]);
        let err = plan(
            Api::Legacy,
            &cat::SERIES,
            cat::SERIES.route(Api::Legacy).unwrap(),
            &params,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("--body-part is not accepted by getSeries with --api legacy"),
            "{err}"
        );
    }
}
