//! Limits of a running server: [`ServerLimits`], the byte budgets for bodies being read, the PIN
//! failure table and the text allowance.

use super::*;

/// Limits and timeouts of a running server. The defaults are what Ferry uses; tests shorten them.
///
/// PIN guessing: every wrong PIN counts against its address (refused after 3) and against one
/// budget shared by all addresses. After `pin_free_failures` wrong PINs, each further wrong PIN
/// locks PIN checks for everyone for `pin_lock_base`, doubling with every further wrong PIN up to
/// `pin_lock_max`; while locked, prepare-upload with a PIN is answered 429 without looking at the
/// PIN, so exactly one guess fits into each lock. The count is forgotten after `pin_forget_after`
/// without a wrong PIN. With the defaults (5 free, 1 s doubling to 120 s, forgotten after an hour)
/// an attacker with any number of addresses gets at most 5 + 7 (locks of 1..64 s, 127 s
/// together) + 29 (120 s locks in the rest of the hour) = 41 guesses in the first hour and 30 in every
/// further one: a 4-digit PIN (10,000 values) has a 0.41 % chance to fall in an hour and needs
/// about 166 hours for even odds. Trusted devices (verified by their TLS certificate) are not held
/// by the lock, so a stranger guessing PINs cannot stop a trusted device from sending.
///
/// The price of that: a 4-digit PIN cannot resist guessing from many addresses *and* stay
/// available to honest strangers. One stranger who sends 6 wrong PINs and then one every 120 s
/// keeps PIN checks locked for every sender that is not a trusted device, for as long as it keeps
/// going (each honest attempt is answered 429 "try again later"). Ferry chooses the PIN's
/// strength; pair with the sender (trust its certificate) to be unaffected. An address refused
/// after 3 wrong PINs is forgotten, like the global count, after `pin_forget_after` without a
/// wrong PIN from it.
///
/// Fairness: when every connection is taken, a new connection from an address (IPv6: a /64)
/// holding fewer than the address holding most closes that address's oldest connection, so a
/// device with few connections always gets in. Bodies: a body must arrive at `min_body_rate`
/// (after `body_grace`), one address holds at most a share of the JSON byte budget, and a
/// reserve of it is kept for trusted devices. An upload that brings less than `min_progress`
/// bytes in a `body_stall_timeout` fails, and only such progress keeps a session alive. A request
/// nobody answers is declined after `request_timeout`; a trusted device arriving meanwhile
/// closes a stranger's unanswered request and goes first. Texts: at most [`MAX_TEXT_BYTES`],
/// `text_burst` at once from one address and then one per `text_interval` (else 429).
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// An upload that brings fewer than `min_progress` bytes in this long fails (the sender may
    /// retry it).
    pub body_stall_timeout: Duration,
    /// See `body_stall_timeout`; also what an upload must bring to count as activity of its session.
    pub min_progress: u64,
    /// Slowest accepted request body (bytes per second), after `body_grace`: a body's deadline is
    /// `body_grace + length / min_body_rate`, at most `small_body_timeout`/`large_body_timeout`.
    pub min_body_rate: u64,
    pub body_grace: Duration,
    /// A request nobody answers is declined after this long.
    pub request_timeout: Duration,
    /// Text messages one address may send at once; then one more per `text_interval`.
    pub text_burst: u32,
    pub text_interval: Duration,
    /// An accepted session without progress (see `min_progress`, or a file saved) for this long
    /// ends as timed out, whether a file is being received or not.
    pub session_idle_timeout: Duration,
    /// Longest deadline for a register body (see `min_body_rate`).
    pub small_body_timeout: Duration,
    /// Longest deadline for a prepare-upload body, text messages included (see `min_body_rate`).
    pub large_body_timeout: Duration,
    /// Time to send a request head, and the longest a kept-alive connection may sit idle.
    pub header_timeout: Duration,
    /// Connections open at once, from everyone.
    pub max_connections: usize,
    /// Connections open at once from one address (IPv6: one /64); more are closed at once.
    pub max_connections_per_ip: usize,
    /// Wrong PINs (all addresses together) before wrong PINs lock PIN checks.
    pub pin_free_failures: u32,
    pub pin_lock_base: Duration,
    pub pin_lock_max: Duration,
    pub pin_forget_after: Duration,
    /// Addresses remembered with their wrong PINs. When full, addresses that are not refused
    /// are forgotten; refused ones never are, and a new address then counts only globally.
    pub pin_table_max: usize,
    /// A browser approved for a share that makes no request and runs no download for this long is
    /// forgotten (it asks again; with `auto_accept` it is approved again at once).
    pub browser_idle_timeout: Duration,
    /// Files plus empty folders one prepare-upload request may carry (parsing stops at the next).
    pub max_files_per_request: usize,
    /// Memory the file lists of prepare-upload requests may take, all together: the lists being
    /// parsed, the frames of their bodies waiting for the parser, and the list of the request
    /// that is asked about or being received (held until its session ends). Over it: 503.
    pub file_list_memory: usize,
    /// What one address (an IPv6 /64) that is not a trusted device may hold of
    /// `file_list_memory` at once (a bigger list is answered 413).
    pub file_list_memory_per_address: usize,
    /// The part of `file_list_memory` only verified trusted devices may use.
    pub file_list_trusted_reserve: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            body_stall_timeout: Duration::from_secs(30),
            min_progress: 64 * 1024,
            min_body_rate: 256 * 1024,
            body_grace: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
            text_burst: 5,
            text_interval: Duration::from_secs(1),
            session_idle_timeout: Duration::from_secs(120),
            small_body_timeout: Duration::from_secs(10),
            large_body_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_connections_per_ip: 24,
            pin_free_failures: 5,
            pin_lock_base: Duration::from_secs(1),
            pin_lock_max: Duration::from_secs(120),
            pin_forget_after: Duration::from_secs(3600),
            pin_table_max: 4096,
            browser_idle_timeout: Duration::from_secs(600),
            max_files_per_request: crate::protocol::MAX_PREPARE_FILES,
            file_list_memory: FILE_LIST_MEMORY,
            file_list_memory_per_address: FILE_LIST_MEMORY_PER_ADDRESS,
            file_list_trusted_reserve: FILE_LIST_TRUSTED_RESERVE,
        }
    }
}

