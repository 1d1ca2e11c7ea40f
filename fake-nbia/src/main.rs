//! Standalone fake NBIA server: `fake-nbia [--port 8080] [--host 127.0.0.1] [--bulk-series 500000] [--image-bytes N]`,
//! or the fake IDC bucket: `fake-nbia bucket [--port P] [--host H] [--gcs] [--bulk-series 50
//! --bulk-objects 200 --bulk-object-bytes 512000] [--object-bytes N] [--max-keys-cap N] [--no-sidecars]`.

use fake_nbia::{BucketConfig, Config, FakeBucket, FakeServer};

fn bucket_usage() -> ! {
    eprintln!("usage: fake-nbia bucket [--port 9000] [--host 127.0.0.1] [--gcs] [--bulk-series N] [--bulk-objects N] [--bulk-object-bytes N] [--object-bytes N] [--max-keys-cap N] [--multipart-every N] [--composite-every N] [--goog-hash-split] [--no-sidecars]");
    std::process::exit(2)
}

fn wait_for_ctrl_c() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
}

/// Each `--name value` or `--name=value` flag, handed to `on` with a way to take its value;
/// a flag that lacks its value ends the program with `usage`.
fn each_flag(
    mut args: impl Iterator<Item = String>,
    usage: fn() -> !,
    mut on: impl FnMut(&str, &mut dyn FnMut() -> String),
) {
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
        on(&name, &mut value);
    }
}

/// A flag's number, or `usage`.
fn num<T: std::str::FromStr>(v: String, usage: fn() -> !) -> T {
    v.parse().unwrap_or_else(|_| usage())
}

fn bucket_main(args: impl Iterator<Item = String>) {
    let mut host = "127.0.0.1".to_string();
    let mut port: u16 = 9000;
    let mut cfg = BucketConfig::default();
    let u: fn() -> ! = bucket_usage;
    each_flag(args, u, |name, value| match name {
        "--port" => port = num(value(), u),
        "--host" => host = value(),
        "--gcs" => cfg.gcs = true,
        "--bulk-series" => cfg.bulk_series = num(value(), u),
        "--bulk-objects" => cfg.bulk_objects = num(value(), u),
        "--bulk-object-bytes" => cfg.bulk_object_bytes = num(value(), u),
        "--object-bytes" => cfg.object_bytes = Some(num(value(), u)),
        "--max-keys-cap" => cfg.max_keys_cap = num(value(), u),
        "--multipart-every" => cfg.multipart_every = num(value(), u),
        "--composite-every" => cfg.composite_every = num(value(), u),
        "--no-sidecars" => cfg.sidecars = false,
        "--goog-hash-split" => cfg.goog_hash_split = true,
        _ => u(),
    });
    let bucket = match FakeBucket::bind(&host, port, cfg) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("fake-bucket: cannot listen on {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!("fake-bucket listening on {}", bucket.url());
    wait_for_ctrl_c();
    drop(bucket);
}

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
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("bucket") {
        args.next();
        bucket_main(args);
        return;
    }
    let u: fn() -> ! = usage;
    each_flag(args, u, |name, value| match name {
        "--port" => port = num(value(), u),
        "--host" => host = value(),
        "--bulk-series" => cfg.bulk_series = num(value(), u),
        "--image-bytes" => cfg.image_bytes = Some(num(value(), u)),
        _ => u(),
    });
    let server = match FakeServer::bind(&host, port, cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake-nbia: cannot listen on {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!("fake-nbia listening on {}", server.url());
    wait_for_ctrl_c();
    drop(server);
}
