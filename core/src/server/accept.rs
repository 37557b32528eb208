//! Accepting connections: a fair share of the connection table per address, the TLS handshake,
//! serving HTTP on each connection and the idle-session watchdog.

use super::*;

/// Open connections, per address (see [`share_key`]), oldest first, each with a token that
/// closes it.
#[derive(Default)]
pub(super) struct ConnTable {
    pub(super) total: usize,
    pub(super) next_id: u64,
    pub(super) by_key: HashMap<IpAddr, std::collections::VecDeque<(u64, CancellationToken)>>,
}

/// One admitted connection; its place is given back when the guard drops.
pub(super) struct ConnSlot {
    pub(super) table: Arc<Mutex<ConnTable>>,
    pub(super) key: IpAddr,
    pub(super) id: u64,
}

impl ConnSlot {
    /// Admits a connection from `key`, or refuses it (`None`). An address never holds more than
    /// `per_key`; when `max` are open, a connection from an address holding fewer than the address
    /// holding most closes that one's oldest connection and takes its place, so a device with few
    /// connections always gets in however many addresses flood.
    pub(super) fn take(table: &Arc<Mutex<ConnTable>>, key: IpAddr, max: usize, per_key: usize) -> Option<(ConnSlot, CancellationToken)> {
        let mut t = table.lock().unwrap();
        let mine = t.by_key.get(&key).map_or(0, |v| v.len());
        if mine >= per_key {
            return None;
        }
        if t.total >= max {
            let (victim, most) = t.by_key.iter().map(|(k, v)| (*k, v.len())).max_by_key(|(_, n)| *n)?;
            if most <= mine + 1 {
                return None;
            }
            let list = t.by_key.get_mut(&victim).expect("present");
            let (_, stop) = list.pop_front().expect("not empty");
            if list.is_empty() {
                t.by_key.remove(&victim);
            }
            stop.cancel();
            t.total -= 1;
            tracing::debug!("all connections taken; closed the oldest of {victim} ({most} open)");
        }
        let id = t.next_id;
        t.next_id += 1;
        let stop = CancellationToken::new();
        t.by_key.entry(key).or_default().push_back((id, stop.clone()));
        t.total += 1;
        Some((ConnSlot { table: table.clone(), key, id }, stop))
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut t = self.table.lock().unwrap();
        let Some(list) = t.by_key.get_mut(&self.key) else { return };
        let Some(pos) = list.iter().position(|(id, _)| *id == self.id) else { return };
        list.remove(pos);
        if list.is_empty() {
            t.by_key.remove(&self.key);
        }
        t.total -= 1;
    }
}

pub(super) async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    // Every address gets a bounded share, and a full table makes room for whoever holds least.
    let table: Arc<Mutex<ConnTable>> = Arc::new(Mutex::new(ConnTable::default()));
    let (max, per_key) = (shared.limits.max_connections.max(1), shared.limits.max_connections_per_ip.max(1));
    loop {
        let (tcp, addr) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let ip = canonical_ip(addr.ip());
        let Some((slot, evicted)) = ConnSlot::take(&table, share_key(ip), max, per_key) else {
            tracing::debug!("too many connections from {ip}; closing a new one");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let scope = match addr {
                SocketAddr::V6(v6) => v6.scope_id(),
                SocketAddr::V4(_) => 0,
            };
            let work = async {
                match tls {
                    Some(acceptor) => {
                        let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!("TLS handshake with {addr} failed: {e}");
                                return;
                            }
                            Err(_) => return,
                        };
                        let peer_fp = crate::tls::peer_fingerprint(stream.get_ref().1.peer_certificates());
                        serve(stream, shared, ip, scope, peer_fp).await
                    }
                    None => serve(tcp, shared, ip, scope, None).await,
                }
            };
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = evicted.cancelled() => {}
                _ = work => {}
            }
        });
    }
}

pub(super) async fn serve<S>(stream: S, shared: Arc<Shared>, ip: IpAddr, scope: u32, peer_fp: Option<String>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer_fp = Arc::new(peer_fp);
    // Also closes a kept-alive connection on which no new request starts in this time.
    let shared_timeout = shared.limits.header_timeout;
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let peer_fp = peer_fp.clone();
        async move { Ok::<_, std::convert::Infallible>(route_web(shared, ip, scope, peer_fp.as_deref(), req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared_timeout)
        .keep_alive(true)
        // Bounds what one connection buffers (a request head, a piece of body).
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = conn.await {
        tracing::debug!("connection from {ip} ended: {e}");
    }
}

pub(super) async fn idle_watchdog(shared: Arc<Shared>, stop: CancellationToken) {
    let idle_limit = shared.limits.session_idle_timeout;
    let mut tick = tokio::time::interval((idle_limit / 4).clamp(Duration::from_millis(100), Duration::from_secs(5)));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = shared.now_ms();
        // Counted from the last byte that arrived: a file being received that stopped arriving
        // does not keep the session (and so every other sender) waiting.
        let stale = {
            let guard = shared.session.lock().unwrap();
            guard.as_ref().and_then(|s| {
                let idle = now.saturating_sub(s.last_activity.load(Ordering::Relaxed));
                (s.phase == Phase::Active && idle > idle_limit.as_millis() as u64).then(|| s.id.clone())
            })
        };
        if let Some(id) = stale {
            end_session(&shared, Some(&id), SessionOutcome::TimedOut);
        }
    }
}