/// The address a share is counted for: IPv4 addresses one by one, IPv6 ones per /64 (what one
/// device can easily hold).
pub(super) fn share_key(ip: IpAddr) -> IpAddr {
    match canonical_ip(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Bytes of bodies being read: all together at most `total`, strangers together at most
/// `total - reserve`, and one stranger's address at most `per_address`.
pub(super) struct ByteBudget {
    pub(super) total: usize,
    pub(super) per_address: usize,
    pub(super) reserve: usize,
    pub(super) used: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

impl ByteBudget {
    pub(super) fn new(total: usize, per_address: usize, reserve: usize) -> Arc<ByteBudget> {
        Arc::new(ByteBudget { total, per_address, reserve, used: Mutex::new((0, HashMap::new())) })
    }
}

/// Bytes held in a [`ByteBudget`] by one body; given back when dropped.
pub(super) struct BudgetHold {
    pub(super) budget: Arc<ByteBudget>,
    pub(super) key: IpAddr,
    pub(super) trusted: bool,
    pub(super) held: usize,
}

impl BudgetHold {
    pub(super) fn try_add(&mut self, n: usize) -> bool {
        let b = &self.budget;
        let mut used = b.used.lock().unwrap();
        let mine = used.1.get(&self.key).copied().unwrap_or(0);
        let cap = if self.trusted { b.total } else { b.total - b.reserve };
        if used.0 + n > cap || (!self.trusted && mine + n > b.per_address) {
            return false;
        }
        used.0 += n;
        *used.1.entry(self.key).or_insert(0) += n;
        self.held += n;
        true
    }
}

impl BudgetHold {
    /// [`BudgetHold::try_add`] saying why not: more than this hold may ever have is
    /// [`ListError::TooLarge`], more than is free now [`ListError::Busy`].
    pub(super) fn take(&mut self, n: usize) -> std::result::Result<(), ListError> {
        if self.try_add(n) {
            return Ok(());
        }
        let b = &self.budget;
        let cap = if self.trusted { b.total } else { (b.total - b.reserve).min(b.per_address) };
        Err(if self.held + n > cap { ListError::TooLarge } else { ListError::Busy })
    }

    /// Gives `n` of the held bytes back.
    pub(super) fn release(&mut self, n: usize) {
        let n = n.min(self.held);
        if n == 0 {
            return;
        }
        let mut used = self.budget.used.lock().unwrap();
        used.0 -= n;
        if let Some(k) = used.1.get_mut(&self.key) {
            *k -= n;
            if *k == 0 {
                used.1.remove(&self.key);
            }
        }
        self.held -= n;
    }
}

impl Drop for BudgetHold {
    fn drop(&mut self) {
        if self.held == 0 {
            return;
        }
        let mut used = self.budget.used.lock().unwrap();
        used.0 -= self.held;
        if let Some(n) = used.1.get_mut(&self.key) {
            *n -= self.held;
            if *n == 0 {
                used.1.remove(&self.key);
            }
        }
    }
}

/// Wrong PINs, per address and all together (see [`ServerLimits`]).
#[derive(Default)]
pub(super) struct PinState {
    /// Wrong PINs per address, and when the last one came.
    pub(super) per_ip: HashMap<IpAddr, (u32, Instant)>,
    pub(super) failures: u32,
    pub(super) last_failure: Option<Instant>,
    pub(super) locked_until: Option<Instant>,
    pub(super) last_event: Option<Instant>,
}

/// Checks the PIN (before the body is parsed). `None` means go on. `trusted`: the connection's
/// certificate is a trusted device's, which the global lock does not hold (see [`ServerLimits`]).
pub(super) fn check_pin(shared: &Shared, ip: IpAddr, trusted: bool, query: Option<&str>) -> Option<Resp> {
    let pin = shared.opts.pin.as_deref()?;
    check_pin_of(&shared.limits, &shared.pin, pin, ip, trusted, query, |e| shared.handler.on_event(e))
}

/// [`check_pin`] against any PIN and failure table (a share has its own); `tell` hears the
/// [`ReceiveEvent::PinFailed`] events.
pub(super) fn check_pin_of(
    limits: &ServerLimits,
    state: &Mutex<PinState>,
    pin: &str,
    ip: IpAddr,
    trusted: bool,
    query: Option<&str>,
    tell: impl FnOnce(ReceiveEvent),
) -> Option<Resp> {
    let now = Instant::now();
    let event = {
        let mut st = state.lock().unwrap();
        let key = share_key(ip);
        if let Some(&(n, last)) = st.per_ip.get(&key) {
            if now.duration_since(last) >= limits.pin_forget_after {
                // Forgotten like the global count: a person who mistyped is not shut out for ever.
                st.per_ip.remove(&key);
            } else if n >= PIN_MAX_FAILURES {
                return Some(message(StatusCode::TOO_MANY_REQUESTS, "Too many attempts"));
            }
        }
        let locked = st.locked_until.is_some_and(|t| now < t);
        if !locked && st.last_failure.is_some_and(|t| now.duration_since(t) >= limits.pin_forget_after) {
            st.failures = 0;
        }
        if locked && !trusted {
            // Not even looked at: one guess per lock, from any number of addresses.
            return Some(message(StatusCode::TOO_MANY_REQUESTS, "Too many wrong PINs; try again later"));
        }
        match query_param(query, "pin") {
            None => return Some(message(StatusCode::UNAUTHORIZED, "PIN required")),
            Some(given) if constant_time_eq(&given, pin) => {
                st.per_ip.remove(&key);
                return None;
            }
            Some(_) => {}
        }
        st.failures = st.failures.saturating_add(1);
        st.last_failure = Some(now);
        if let Some((n, last)) = st.per_ip.get_mut(&key) {
            *n += 1;
            *last = now;
        } else {
            if st.per_ip.len() >= limits.pin_table_max {
                // Make room by forgetting addresses that are not refused (or whose refusal is
                // over); refused ones stay refused, and when none can go the new address counts
                // only globally.
                let forget = limits.pin_forget_after;
                st.per_ip.retain(|_, (n, last)| *n >= PIN_MAX_FAILURES && now.duration_since(*last) < forget);
            }
            if st.per_ip.len() < limits.pin_table_max {
                st.per_ip.insert(key, (1, now));
            }
        }
        let locked_for = (st.failures > limits.pin_free_failures).then(|| {
            let doublings = (st.failures - limits.pin_free_failures - 1).min(30);
            limits.pin_lock_base.saturating_mul(1u32 << doublings).min(limits.pin_lock_max)
        });
        if let Some(d) = locked_for {
            let until = now + d;
            st.locked_until = Some(st.locked_until.map_or(until, |t| t.max(until)));
        }
        let tell = locked_for.is_some() || st.last_event.is_none_or(|t| now.duration_since(t) >= PIN_EVENT_GAP);
        if tell {
            st.last_event = Some(now);
        }
        tell.then(|| ReceiveEvent::PinFailed { ip, failures_total: st.failures, locked_for })
    };
    if let Some(e) = event {
        tell(e);
    }
    Some(message(StatusCode::UNAUTHORIZED, "Invalid PIN"))
}

/// Counts a text message from `ip` against its allowance ([`ServerLimits::text_burst`], one
/// more every [`ServerLimits::text_interval`]).
pub(super) fn text_allowed(shared: &Shared, ip: IpAddr) -> bool {
    let limits = &shared.limits;
    let (burst, every) = (f64::from(limits.text_burst.max(1)), limits.text_interval.as_secs_f64().max(1e-3));
    let now = Instant::now();
    let mut texts = shared.texts.lock().unwrap();
    if texts.len() >= 4096 {
        texts.retain(|_, (left, at)| *left + now.duration_since(*at).as_secs_f64() / every < burst);
        if texts.len() >= 4096 {
            texts.clear();
        }
    }
    let (left, at) = texts.entry(share_key(ip)).or_insert((burst, now));
    *left = (*left + now.duration_since(*at).as_secs_f64() / every).min(burst);
    *at = now;
    if *left < 1.0 {
        return false;
    }
    *left -= 1.0;
    true
}
