//! `tcia single-image`: one DICOM file (getSingleImage), checked against the server's MD5
//! (v4 getMD5HashForImage) and only then written, atomically.

use crate::api::catalogue::{self as cat, Api, Param};
use crate::api::rows::{reject_html, requests};
use crate::cli::SingleImageArgs;
use crate::context::Ctx;
use crate::error::{exit, usage, Error};
use crate::fsutil::write_atomically;
use crate::text::human_bytes;
use crate::uid::is_uid;

pub async fn run(ctx: &Ctx, a: &SingleImageArgs) -> anyhow::Result<()> {
    if ctx.api == Api::Legacy {
        return Err(usage("single-image needs --api v4, v1 or v2"));
    }
    let (series_uid, sop_uid) = uids_of(a)?;
    for (flag, v) in [("--series-uid", &series_uid), ("--sop-uid", &sop_uid)] {
        if !is_uid(v) {
            return Err(usage(format!(
                "{flag} '{v}' is not a UID (digits and dots)"
            )));
        }
    }
    let params = [
        (Param::SeriesUid, vec![series_uid.clone()]),
        (Param::SopUid, vec![sop_uid.clone()]),
    ];
    let (_, reqs) = requests(ctx.api, &cat::SINGLE_IMAGE, &params)?;
    ctx.warn_v2_without_login();
    let req = &reqs[0];
    let url = ctx.client.url_for(req);
    let resp = ctx.client.send(req).await?;
    reject_html(&resp, &url)?;
    let body = resp
        .bytes()
        .await
        .map_err(|e| ctx.client.transport_error(req.method(), &url, e))?;
    if body.len() < 132 || &body[128..132] != b"DICM" {
        ctx.printer
            .warn("the image has no DICM preamble; it may not be a DICOM Part 10 file");
    }
    if ctx.api == Api::V4 && !a.no_md5 {
        check_md5(ctx, &sop_uid, &body).await?;
    }
    let path = image_path(&a.output, &sop_uid)?;
    write_atomically(&path, &body)?;
    ctx.printer.info(&format!(
        "wrote {} ({})",
        path.display(),
        human_bytes(body.len() as u64)
    ));
    Ok(())
}

/// Compare the image with v4 getMD5HashForImage; a mismatch is an integrity failure (exit 3) and
/// nothing is written. An empty answer (no MD5 on record) is only a warning.
async fn check_md5(ctx: &Ctx, sop: &str, body: &[u8]) -> anyhow::Result<()> {
    use md5::{Digest, Md5};
    let params = [(Param::SopUid, vec![sop.to_string()])];
    let (_, reqs) = requests(ctx.api, &cat::MD5_IMAGE, &params)?;
    let req = &reqs[0];
    let url = ctx.client.url_for(req);
    let resp = match ctx.client.send(req).await {
        Err(Error::Http { status: 404, .. }) => {
            ctx.printer
                .warn("this server has no getMD5HashForImage (404); the image is not checked");
            return Ok(());
        }
        other => other?,
    };
    reject_html(&resp, &url)?;
    let want = resp
        .text()
        .await
        .map_err(|e| ctx.client.transport_error(req.method(), &url, e))?
        .trim()
        .to_ascii_lowercase();
    let got: String = Md5::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if want.is_empty() {
        ctx.printer.warn(
            "the server has no MD5 for this image (getMD5HashForImage was empty); not checked",
        );
        return Ok(());
    }
    if want != got {
        return Err(Error::Failed {
            message: format!(
                "{sop}: MD5 mismatch: the server's getMD5HashForImage says {want}, the image received hashes to {got}; nothing written"
            ),
            code: exit::INTEGRITY,
        }
        .into());
    }
    ctx.printer
        .debug(1, &format!("MD5 {got} matches getMD5HashForImage"));
    Ok(())
}

/// The series and SOP UIDs: `--series-uid` / `--sop-uid`, or the arguments in that order.
fn uids_of(a: &SingleImageArgs) -> anyhow::Result<(String, String)> {
    let mut args = a.uids.iter().cloned();
    let series = a.series_uid.clone().or_else(|| args.next());
    let sop = a.sop_uid.clone().or_else(|| args.next());
    let extra = args.next();
    match (series, sop, extra) {
        (Some(series), Some(sop), None) => Ok((series, sop)),
        (_, _, Some(x)) => Err(usage(format!(
            "single-image: one series UID and one SOP UID; '{x}' is one too many"
        ))),
        _ => Err(usage(
            "single-image: give the series UID and the SOP UID (as arguments, or --series-uid and --sop-uid)",
        )),
    }
}

/// Where the image goes: into `out` as <SOP>.dcm when it is a directory or names one with a
/// trailing `/` (created if missing), else at `out`.
fn image_path(out: &std::path::Path, sop_uid: &str) -> anyhow::Result<std::path::PathBuf> {
    let names_dir = out
        .as_os_str()
        .to_string_lossy()
        .ends_with(std::path::MAIN_SEPARATOR)
        || out.as_os_str().to_string_lossy().ends_with('/');
    if names_dir && !out.is_dir() {
        std::fs::create_dir_all(out)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
    }
    Ok(if out.is_dir() {
        out.join(format!("{sop_uid}.dcm"))
    } else {
        out.to_path_buf()
    })
}
