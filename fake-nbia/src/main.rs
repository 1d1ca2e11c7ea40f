//! Standalone fake NBIA server: `fake-nbia [--port 8080] [--host 127.0.0.1] [--bulk-series 500000] [--image-bytes N]`.

use fake_nbia::{Config, FakeServer};

fn usage() -> ! {
    eprintln!("usage: fake-nbia [--port 8080] [--host 127.0.0.1] [--bulk-series 500000] [--image-bytes N]");
    std::process::exit(2)
}

fn main() {
    let mut host = "127.0.0.1".to_string();
    let mut port: u16 = 8080;
    let mut cfg = Config {
        bulk_series: 500_000,
        image_bytes: None,
        ..Config::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .unwrap_or_else(|| usage())
        };
        match name.as_str() {
            "--port" => port = value().parse().unwrap_or_else(|_| usage()),
            "--host" => host = value(),
            "--bulk-series" => cfg.bulk_series = value().parse().unwrap_or_else(|_| usage()),
            "--image-bytes" => cfg.image_bytes = Some(value().parse().unwrap_or_else(|_| usage())),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let server = match FakeServer::bind(&host, port, cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake-nbia: cannot listen on {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!("fake-nbia listening on {}", server.url());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    drop(server);
}
