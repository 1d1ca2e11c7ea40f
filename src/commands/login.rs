//! `tcia login`, `tcia logout`, `tcia auth status`.

use std::io::BufRead;

use reqwest::Url;

use crate::api::auth::{expires_in, password_login, Grant, Store};
use crate::api::catalogue::{self as cat, resolve_server};
use crate::cli::LoginArgs;
use crate::context::Ctx;
use crate::error::{usage, Error};
use crate::secret::Secret;

const GUEST: &str = "nbia_guest";

pub async fn login(ctx: &Ctx, a: &LoginArgs) -> anyhow::Result<()> {
    let base = ctx.client.settings.base.clone();
    let token_url = token_url(ctx, a)?;
    let user = user(ctx, a).await?;
    let password = password(ctx, a, &user).await?;
    let grant = Grant {
        token_url,
        client_id: a.client_id.clone(),
        client_secret: a.client_secret.clone(),
    };
    let cached = match password_login(ctx.client.http(), &base, &grant, &user, &password).await {
        Ok(c) => c,
        Err(Error::Http {
            status,
            message,
            url,
            method,
            retry_after,
        }) => {
            return Err(Error::Http {
                method,
                url,
                status,
                message: format!("login failed for {user}: {message}"),
                retry_after,
            }
            .into())
        }
        Err(e) => return Err(e.into()),
    };
    let store = Store::for_server(&ctx.creds, &base)
        .ok_or_else(|| anyhow::anyhow!("no configuration directory: set TCIA_CONFIG_DIR"))?;
    store.save(&cached)?;
    ctx.printer.info(&format!(
        "logged in to {base} as {user}; the access token expires in {}{}",
        expires_in(cached.expires_at),
        cached
            .refresh_expires_at
            .map(|t| format!(" and is refreshed automatically for {}", expires_in(t)))
            .unwrap_or_default()
    ));
    Ok(())
}

/// `--token-url`, or the server's own `nbia-api/oauth/token`.
fn token_url(ctx: &Ctx, a: &LoginArgs) -> anyhow::Result<Url> {
    match &a.token_url {
        // The same rule as --server: a password never goes over plain http to another host.
        Some(u) => resolve_server(u, ctx.allow_http)
            .map_err(|e| usage(e.to_string().replace("--server", "--token-url"))),
        None => endpoint_url(ctx, &cat::TOKEN),
    }
}

/// The URL of a catalogue endpoint on this server.
fn endpoint_url(ctx: &Ctx, e: &'static cat::Endpoint) -> anyhow::Result<Url> {
    let route = e.route(ctx.api).map_err(usage)?;
    let req =
        crate::api::client::Request::for_method(route.method, route.path.url_path(ctx.api), vec![]);
    Ok(ctx.client.url_for(&req))
}

/// `--guest`, `--user`, TCIA_USER, or a prompt on a terminal.
async fn user(ctx: &Ctx, a: &LoginArgs) -> anyhow::Result<String> {
    let base = &ctx.client.settings.base;
    let user = if a.guest {
        GUEST.to_string()
    } else if let Some(u) = a.user.clone().or_else(|| ctx.creds.user.clone()) {
        u
    } else if ctx.env.stdin_tty && !a.password_stdin {
        eprint!("User for {base}: ");
        let guard = Prompt::start();
        let line = off_runtime(read_stdin_line).await?;
        guard.done();
        line.trim().to_string()
    } else {
        return Err(usage(
            "login: no user: pass --user USER or set TCIA_USER (or --guest)",
        ));
    };
    if user.is_empty() {
        return Err(usage("login: the user name is empty"));
    }
    Ok(user)
}

