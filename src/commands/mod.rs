//! What runs: the context resolved once from flags, environment and terminal, and one function
//! per kind of command. Metadata endpoints all go through `query::run`.

pub mod docs;
pub mod login;
pub mod metadata;
pub mod query;
pub mod search;

use std::io::{self, BufRead, Write};

use crate::catalogue::{self as cat, Api, Param};
use crate::cli::{Cli, Command, GlobalArgs};
use crate::client::{resolve_server, Client, HttpSettings, DEFAULT_SERVER};
use crate::error::usage;
use crate::output::{Format, RawFormat};
use crate::printer::Printer;
use query::{Query, Transform};

/// Everything a command needs, resolved once before it runs.
pub struct Ctx {
    pub api: Api,
    pub client: Client,
    pub printer: Printer,
    pub format: Format,
    pub raw: Option<RawFormat>,
    pub fields: Option<Vec<String>>,
    pub width: usize,
    /// `--allow-http`: plain http to non-loopback hosts.
    pub allow_http: bool,
}

impl Ctx {
    pub fn new(g: &GlobalArgs) -> anyhow::Result<Ctx> {
        Ctx::with_idle_timeout(g, std::time::Duration::from_secs(g.timeout))
    }

    /// As `new`, with a longer read timeout than `--timeout` (downloads: `--idle-timeout`).
    pub fn with_idle_timeout(
        g: &GlobalArgs,
        idle_timeout: std::time::Duration,
    ) -> anyhow::Result<Ctx> {
        let printer = Printer::from_global(g);
        let base = resolve_server(g.server.as_deref().unwrap_or(DEFAULT_SERVER), g.allow_http)?;
        if g.api == Api::Legacy && g.api_key.is_none() {
            return Err(usage(
                "--api legacy needs an API key: pass --api-key KEY or set TCIA_API_KEY",
            ));
        }
        let settings = HttpSettings {
            base,
            timeout: std::time::Duration::from_secs(g.timeout),
            idle_timeout,
            retries: g.retries.unwrap_or(3),
            api_key: if g.api == Api::Legacy {
                g.api_key.clone()
            } else {
                None
            },
            no_retry_delay: std::env::var_os(crate::env::TEST_NO_RETRY_DELAY).is_some(),
            proxy: g.proxy.clone(),
            ca_cert: g.ca_cert.clone(),
        };
        let format = g.format.unwrap_or(if printer.stdout_tty {
            Format::Table
        } else {
            Format::Json
        });
        let width = std::env::var(crate::env::COLUMNS)
            .ok()
            .and_then(|c| c.parse().ok())
            .or_else(|| {
                console::Term::stdout()
                    .size_checked()
                    .map(|(_, w)| w as usize)
            })
            .unwrap_or(120);
        let fields = (!g.fields.is_empty()).then(|| {
            g.fields
                .iter()
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect()
        });
        Ok(Ctx {
            api: g.api,
            client: Client::new(settings, printer.clone())?,
            printer,
            format,
            raw: g.raw,
            fields,
            width,
            allow_http: g.allow_http,
        })
    }

    /// Buffered stdout for data.
    pub fn stdout(&self) -> Box<dyn Write> {
        Box::new(io::BufWriter::with_capacity(64 * 1024, io::stdout()))
    }
}

