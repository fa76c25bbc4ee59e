//! A test Dovecot holding the benchmark's mailbox, for `bench/run`.
//!
//! `bench-server [benchmark|acceptance|empty]` starts a private Dovecot (the integration
//! harness's: loopback only, its own config and users), loads the chosen plan into user
//! `alice` (see `twinbox_integration::corpus`), prints what a client needs as shell
//! assignments followed by `READY`, and stays up until it is killed; the harness's watchdog
//! then stops Dovecot and removes its directory. Runs as root, like the IMAP tests.
//!
//! It also listens on `SLOW_IMAPS_PORT`, a proxy to the implicit-TLS listener that delays
//! every chunk by `BENCH_ONE_WAY_DELAY_MS` (default 25) in each direction: a 50 ms round
//! trip for the benchmark's slow-network variant. Unlike `tc qdisc ... netem` on `lo`, it
//! slows only the benchmark's connections, not every other program on the machine.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use twinbox_integration::corpus::{acceptance_plan, benchmark_plan, fill, FillStats};
use twinbox_integration::dovecot::Dovecot;

fn main() {
    let which = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "benchmark".into());
    let plan = match which.as_str() {
        "benchmark" => Some(benchmark_plan()),
        "acceptance" => Some(acceptance_plan()),
        "empty" => None,
        other => {
            eprintln!("usage: bench-server [benchmark|acceptance|empty] (not {other:?})");
            std::process::exit(2);
        }
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
    let slow_port = start_delay_proxy(dovecot.imaps_port(), Duration::from_millis(delay_ms));
    let mut out = std::io::stdout().lock();
    let lines = [
        format!("IMAP_PORT={}", dovecot.imap_port()),
        format!("IMAPS_PORT={}", dovecot.imaps_port()),
        format!("SLOW_IMAPS_PORT={slow_port}"),
        format!("ONE_WAY_DELAY_MS={delay_ms}"),
        format!("CA_FILE={}", dovecot.ca_cert_path().display()),
        format!("FINGERPRINT={}", dovecot.cert_sha256_fingerprint()),
        format!("SERVER_DIR={}", dovecot.dir().display()),
        "IMAP_USER=alice".to_owned(),
        format!("IMAP_PASSWORD={}", dovecot.password("alice")),
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
