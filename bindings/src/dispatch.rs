//! Delivery of events to the app's listeners. Each listener gets its own dispatcher thread and
//! queue, so that Ferry's own threads only queue an event (a short lock, never a foreign call)
//! and go on: a slow listener delays only its own events, and one that throws (or panics) loses
//! only that call. Progress events coalesce (a newer one for the same file replaces the queued
//! one), so a listener that cannot keep up sees fewer, current updates and the queue stays as
//! long as the transfer's other events, whatever the speed of the transfer.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// An event that may stand for an older one still waiting in the queue.
pub(crate) trait Coalesce {
    /// True when `self` makes `older` (queued before it) useless: the older one is dropped and
    /// `self` takes its turn at the end of the queue (so running totals never go back).
    fn replaces(&self, older: &Self) -> bool;
}

struct Queue<E> {
    events: VecDeque<E>,
    closed: bool,
}

struct Shared<E> {
    queue: Mutex<Queue<E>>,
    ready: Condvar,
}

impl<E> Shared<E> {
    /// The queue, whatever happened to another holder of the lock (nothing that can panic runs
    /// under it, but a poisoned lock must never stop events).
    fn lock(&self) -> MutexGuard<'_, Queue<E>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A queue drained by one thread that hands each event to `deliver`. Closed (and its thread ends
/// after the queued events) when dropped or on [`Dispatcher::close`].
pub(crate) struct Dispatcher<E: Coalesce + Send + 'static> {
    shared: Arc<Shared<E>>,
}

impl<E: Coalesce + Send + 'static> Dispatcher<E> {
    /// Starts the thread. `deliver` runs there, one event at a time, in queue order; a panic in
    /// it (a foreign exception uniffi could not turn into an error) is caught and logged.
    pub(crate) fn new(name: &str, deliver: impl Fn(E) + Send + 'static) -> Self {
        let shared = Arc::new(Shared { queue: Mutex::new(Queue { events: VecDeque::new(), closed: false }), ready: Condvar::new() });
        let worker = shared.clone();
        let what = name.to_string();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || loop {
                let event = {
                    let mut q = worker.lock();
                    loop {
                        if let Some(e) = q.events.pop_front() {
                            break e;
                        }
                        if q.closed {
                            return;
                        }
                        q = worker.ready.wait(q).unwrap_or_else(|p| p.into_inner());
                    }
                };
                // No lock is held here: the app's code may take as long as it likes.
                if std::panic::catch_unwind(AssertUnwindSafe(|| deliver(event))).is_err() {
                    tracing::warn!("{what}: the app's listener failed; later events are still delivered");
                }
            })
            .expect("the event thread starts");
        Dispatcher { shared }
    }

    /// Queues an event (never blocks on the listener).
    pub(crate) fn send(&self, event: E) {
        let mut q = self.shared.lock();
        if q.closed {
            return;
        }
        if let Some(i) = q.events.iter().rposition(|older| event.replaces(older)) {
            q.events.remove(i);
        }
        q.events.push_back(event);
        drop(q);
        self.shared.ready.notify_one();
    }

    /// No more events: the thread delivers what is queued, then ends.
    pub(crate) fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
    }

    /// How many events wait (for tests).
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.shared.lock().events.len()
    }
}

impl<E: Coalesce + Send + 'static> Drop for Dispatcher<E> {
    fn drop(&mut self) {
        self.close();
    }
}

/// Logs a listener's error (a thrown exception) and carries on.
pub(crate) fn logged(what: &str, result: Result<(), crate::ListenerError>) {
    if let Err(e) = result {
        tracing::warn!("{what}: the app's listener threw: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    #[derive(Debug, PartialEq)]
    enum Ev {
        Progress(&'static str, u64),
        Done(&'static str),
    }
    impl Coalesce for Ev {
        fn replaces(&self, older: &Self) -> bool {
            matches!((self, older), (Ev::Progress(a, _), Ev::Progress(b, _)) if a == b)
        }
    }

    #[test]
    fn a_slow_or_failing_listener_never_blocks_the_sender_and_gets_current_events() {
        let (tx, rx) = mpsc::channel();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let gate = Mutex::new(gate_rx);
        let d = Dispatcher::new("ferry-test-events", move |e: Ev| {
            // The first call waits for the test; every call panics after reporting.
            if e == Ev::Progress("warm", 0) {
                let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(10));
            }
            tx.send(e).unwrap();
            panic!("the listener throws");
        });
        d.send(Ev::Progress("warm", 0));
        let t = Instant::now();
        for i in 0..100_000 {
            d.send(Ev::Progress("a", i));
        }
        d.send(Ev::Done("a"));
        d.send(Ev::Progress("b", 1));
        assert!(t.elapsed() < Duration::from_secs(5), "queuing waited for the listener: {:?}", t.elapsed());
        assert!(d.queued() <= 3, "progress did not coalesce: {}", d.queued());
        gate_tx.send(()).unwrap();
        let got: Vec<Ev> = (0..4).map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        assert_eq!(got, vec![Ev::Progress("warm", 0), Ev::Progress("a", 99_999), Ev::Done("a"), Ev::Progress("b", 1)]);
    }
}