/// Run the parsed command line.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    crate::config::check(&cli)?;
    if let Some(p) = &cli.config.path {
        let what = if cli.config.found { "read" } else { "none at" };
        Printer::from_global(&cli.global).debug(1, &format!("config file: {what} {}", p.display()));
    }
    match &cli.command {
        Command::Completions(a) => return docs::completions(a.shell),
        Command::Man(a) => return docs::man(&a.subcommand),
        Command::Config(c) => return docs::config(&cli.config, c),
        Command::Download(a) => return crate::download::run(&cli.global, &cli.config, a).await,
        Command::Sync(a) => return crate::download::sync::run(&cli.global, &cli.config, a).await,
        Command::SingleImage(a) => return crate::download::single_image(&cli.global, a).await,
        Command::Verify(a) => {
            let printer = Printer::from_global(&cli.global);
            let dir = a.dir.clone();
            return tokio::task::spawn_blocking(move || {
                crate::download::verify::run(&dir, &printer)
            })
            .await?;
        }
        _ => {}
    }
    let ctx = Ctx::new(&cli.global)?;
    match &cli.command {
        Command::Login(a) => return login::login(&ctx, a).await,
        Command::Logout => return login::logout(&ctx).await,
        Command::Auth(crate::cli::AuthCommand::Status) => return login::status(&ctx).await,
        _ => {}
    }
    use Param::*;
    let q = |endpoint: &'static cat::Endpoint, params: Vec<(Param, Vec<String>)>| Query {
        endpoint,
        params,
        transform: Transform::None,
    };
    let query = match cli.command {
        Command::Collections => q(&cat::COLLECTIONS, vec![]),
        Command::Modalities(a) => q(
            &cat::MODALITIES,
            vec![(Collection, a.collection), (BodyPart, a.body_part)],
        ),
        Command::BodyParts(a) => q(
            &cat::BODY_PARTS,
            vec![(Collection, a.collection), (Modality, a.modality)],
        ),
        Command::Manufacturers(a) => q(
            &cat::MANUFACTURERS,
            vec![
                (Collection, a.collection),
                (Modality, a.modality),
                (BodyPart, a.body_part),
            ],
        ),
        Command::Patients(a) => q(
            &cat::PATIENTS,
            vec![(Collection, a.collection), (PatientId, a.patient_id)],
        ),
        Command::PatientsByModality(a) => q(
            &cat::PATIENTS_BY_MODALITY,
            vec![(Collection, a.collection), (Modality, a.modality)],
        ),
        Command::NewPatients(a) => q(
            &cat::NEW_PATIENTS,
            vec![
                (Collection, a.collection),
                (Since, vec![a.since.to_string()]),
            ],
        ),
        Command::Studies(a) => q(
            &cat::STUDIES,
            vec![
                (Collection, a.collection),
                (PatientId, a.patient_id),
                (StudyUid, a.study_uid),
            ],
        ),
        Command::NewStudies(a) => q(
            &cat::NEW_STUDIES,
            vec![
                (Collection, a.collection),
                (PatientId, a.patient_id),
                (Since, vec![a.since.to_string()]),
            ],
        ),
        Command::Series(a) => {
            let mut params = a.filters.params();
            params.push((SeriesUid, a.series_uid));
            q(&cat::SERIES, params)
        }
        Command::UpdatedSeries(a) => q(
            &cat::UPDATED_SERIES,
            vec![(Since, vec![a.since.to_string()])],
        ),
        Command::SeriesSize(a) => q(&cat::SERIES_SIZE, vec![(SeriesUid, a.series_uid)]),
        Command::SopUids(a) => q(&cat::SOP_UIDS, vec![(SeriesUid, a.series_uid)]),
        Command::DicomTags(a) => q(&cat::DICOM_TAGS, vec![(SeriesUid, a.series_uid)]),
        Command::Cart(a) => q(&cat::CART, vec![(CartName, vec![cart_name(&a.name)?])]),
        Command::CollectionCounts => counts(&cat::COLLECTION_COUNTS, "Collection", vec![]),
        Command::ModalityCounts(a) => counts(
            &cat::MODALITY_COUNTS,
            "Modality",
            vec![(Collection, a.collection), (BodyPart, a.body_part)],
        ),
        Command::BodyPartCounts(a) => counts(
            &cat::BODY_PART_COUNTS,
            "BodyPartExamined",
            vec![(Collection, a.collection), (Modality, a.modality)],
        ),
        Command::ManufacturerCounts(a) => counts(
            &cat::MANUFACTURER_COUNTS,
            "Manufacturer",
            vec![
                (Collection, a.collection),
                (Modality, a.modality),
                (BodyPart, a.body_part),
            ],
        ),
        Command::Descriptions(a) => Query {
            endpoint: &cat::DESCRIPTIONS,
            params: vec![(Collection, a.collection)],
            transform: Transform::Descriptions { keep_html: a.html },
        },
        Command::SeriesMetadata(a) => return metadata::run(&ctx, &read_uids(&a.uids)?).await,
        Command::Search(a) => return search::search(&ctx, &a).await,
        Command::Manifest(a) => return search::manifest(&ctx, &a).await,
        Command::Download(_)
        | Command::Sync(_)
        | Command::SingleImage(_)
        | Command::Verify(_)
        | Command::Login(_)
        | Command::Logout
        | Command::Auth(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::Config(_) => {
            unreachable!("handled above")
        }
    };
    query::run(&ctx, query).await
}

fn counts(
    endpoint: &'static cat::Endpoint,
    key: &'static str,
    params: Vec<(Param, Vec<String>)>,
) -> Query {
    Query {
        endpoint,
        params,
        transform: Transform::Counts { key },
    }
}

/// `--name` takes a cart name or the portal URL with `?saved-cart=NAME`.
pub fn cart_name(s: &str) -> anyhow::Result<String> {
    let s = s.trim();
    if s.contains("saved-cart=") {
        let url = url::Url::parse(s)
            .map_err(|e| usage(format!("--name: cannot read the cart URL '{s}': {e}")))?;
        return url
            .query_pairs()
            .find(|(k, _)| k == "saved-cart")
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| usage(format!("--name: no saved-cart=NAME in '{s}'")));
    }
    if s.is_empty() {
        return Err(usage("--name: the cart name is empty"));
    }
    Ok(s.to_string())
}

/// Expand UID arguments: `-` reads stdin, one per line; blanks and `#` lines skipped; duplicates
/// removed, first-seen order kept.
pub fn read_uids(args: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut push = |u: &str| {
        let u = u.trim().trim_matches('"');
        if !u.is_empty() && !u.starts_with('#') && seen.insert(u.to_string()) {
            out.push(u.to_string());
        }
    };
    for a in args {
        if a == "-" {
            for line in io::stdin().lock().lines() {
                push(&line?);
            }
        } else {
            push(a);
        }
    }
    for u in &out {
        if !u.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            return Err(usage(format!(
                "'{u}' is not a series instance UID (digits and dots, e.g. 1.3.6.1.4.1.14519.5.2.1.1)"
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cart_names() {
        assert_eq!(super::cart_name("nbia-1").unwrap(), "nbia-1");
        assert_eq!(
            super::cart_name("https://nbia.cancerimagingarchive.net/nbia-search/?saved-cart=nbia-49121659384603347").unwrap(),
            "nbia-49121659384603347"
        );
        assert!(super::cart_name("https://x/?saved-cart=").is_err());
    }
}
