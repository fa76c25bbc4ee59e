//! A test Dovecot holding the benchmark's mailbox, for `bench/run`.
//!
//! `bench-server benchmark|acceptance|empty|sized GROUPS GENERATED` starts a private
//! Dovecot (the integration harness's: loopback only, its own config and users), loads the
//! chosen plan into user `alice` (see `twinbox_integration::corpus`; `sized` is
//! `sized_benchmark_plan` with the SpamAssassin groups `GROUPS`, comma-separated or `none`,
//! and `GENERATED` generated messages), prints what a client needs as shell assignments
//! followed by `READY`, and stays up until it is killed; the harness's watchdog then stops
//! Dovecot and removes its directory. User `bob` stays empty, for the upload step. Runs as
//! root, like the IMAP tests.
//!
//! It also listens on `SLOW_IMAP_PORT` and `SLOW_IMAPS_PORT`, proxies to the plain and the
//! implicit-TLS listener that delay every chunk by `BENCH_ONE_WAY_DELAY_MS` (default 25) in
//! each direction: a 50 ms round trip for the benchmark's slow-network variants. Unlike
//! `tc qdisc ... netem` on `lo`, they slow only the benchmark's connections, not every other
//! program on the machine.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use twinbox_integration::corpus::{
    acceptance_plan, benchmark_plan, fill, sized_benchmark_plan, FillStats, SPAM_ASSASSIN_GROUPS,
};
use twinbox_integration::dovecot::Dovecot;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plan = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] | ["benchmark"] => Some(benchmark_plan()),
        ["acceptance"] => Some(acceptance_plan()),
        ["empty"] => None,
        ["sized", groups, generated] => {
            let groups: Vec<&'static str> = match groups {
                "none" | "" => Vec::new(),
                "all" => SPAM_ASSASSIN_GROUPS.to_vec(),
                list => list
                    .split(',')
                    .map(|g| {
                        SPAM_ASSASSIN_GROUPS
                            .iter()
                            .copied()
                            .find(|known| *known == g)
                            .unwrap_or_else(|| {
                                eprintln!(
                                    "bench-server: no SpamAssassin group {g:?} (there are \
                                     {SPAM_ASSASSIN_GROUPS:?})"
                                );
                                std::process::exit(2)
                            })
                    })
                    .collect(),
            };
            let Ok(generated) = generated.parse() else {
                usage(&args)
            };
            if generated > 170_000 {
                eprintln!("bench-server: at most 170,000 generated messages");
                std::process::exit(2);
            }
            Some(sized_benchmark_plan(&groups, generated))
        }
        _ => usage(&args),
    };
    let dovecot = Dovecot::start_default();
    let started = Instant::now();
    let stats = match &plan {
        Some(plan) => fill(&dovecot, "alice", plan),
        None => FillStats::default(),
    };
    let folders = plan.map(|p| p.folders.len()).unwrap_or(0);
    let delay_ms: u64 = std::env::var("BENCH_ONE_WAY_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let delay = Duration::from_millis(delay_ms);
    let slow_imap_port = start_delay_proxy(dovecot.imap_port(), delay);
    let slow_imaps_port = start_delay_proxy(dovecot.imaps_port(), delay);
    let mut out = std::io::stdout().lock();
    let lines = [
        format!("IMAP_PORT={}", dovecot.imap_port()),
        format!("IMAPS_PORT={}", dovecot.imaps_port()),
        format!("SLOW_IMAP_PORT={slow_imap_port}"),
        format!("SLOW_IMAPS_PORT={slow_imaps_port}"),
        format!("ONE_WAY_DELAY_MS={delay_ms}"),
        format!("CA_FILE={}", dovecot.ca_cert_path().display()),
        format!("FINGERPRINT={}", dovecot.cert_sha256_fingerprint()),
        format!("SERVER_DIR={}", dovecot.dir().display()),
        "IMAP_USER=alice".to_owned(),
        format!("IMAP_PASSWORD={}", dovecot.password("alice")),
        format!("MAIL_DIR={}", dovecot.user_mail_dir("alice").display()),
        "UPLOAD_USER=bob".to_owned(),
        format!("UPLOAD_PASSWORD={}", dovecot.password("bob")),
        format!("UPLOAD_MAIL_DIR={}", dovecot.user_mail_dir("bob").display()),
        format!("DOVECOT_CONFIG={}", dovecot.config_path().display()),
        format!("FOLDERS={folders}"),
        format!("MESSAGES={}", stats.messages),
        format!("BYTES={}", stats.bytes),
        format!("FILL_SECONDS={:.1}", started.elapsed().as_secs_f64()),
        "READY".to_owned(),
    ];
    for line in lines {
        writeln!(out, "{line}").expect("write to stdout");
    }
    out.flush().expect("flush stdout");
    drop(out);
    loop {
        std::thread::park();
    }
}

fn usage(args: &[String]) -> ! {
    eprintln!(
        "usage: bench-server benchmark|acceptance|empty|sized GROUPS GENERATED (not {args:?})"
    );
    std::process::exit(2);
}

/// A loopback proxy to `target` adding `delay` to every chunk in both directions (latency
/// only: chunks are queued, never held back by the ones behind them). Returns its port.
fn start_delay_proxy(target: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the delay proxy");
    let port = listener.local_addr().expect("the proxy's address").port();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            thread::spawn(move || {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    return;
                };
                thread::spawn(move || delayed_copy(client, server2, delay));
                delayed_copy(server, client2, delay);
            });
        }
    });
    port
}

/// Copies `from` to `to`, each chunk sent `delay` after it was read; then half-closes `to`.
fn delayed_copy(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (queue, due) = mpsc::channel::<(Instant, Vec<u8>)>();
    let reader = thread::spawn(move || {
        let mut buffer = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buffer) {
            if queue
                .send((Instant::now() + delay, buffer[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    });
    for (at, chunk) in due {
        thread::sleep(at.saturating_duration_since(Instant::now()));
        if to.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = reader.join();
}
