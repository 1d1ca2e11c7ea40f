//! One match from the parsed command line to the command that runs it.

use crate::cli::{AuthCommand, Command, DataSource, IndexCommand};
use crate::commands::{
    docs, doi, download, idc, index, login, md5, query, search, series_metadata, single_image,
    sync, verify,
};
use crate::config::{check, Invocation};
use crate::context::{printer, Ctx};
use crate::env::Env;
use crate::uid::uid_args;

/// Run the parsed command line.
pub async fn dispatch(inv: Invocation, env: Env) -> anyhow::Result<()> {
    check(&inv)?;
    let Invocation { cli, config } = inv;
    let g = &cli.global;
    if let Some(p) = &config.path {
        let what = if config.found { "read" } else { "none at" };
        printer(g, &env).debug(1, &format!("config file: {what} {}", p.display()));
    }
    if g.source == DataSource::Idc {
        if let Some(r) = from_idc(&cli.command, &Ctx::new(g, &env)?).await {
            return r;
        }
    } else if g.offline {
        needs_no_server(&cli.command)?;
    }
    match &cli.command {
        Command::Completions(a) => match (a.values, a.shell) {
            (Some(kind), _) => docs::values(&Ctx::new(g, &env)?, kind).await,
            (None, Some(shell)) => docs::completions(shell),
            (None, None) => Err(crate::error::usage("completions: give a shell")),
        },
        Command::Man(a) => docs::man(&a.subcommand),
        Command::Config(c) => docs::config(&config, c),
        Command::Download(a) => download::run(g, &config, &env, a).await,
        Command::Sync(a) => sync::run(g, &config, &env, a).await,
        Command::Verify(a) if a.remote => verify::remote(&Ctx::new(g, &env)?, &a.dir).await,
        Command::Verify(a) => {
            let (printer, dir) = (printer(g, &env), a.dir.clone());
            let report = g.format.map(|f| (f, env.width.unwrap_or(120)));
            tokio::task::spawn_blocking(move || verify::run(&dir, &printer, report)).await?
        }
        Command::SingleImage(a) => single_image::run(&Ctx::new(g, &env)?, a).await,
        Command::Login(a) => login::login(&Ctx::new(g, &env)?, a).await,
        Command::Logout => login::logout(&Ctx::new(g, &env)?).await,
        Command::Auth(AuthCommand::Status) => login::status(&Ctx::new(g, &env)?).await,
        Command::SeriesMetadata(a) => {
            let ctx = Ctx::new(g, &env)?;
            let mut uids = uid_args(&a.all(), env.stdin_tty).await?;
            if let Some(n) = ctx.limit {
                uids.truncate(n as usize);
            }
            series_metadata::run(&ctx, &uids).await
        }
        Command::Index(c) => index::run(&Ctx::new(g, &env)?, c).await,
        Command::Query(a) => index::query(&Ctx::new(g, &env)?, &a.sql),
        Command::Search(a) => search::search(&Ctx::new(g, &env)?, a).await,
        Command::Manifest(a) => {
            let ctx = Ctx::new(g, &env)?;
            ctx.warn_v2_without_login();
            search::manifest(&ctx, a).await
        }
        Command::Doi(a) => doi::run(&Ctx::new(g, &env)?, a).await,
        Command::Md5(a) => md5::run(&Ctx::new(g, &env)?, a).await,
        other => {
            let ctx = Ctx::new(g, &env)?;
            let q = query::for_command(other)?.expect("every other command is one metadata query");
            query::run(&ctx, q).await
        }
    }
}

/// `--source idc`: the commands IDC answers from its index, and an error for those only NBIA
/// has; None for the commands that run the same way for both sources (downloads, local ones).
async fn from_idc(command: &Command, ctx: &Ctx) -> Option<anyhow::Result<()>> {
    Some(match command {
        Command::Completions(_) | Command::Man(_) | Command::Config(_) => return None,
        Command::Verify(a) if !a.remote => return None,
        Command::Download(_) | Command::Sync(_) if ctx.offline => Err(crate::error::usage(
            "downloads from IDC need the network: leave out --offline (or unset TCIA_OFFLINE)",
        )),
        Command::Download(_) | Command::Sync(_) => return None,
        Command::Index(IndexCommand::Status) => return None,
        Command::Index(IndexCommand::Update(a)) if a.metadata => Err(crate::error::usage(
            "--metadata adds NBIA's getSeriesMetadata fields: IDC's index has its own (leave out --metadata with --source idc)",
        )),
        Command::Index(IndexCommand::Update(_)) if ctx.offline => Err(crate::error::usage(
            "index update fetches IDC's index files: leave out --offline (or unset TCIA_OFFLINE)",
        )),
        Command::Index(IndexCommand::Update(a)) => idc::index_update(ctx, a.full).await,
        Command::Query(a) => idc::query_sql(ctx, &a.sql).await,
        other if idc::answers(other) => match query::for_command(other) {
            Ok(Some(q)) => idc::list(ctx, q).await,
            Ok(None) => Err(idc::nbia_only(other)),
            Err(e) => Err(e),
        },
        other => Err(idc::nbia_only(other)),
    })
}

/// With `--offline`, only the list commands (answered from the index) and the local commands
/// run; anything else says it needs the server.
fn needs_no_server(command: &Command) -> anyhow::Result<()> {
    let local = matches!(
        command,
        Command::Completions(_)
            | Command::Man(_)
            | Command::Config(_)
            | Command::Verify(_)
            | Command::Query(_)
            | Command::Auth(_)
            | Command::Index(crate::cli::IndexCommand::Status)
    );
    if local {
        return Ok(());
    }
    let answered = query::for_command(command)?.is_some_and(|q| index::answers(q.endpoint));
    if answered {
        return Ok(());
    }
    let name = crate::cli::command_name(command);
    Err(crate::error::usage(format!(
        "`tcia {name}` cannot be answered from the local index: leave out --offline (or unset TCIA_OFFLINE)"
    )))
}
