//! `tcia single-image`: one DICOM file (getSingleImage), written atomically.

use crate::api::catalogue::{self as cat, Api, Param};
use crate::api::rows::{reject_html, requests};
use crate::cli::SingleImageArgs;
use crate::context::Ctx;
use crate::error::usage;
use crate::fsutil::write_atomically;
use crate::text::human_bytes;
use crate::uid::is_uid;

pub async fn run(ctx: &Ctx, a: &SingleImageArgs) -> anyhow::Result<()> {
    if ctx.api == Api::Legacy {
        return Err(usage("single-image needs --api v4, v1 or v2"));
    }
    for (flag, v) in [("--series-uid", &a.series_uid), ("--sop-uid", &a.sop_uid)] {
        if !is_uid(v) {
            return Err(usage(format!(
                "{flag} '{v}' is not a UID (digits and dots)"
            )));
        }
    }
    let params = [
        (Param::SeriesUid, vec![a.series_uid.clone()]),
        (Param::SopUid, vec![a.sop_uid.clone()]),
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
    let path = if a.output.is_dir() {
        a.output.join(format!("{}.dcm", a.sop_uid))
    } else {
        a.output.clone()
    };
    write_atomically(&path, &body)?;
    ctx.printer.info(&format!(
        "wrote {} ({})",
        path.display(),
        human_bytes(body.len() as u64)
    ));
    Ok(())
}
