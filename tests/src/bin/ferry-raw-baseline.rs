//! The machine's limit for `make bench`: copies N MiB over a loopback TCP socket, in plain TCP
//! and through Ferry's own rustls configuration (same provider, versions, certificates and
//! client authentication), with no HTTP, no files and no hashing. The receiver and the sender
//! each run on their own runtime thread, as two processes would.
//!
//!   ferry-raw-baseline tcp|tls [MIB]     prints MB/s

use ferry_core::identity::Identity;
use ferry_core::tls;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CHUNK: usize = 256 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn drain<S: AsyncRead + Unpin>(mut s: S) -> u64 {
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0u64;
    loop {
        match s.read(&mut buf).await {
            Ok(0) => return n,
            Err(e) => {
                eprintln!("ferry-raw-baseline: receiving: {e}");
                return n;
            }
            Ok(k) => n += k as u64,
        }
    }
}

async fn fill<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, total: u64) {
    let buf = vec![0x5au8; CHUNK];
    let mut left = total;
    while left > 0 {
        let k = left.min(CHUNK as u64) as usize;
        s.write_all(&buf[..k]).await.unwrap();
        left -= k as u64;
    }
    s.shutdown().await.unwrap();
    // Read what the server sent (TLS session tickets) until it closes: closing a socket with
    // unread data resets the connection and loses bytes still in flight.
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("tls").to_string();
    let mib: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let total = mib * 1024 * 1024;
    let tls_mode = match mode.as_str() {
        "tls" => true,
        "tcp" => false,
        _ => {
            eprintln!("usage: ferry-raw-baseline tcp|tls [MIB]");
            std::process::exit(2);
        }
    };
    let (server_id, client_id) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let server_cfg = tls::server_config(&server_id).unwrap();
    let receiver = std::thread::spawn(move || {
        runtime().block_on(async move {
            let l = TcpListener::from_std(listener).unwrap();
            let (s, _) = l.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            if tls_mode {
                let s = tokio_rustls::TlsAcceptor::from(server_cfg).accept(s).await.unwrap();
                drain(s).await
            } else {
                drain(s).await
            }
        })
    });
    let fp = server_id.fingerprint().to_string();
    let client_cfg = tls::client_config(&client_id, Some(&fp)).unwrap();
    let started = Instant::now();
    runtime().block_on(async move {
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        if tls_mode {
            let name = rustls::pki_types::ServerName::try_from("ferry").unwrap();
            let s = tokio_rustls::TlsConnector::from(client_cfg).connect(name, s).await.unwrap();
            fill(s, total).await;
        } else {
            fill(s, total).await;
        }
    });
    let got = receiver.join().unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(got, total, "the receiver got {got} of {total} bytes");
    println!("{:.1}", total as f64 / secs / 1e6);
}