/// `--password-stdin`, TCIA_PASSWORD, or a prompt on a terminal (none for `--guest`).
async fn password(ctx: &Ctx, a: &LoginArgs, user: &str) -> anyhow::Result<Secret> {
    let base = &ctx.client.settings.base;
    Ok(if a.guest {
        Secret::new("")
    } else if a.password_stdin {
        let line = off_runtime(read_stdin_line).await?;
        let pw = line.trim_end_matches(['\n', '\r']);
        if pw.is_empty() {
            return Err(usage(
                "login: --password-stdin read an empty password (nothing, or an empty first line, on stdin)",
            ));
        }
        Secret::new(pw)
    } else if let Some(p) = &ctx.creds.password {
        p.clone()
    } else if ctx.env.stdin_tty {
        let prompt = format!("Password for {user} at {base}: ");
        let guard = Prompt::start();
        let p = off_runtime(move || rpassword::prompt_password(prompt)).await?;
        guard.done();
        Secret::new(p)
    } else {
        return Err(usage(
            "login: no password: use --password-stdin or TCIA_PASSWORD (a prompt needs a terminal)",
        ));
    })
}

fn read_stdin_line() -> std::io::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line)
}

/// Run a blocking read on a blocking thread: the runtime's Ctrl-C handler stays free to end the
/// run (exit 130) while it waits. A Ctrl-C the read saw itself (the password prompt reads the
/// terminal raw) ends it the same way.
async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    match tokio::task::spawn_blocking(f).await? {
        Ok(v) => Ok(v),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(Error::Interrupted.into()),
        Err(e) => Err(e.into()),
    }
}

/// A prompt in progress. Dropped before [`Prompt::done`] (Ctrl-C ended the run), it puts the
/// terminal's settings back as they were (echo on again after the password prompt) and ends
/// the prompt's line, so the error starts on a line of its own.
struct Prompt {
    #[cfg(unix)]
    saved: Option<libc::termios>,
    finished: bool,
}

impl Prompt {
    fn start() -> Prompt {
        Prompt {
            #[cfg(unix)]
            saved: {
                // SAFETY: tcgetattr only writes the termios struct it is given.
                let mut t: libc::termios = unsafe { std::mem::zeroed() };
                (unsafe { libc::tcgetattr(0, &mut t) } == 0).then_some(t)
            },
            finished: false,
        }
    }

    fn done(mut self) {
        self.finished = true;
    }
}

impl Drop for Prompt {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        #[cfg(unix)]
        if let Some(t) = &self.saved {
            // SAFETY: t came from tcgetattr on the same descriptor.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
        eprintln!();
    }
}

pub async fn logout(ctx: &Ctx) -> anyhow::Result<()> {
    let base = ctx.client.settings.base.clone();
    let Some(session) = &ctx.client.session else {
        ctx.printer.info(&format!("not logged in to {base}"));
        return Ok(());
    };
    let user = session.user().await;
    // Tell the server; a failure there does not keep the token on disk.
    if let Ok(token) = session.bearer().await {
        let url = endpoint_url(ctx, &cat::LOGOUT)?;
        let sent = ctx
            .client
            .http()
            .get(url)
            .bearer_auth(token.expose())
            .send()
            .await;
        if let Err(e) = sent {
            ctx.printer.warn(&format!(
                "the server's logout did not answer ({e}); the local token is deleted anyway"
            ));
        }
    }
    if let Some(store) = Store::for_server(&ctx.creds, &base) {
        store.remove(&user);
    }
    ctx.printer.info(&format!("logged out {user} from {base}"));
    Ok(())
}

pub async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let base = &ctx.client.settings.base;
    let store = Store::for_server(&ctx.creds, base);
    let cached = store
        .as_ref()
        .and_then(|s| s.current_user().and_then(|u| s.load(&u)));
    match cached {
        None => println!("server: {base}\nlogged in: no (anonymous; public data needs no login)"),
        Some(c) => {
            println!(
                "server: {base}\nuser: {}\naccess token: expires in {}",
                c.user,
                expires_in(c.expires_at)
            );
            match c.refresh_expires_at {
                Some(t) => println!("refresh token: expires in {}", expires_in(t)),
                None => println!("refresh token: no expiry given"),
            }
        }
    }
    Ok(())
}
