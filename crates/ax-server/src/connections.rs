//! The accept loop: one task per TCP connection (TCP_NODELAY on), HTTP/1.1 or HTTP/2
//! with prior knowledge, timeouts and a cap on open connections, and a graceful stop
//! that lets in-flight requests finish.
//!
//! Why not `axum::serve`: it hands every connection to hyper-util's auto builder, which
//! *reads* up to 24 bytes to tell the HTTP/2 preface from HTTP/1 and replays them to
//! hyper. hyper's 8 KiB read buffer then holds those bytes when it reserves another
//! 8 KiB, so `BytesMut` doubles it to 16 KiB for the rest of the connection's life:
//! ~80 MB across 10,000 held streams. Here the version is told by *peeking*, which
//! leaves the bytes in the socket, and hyper starts from an empty buffer.
//!
//! **Timeouts.** Each connection's own task keeps its clock; nothing wakes per request.
//! - *Header read* (`header_read_timeout`): from accept, a client has that long to send
//!   its first request's head (the protocol sniff waits no longer either); on HTTP/1,
//!   each later head has as long again from its first byte.
//! - *Idle* (`idle_timeout`): a connection with no request in flight that long is
//!   closed. A request is in flight from its parsed head until its response body has
//!   been sent to the end (or dropped), so a stream of any length is never cut.
//! - hyper's own `header_read_timeout` is not used: its clock starts when hyper begins
//!   waiting for a head, idle keep-alive time included, so it would close every
//!   keep-alive connection idle for 10 s, and it arms a timer for every request.
//! - A connection told to close (timeout, eviction, stop) is shut down gracefully (an
//!   idle HTTP/1 connection closes at once; HTTP/2 gets GOAWAY); if it still has no
//!   request in flight [`CLOSE_GRACE`] later (a client that never acknowledges the
//!   GOAWAY), it is dropped.
//!
//! **Cap.** At most `max_connections` connections are served in full. A connection
//! past the cap first evicts a connection with no request in flight (silent, idle
//! keep-alive, or still dripping its head: all free for a client to hold), the one idle
//! longest of the first [`EVICTION_SAMPLE`] found. When every connection has a request
//! in flight, the new one is served from a reserve of [`OPS_RESERVE`] connections that
//! reach only `/healthz`, `/readyz`, `/metrics` and `/admin/…`; anything else gets
//! `503 overloaded` in the client's format with `Retry-After: 1` and
//! `Connection: close`. Past the cap and the reserve a connection is closed unanswered:
//! answering would need the descriptors the limit is there to keep; but while some of
//! those are held by connections already told to make room, the accept loop waits for
//! them to close (at most [`CLOSE_GRACE`]) instead, since their tasks may simply not
//! have run yet during a burst of accepts. The default cap comes from the open-file
//! soft limit: a proxied request holds two descriptors (the client's and the
//! upstream's), after [`PROCESS_FDS`] for the process and one each for the reserve.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use ax_core::{ErrorCode, GatewayError};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Version, header};
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::ServerSettings;
use crate::state::AppState;

/// What every HTTP/2 connection sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long to back off after an accept error that is not about one connection
/// (out of file descriptors, for one), instead of spinning on it.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Descriptors the process keeps beside client connections: the listener, the store
/// (database, WAL, shared memory, pool), epoll, stdio, upstream DNS and the like.
const PROCESS_FDS: u64 = 64;

/// Connections accepted past the cap that may reach only the operator endpoints.
pub(crate) const OPS_RESERVE: usize = 16;

/// The cap when the open-file limit is unlimited (or unknown).
const UNLIMITED_CAP: usize = 1 << 20;

/// How long a connection told to close may take to finish on its own while no request
/// is in flight, before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How many connections without a request in flight an eviction looks at before
/// picking the one idle longest (a full scan at every accept past the cap would cost
/// O(open connections)).
const EVICTION_SAMPLE: usize = 64;

/// hyper's own limit on header lines, above ours ([`crate::header_limit::MAX_HEADERS`]):
/// a request with a few too many gets our 431 with a body and a log row instead of
/// hyper's empty one. Past this, hyper answers. Raising it costs a heap buffer per
/// parsed head (hyper keeps 100 on the stack), so it stays modest.
const HYPER_MAX_HEADERS: usize = 256;

/// "No time recorded" in the millisecond clocks of [`ConnState`].
const NEVER: u64 = u64::MAX;

/// Which protocol a new connection speaks, told from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sniffed {
    /// Anything that does not start with the HTTP/2 preface (or an empty read).
    Http1,
    /// The whole HTTP/2 preface is there.
    Http2,
    /// Only a fragment of the preface has arrived; let hyper-util read the rest.
    Unsure,
}

/// The connection limits in force: timeouts, the cap and its reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Time to send a request's head (the first from accept; later ones from their
    /// first byte, HTTP/1).
    pub(crate) header_read_timeout: Duration,
    /// Time a connection may sit with no request in flight.
    pub(crate) idle_timeout: Duration,
    /// Connections served in full.
    pub(crate) max_connections: usize,
    /// Connections past the cap kept for the operator endpoints.
    pub(crate) reserve: usize,
}

impl Limits {
    /// The limits of `settings`, the cap derived from the open-file limit when unset.
    pub(crate) fn new(settings: &ServerSettings) -> Self {
        Self {
            header_read_timeout: settings.header_read_timeout,
            idle_timeout: settings.idle_timeout,
            max_connections: settings
                .max_connections
                .unwrap_or_else(|| default_cap(open_file_limit())),
            reserve: OPS_RESERVE,
        }
    }

    /// How often a connection's clock is looked at while nothing is due: a new head's
    /// first byte moves the deadline without waking the task, so it is seen at the
    /// next look, at most a quarter of the shorter timeout late.
    fn check_every(&self) -> Duration {
        (self.header_read_timeout.min(self.idle_timeout) / 4).max(Duration::from_millis(10))
    }
}

/// The open-file soft limit of this process; `None` when unlimited or unknown.
fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The default cap for an open-file soft limit: what is left after the process's own
/// descriptors and the reserve, two descriptors per proxied request.
fn default_cap(soft_limit: Option<u64>) -> usize {
    let Some(soft) = soft_limit else {
        return UNLIMITED_CAP;
    };
    let spare = soft.saturating_sub(PROCESS_FDS + OPS_RESERVE as u64) / 2;
    usize::try_from(spare)
        .unwrap_or(UNLIMITED_CAP)
        .clamp(1, UNLIMITED_CAP)
}

/// What a connection's task and its requests share.
struct ConnState {
    /// When the connection was accepted; the clocks below count ms from here.
    accepted: Instant,
    /// Requests in flight: head parsed, response body not yet sent to its end.
    active: AtomicUsize,
    /// Whether any request has begun.
    served: AtomicBool,
    /// Whether the client speaks HTTP/2 (its heads are not timed one by one).
    http2: AtomicBool,
    /// When a request last ended.
    idle_since: AtomicU64,
    /// When the first byte of a head arrived with no request in flight, or [`NEVER`].
    head_started: AtomicU64,
    /// Set once the accept loop has asked this connection to make room.
    evicted: AtomicBool,
    /// Wakes the connection's task after `evicted` is set.
    evict: Notify,
}

impl ConnState {
    fn new() -> Self {
        Self {
            accepted: Instant::now(),
            active: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            http2: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NEVER),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
        }
    }

    /// Milliseconds from accept to `at`.
    fn ms_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.accepted).as_millis()).unwrap_or(NEVER - 1)
    }

    /// A request's head was parsed: it is in flight until the guard drops.
    fn begin(self: &Arc<Self>, http2: bool) -> InFlight {
        if http2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.served.store(true, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NEVER, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Bytes arrived: with no request in flight they start a head (HTTP/1).
    fn note_read(&self) {
        if self.active.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == NEVER
        {
            let now = self.ms_at(Instant::now());
            self.head_started.store(now, Ordering::Relaxed);
        }
    }

    /// How long this connection has had no request in flight, or `None` if it has one
    /// (or is already being evicted).
    fn idle_for(&self, now: Instant) -> Option<u64> {
        if self.active.load(Ordering::Acquire) > 0 || self.evicted.load(Ordering::Relaxed) {
            return None;
        }
        let since = if self.served.load(Ordering::Relaxed) {
            self.idle_since.load(Ordering::Relaxed)
        } else {
            0
        };
        Some(self.ms_at(now).saturating_sub(since))
    }

    /// Asks the connection to close to make room; false if it was asked already.
    fn evict(&self) -> bool {
        if self.evicted.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.evict.notify_one();
        true
    }

    fn snapshot(&self, now: Instant) -> Snapshot {
        Snapshot {
            now: self.ms_at(now),
            active: self.active.load(Ordering::Acquire),
            served: self.served.load(Ordering::Relaxed),
            http2: self.http2.load(Ordering::Relaxed),
            idle_since: self.idle_since.load(Ordering::Relaxed),
            head_started: self.head_started.load(Ordering::Relaxed),
        }
    }
}

/// Keeps one request counted as in flight; dropped with its response body.
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let conn = &self.0;
        // Stamped before the count drops, so whoever sees zero sees a recent time
        // (with HTTP/2 streams ending together, either stamp is recent).
        conn.head_started.store(NEVER, Ordering::Relaxed);
        conn.idle_since
            .store(conn.ms_at(Instant::now()), Ordering::Relaxed);
        conn.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's state as read at one moment (milliseconds from accept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    now: u64,
    active: usize,
    served: bool,
    http2: bool,
    idle_since: u64,
    head_started: u64,
}

/// Why a connection is closed (for the trace log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// A head took longer than `header_read_timeout`.
    HeaderTimeout,
    /// No request in flight for `idle_timeout`.
    IdleTimeout,
}

/// What a connection's clock says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Close it.
    Close(Reason),
    /// Look again at this many milliseconds from accept.
    CheckAt(u64),
}

/// Applies the timeouts to a connection's state.
fn verdict(s: Snapshot, limits: &Limits) -> Verdict {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NEVER / 2);
    let step = ms(limits.check_every());
    if s.active > 0 {
        // Nothing can be due before the request ends; look again later.
        return Verdict::CheckAt(s.now.saturating_add(step));
    }
    let header = ms(limits.header_read_timeout);
    let (deadline, reason) = if !s.served {
        (header, Reason::HeaderTimeout)
    } else if !s.http2 && s.head_started != NEVER {
        (s.head_started.saturating_add(header), Reason::HeaderTimeout)
    } else {
        (
            s.idle_since.saturating_add(ms(limits.idle_timeout)),
            Reason::IdleTimeout,
        )
    };
    if s.now >= deadline {
        Verdict::Close(reason)
    } else {
        Verdict::CheckAt(deadline.min(s.now.saturating_add(step)))
    }
}

/// How a new connection is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// In full.
    Serve,
    /// From the reserve: operator endpoints only.
    OpsOnly,
    /// Not at all: closed at once.
    Refuse,
}

/// Decides a new connection's admission from the number already open; `make_room`
/// evicts an idle connection and says whether it found one.
fn admission(open: usize, limits: &Limits, make_room: impl FnOnce() -> bool) -> Admission {
    if open >= limits.max_connections.saturating_add(limits.reserve) {
        Admission::Refuse
    } else if open < limits.max_connections || make_room() {
        Admission::Serve
    } else {
        Admission::OpsOnly
    }
}

/// Every open connection, for the cap and for eviction.
#[derive(Default)]
struct Registry {
    open: Mutex<Open>,
    /// Signalled when an evicted connection has closed.
    room: Notify,
}

/// The open connections and how many of them were told to make room.
#[derive(Default)]
struct Open {
    conns: HashMap<u64, Arc<ConnState>>,
    evicting: usize,
}

impl Registry {
    /// Admits connection `id` (registering it unless refused); also says whether
    /// evicted connections are still closing (room is on its way).
    fn admit(&self, id: u64, conn: &Arc<ConnState>, limits: &Limits) -> (Admission, bool) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.conns.len();
        let decided = admission(count, limits, || evict_idlest(&mut open, Instant::now()));
        if decided != Admission::Refuse {
            open.conns.insert(id, Arc::clone(conn));
        }
        (decided, open.evicting > 0)
    }

    /// Evicts up to `n` connections with no request in flight; how many it evicted.
    fn evict_idle(&self, n: usize) -> usize {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        (0..n).take_while(|_| evict_idlest(&mut open, now)).count()
    }

    fn remove(&self, id: u64) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(conn) = open.conns.remove(&id) else {
            return;
        };
        if conn.evicted.load(Ordering::Acquire) {
            open.evicting = open.evicting.saturating_sub(1);
            drop(open);
            self.room.notify_one();
        }
    }
}

/// Evicts the connection idle longest among the first [`EVICTION_SAMPLE`] with no
/// request in flight; false if there is none.
fn evict_idlest(open: &mut Open, now: Instant) -> bool {
    let evicted = open
        .conns
        .values()
        .filter_map(|c| c.idle_for(now).map(|idle| (idle, c)))
        .take(EVICTION_SAMPLE)
        .max_by_key(|(idle, _)| *idle)
        .is_some_and(|(_, c)| c.evict());
    if evicted {
        open.evicting += 1;
    }
    evicted
}

/// Removes a connection from the registry when its task ends.
struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

/// What every connection task shares.
struct Shared {
    app: Router,
    state: AppState,
    limits: Limits,
    builder: auto::Builder<TokioExecutor>,
}

/// Serves `app` on `listener` until `stop` resolves; then stops accepting, asks every
/// connection to finish its in-flight requests and close, and returns once all have.
/// `state` answers the requests refused before `app` sees them.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    tracing::info!(
        max_connections = limits.max_connections,
        reserve = limits.reserve,
        header_read_timeout_ms = limits.header_read_timeout.as_millis(),
        idle_timeout_ms = limits.idle_timeout.as_millis(),
        "connection limits"
    );
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No timer for HTTP/1: each connection's own clock bounds every head (see the
    // module documentation), and with a timer hyper arms a header-read sleep for every
    // request (an allocation and two timer-wheel updates per request, callgrind).
    builder
        .http1()
        .header_read_timeout(None)
        .max_headers(HYPER_MAX_HEADERS);
    builder.http2().timer(TokioTimer::new());
    let shared = Arc::new(Shared {
        // Turn every route into its final form once: serving the `Router` as it is
        // rebuilds its route table (~9 KB) for every connection, ~90 MB over 10,000
        // held streams.
        app: app.with_state(()),
        state,
        limits,
        builder,
    });
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each connection task holds a receiver; `closed()` resolves when the last is gone.
    let (alive_tx, alive_rx) = watch::channel(());
    let mut stop = std::pin::pin!(stop);
    let mut next_id: u64 = 0;
    let mut last_warning: Option<Instant> = None;
    'accept: loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                if let Some(pause) = pause_after(&e) {
                    // Out of descriptors: free some held by idle connections, so the
                    // next accept after the pause finds room.
                    let freed = registry.evict_idle(OPS_RESERVE);
                    if freed > 0 {
                        tracing::warn!(freed, "closed idle connections to free descriptors");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = &mut stop => break,
                    }
                }
                continue;
            }
        };
        next_id += 1;
        let conn = Arc::new(ConnState::new());
        let admitted = loop {
            let (admitted, room_coming) = registry.admit(next_id, &conn, &limits);
            if admitted != Admission::Refuse || !room_coming {
                break admitted;
            }
            // Every descriptor is taken, some by connections told to make room that
            // have not closed yet (their tasks run after this loop): wait for one
            // rather than refuse. Those close at once, or within `CLOSE_GRACE`.
            tokio::select! {
                () = registry.room.notified() => {}
                () = tokio::time::sleep(CLOSE_GRACE) => break Admission::Refuse,
                () = &mut stop => break 'accept,
            }
        };
        if admitted != Admission::Serve
            && last_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
        {
            last_warning = Some(Instant::now());
            tracing::warn!(
                max_connections = limits.max_connections,
                reserve = limits.reserve,
                "connection cap reached with every connection busy: new connections get \
                 only the operator endpoints, then are closed (AX_MAX_CONNECTIONS)"
            );
        }
        if admitted == Admission::Refuse {
            drop(tcp);
            continue;
        }
        // Without TCP_NODELAY every small response on a reused connection can stall
        // ~40 ms on delayed ACKs.
        let _ = tcp.set_nodelay(true);
        let registered = Registered {
            registry: Arc::clone(&registry),
            id: next_id,
        };
        tokio::spawn(serve_connection(
            tcp,
            Arc::clone(&shared),
            conn,
            admitted == Admission::OpsOnly,
            stop_rx.clone(),
            (alive_rx.clone(), registered),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(alive_rx);
    alive_tx.closed().await;
}

/// Serves one connection until the client closes it, a timeout or an eviction closes
/// it, or, after a stop, until its in-flight requests are done.
async fn serve_connection(
    tcp: TcpStream,
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
    ops_only: bool,
    mut stop: watch::Receiver<bool>,
    _alive: (watch::Receiver<()>, Registered),
) {
    let limits = shared.limits;
    let first_head_due = conn.accepted + limits.header_read_timeout;
    let sniffed = tokio::select! {
        sniffed = sniff(&tcp) => sniffed,
        () = tokio::time::sleep_until(first_head_due) => {
            tracing::trace!("connection closed: nothing received within the header read timeout");
            return;
        }
        () = conn.evict.notified() => return,
        _ = stop.wait_for(|stopped| *stopped) => return,
    };
    let builder = shared.builder.clone();
    let builder = match sniffed {
        Sniffed::Http1 => builder.http1_only(),
        Sniffed::Http2 => builder.http2_only(),
        Sniffed::Unsure => builder,
    };
    let service = {
        let (shared, conn) = (Arc::clone(&shared), Arc::clone(&conn));
        tower::service_fn(move |req: Request<Incoming>| {
            let in_flight = conn.begin(req.version() == Version::HTTP_2);
            // The edge checks, in order: the operator reserve, the header count, the
            // browser guards; then the router, with a panic turned into a 500.
            let refused = if ops_only && !is_ops_path(req.uri().path()) {
                Some(busy(&shared, &req))
            } else {
                crate::header_limit::check(&shared.state, &req)
                    .or_else(|| crate::guard::check(&shared.state, &req))
            };
            let app = shared.app.clone();
            async move {
                let response = match refused {
                    Some(r) => r,
                    None => {
                        let format = crate::auth::format_of(req.method(), req.uri().path());
                        let uri = req.uri().clone();
                        crate::panic_guard::catch_panic(format, uri, async move {
                            match app.oneshot(req).await {
                                Ok(r) => r,
                                Err(never) => match never {},
                            }
                        })
                        .await
                    }
                };
                Ok::<_, Infallible>(response.map(|body| Counted {
                    body,
                    _in_flight: in_flight,
                }))
            }
        })
    };
    let io = TokioIo::new(Watched {
        tcp,
        conn: Arc::clone(&conn),
    });
    let served = builder.serve_connection(io, TowerToHyperService::new(service));
    let mut served = std::pin::pin!(served);
    // The first look at the clock; each look schedules the next (see `verdict`).
    let first_check = conn.accepted + limits.check_every().min(limits.header_read_timeout);
    let mut check = std::pin::pin!(tokio::time::sleep_until(first_check));
    let mut closing = false;
    loop {
        let close = tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!("connection ended: {e}");
                }
                return;
            }
            _ = stop.wait_for(|stopped| *stopped), if !closing => true,
            () = conn.evict.notified(), if !closing => {
                tracing::trace!("connection closed to make room under the connection cap");
                true
            }
            () = check.as_mut() => {
                let now = Instant::now();
                if closing {
                    // Told to close and still open: drop it unless a request is in flight.
                    if conn.active.load(Ordering::Acquire) == 0 {
                        return;
                    }
                    check.as_mut().reset(now + CLOSE_GRACE);
                    false
                } else {
                    match verdict(conn.snapshot(now), &limits) {
                        Verdict::Close(reason) => {
                            tracing::trace!(?reason, "connection closed by its timeout");
                            true
                        }
                        Verdict::CheckAt(ms) => {
                            check.as_mut().reset(conn.accepted + Duration::from_millis(ms));
                            false
                        }
                    }
                }
            }
        };
        if close {
            closing = true;
            served.as_mut().graceful_shutdown();
            check.as_mut().reset(Instant::now() + CLOSE_GRACE);
        }
    }
}

/// The paths a connection from the reserve may reach.
fn is_ops_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/admin") || path.starts_with("/admin/")
}

/// The answer to a request on a reserve connection for anything but the operator
/// endpoints: 503 in the client's format, `Retry-After`, and the connection closes.
fn busy<B>(shared: &Shared, req: &Request<B>) -> axum::response::Response {
    let error = GatewayError::new(
        ErrorCode::Overloaded,
        format!(
            "the gateway is serving its limit of {} connections; retry shortly",
            shared.limits.max_connections
        ),
    )
    .with_retry_after(Some(Duration::from_secs(1)));
    let mut response = crate::header_limit::refuse(&shared.state, req, error, None);
    if req.version() < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A response body that keeps its request in flight until it is sent to its end or
/// dropped.
struct Counted {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The client's socket, noting when a new head starts to arrive.
struct Watched {
    tcp: TcpStream,
    conn: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.conn.note_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// Peeks at the first bytes without consuming them.
async fn sniff(tcp: &TcpStream) -> Sniffed {
    let mut first = [0u8; H2_PREFACE.len()];
    match tcp.peek(&mut first).await {
        // hyper sees the end or the error itself and closes the connection.
        Ok(0) | Err(_) => Sniffed::Http1,
        Ok(n) => classify(&first[..n]),
    }
}

/// Tells the protocol from a connection's first bytes.
fn classify(first: &[u8]) -> Sniffed {
    if first != &H2_PREFACE[..first.len().min(H2_PREFACE.len())] {
        Sniffed::Http1
    } else if first.len() >= H2_PREFACE.len() {
        Sniffed::Http2
    } else {
        Sniffed::Unsure
    }
}

/// How long to wait after a failed accept: nothing for an error about one connection
/// (reset before it was accepted); [`ACCEPT_BACKOFF`] for anything else (EMFILE,
/// ENOMEM), which is logged, so the loop does not spin on it.
fn pause_after(e: &io::Error) -> Option<Duration> {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return None;
    }
    tracing::error!("accept failed: {e}; retrying in {ACCEPT_BACKOFF:?}");
    Some(ACCEPT_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http1_requests_are_told_by_their_first_byte() {
        assert_eq!(
            classify(b"POST /v1/chat/completions HTTP/1.1\r\n"),
            Sniffed::Http1
        );
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Sniffed::Http1);
    }

    #[test]
    fn the_whole_preface_means_http2() {
        assert_eq!(classify(H2_PREFACE), Sniffed::Http2);
        let mut more = H2_PREFACE.to_vec();
        more.extend_from_slice(b"\0\0\x12\x04");
        assert_eq!(classify(&more[..H2_PREFACE.len()]), Sniffed::Http2);
    }

    #[test]
    fn only_errors_about_the_process_pause_the_accept_loop() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(pause_after(&reset), None);
        // EMFILE: out of file descriptors.
        let emfile = io::Error::from_raw_os_error(24);
        assert_eq!(pause_after(&emfile), Some(ACCEPT_BACKOFF));
    }

    #[test]
    fn a_fragment_of_the_preface_is_left_to_hyper() {
        assert_eq!(classify(b"P"), Sniffed::Unsure);
        assert_eq!(classify(b"PRI * HTTP/2.0\r\n"), Sniffed::Unsure);
        // "PUT" shares only the first byte with the preface.
        assert_eq!(classify(b"PUT /x HTTP/1.1"), Sniffed::Http1);
    }

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(1_000),
            idle_timeout: Duration::from_millis(6_000),
            max_connections: 4,
            reserve: 2,
        }
    }

    fn fresh(now: u64) -> Snapshot {
        Snapshot {
            now,
            active: 0,
            served: false,
            http2: false,
            idle_since: 0,
            head_started: NEVER,
        }
    }

    #[test]
    fn the_first_head_is_due_a_header_timeout_after_accept() {
        let l = limits();
        assert_eq!(verdict(fresh(0), &l), Verdict::CheckAt(250));
        assert_eq!(verdict(fresh(900), &l), Verdict::CheckAt(1_000));
        assert_eq!(
            verdict(fresh(1_000), &l),
            Verdict::Close(Reason::HeaderTimeout)
        );
        // Bytes that arrived do not extend the first head's time.
        let dripping = Snapshot {
            head_started: 500,
            ..fresh(1_200)
        };
        assert_eq!(verdict(dripping, &l), Verdict::Close(Reason::HeaderTimeout));
    }

    #[test]
    fn a_request_in_flight_is_never_due() {
        let l = limits();
        let streaming = Snapshot {
            active: 1,
            served: true,
            ..fresh(1_000_000)
        };
        assert_eq!(verdict(streaming, &l), Verdict::CheckAt(1_000_250));
    }

    #[test]
    fn an_idle_connection_is_due_an_idle_timeout_after_its_last_request() {
        let l = limits();
        let idle = Snapshot {
            served: true,
            idle_since: 10_000,
            ..fresh(15_900)
        };
        assert_eq!(verdict(idle, &l), Verdict::CheckAt(16_000));
        let idle = Snapshot {
            now: 16_000,
            ..idle
        };
        assert_eq!(verdict(idle, &l), Verdict::Close(Reason::IdleTimeout));
    }

    #[test]
    fn a_later_http1_head_is_timed_from_its_first_byte() {
        let l = limits();
        let started = Snapshot {
            served: true,
            idle_since: 10_000,
            head_started: 12_000,
            ..fresh(12_900)
        };
        assert_eq!(verdict(started, &l), Verdict::CheckAt(13_000));
        let late = Snapshot {
            now: 13_000,
            ..started
        };
        assert_eq!(verdict(late, &l), Verdict::Close(Reason::HeaderTimeout));
        // HTTP/2 frames between requests (pings, settings) are not heads.
        let h2 = Snapshot {
            http2: true,
            ..late
        };
        assert_eq!(verdict(h2, &l), Verdict::CheckAt(13_250));
    }

    #[test]
    fn past_the_cap_an_idle_connection_makes_room_or_the_reserve_serves() {
        let l = limits();
        assert_eq!(
            admission(3, &l, || panic!("no eviction below the cap")),
            Admission::Serve
        );
        assert_eq!(admission(4, &l, || true), Admission::Serve);
        assert_eq!(admission(5, &l, || false), Admission::OpsOnly);
        assert_eq!(
            admission(6, &l, || panic!("no eviction past the reserve")),
            Admission::Refuse
        );
    }

    #[test]
    fn the_default_cap_keeps_two_descriptors_per_request_and_a_reserve() {
        assert_eq!(default_cap(Some(1_024)), (1_024 - 64 - 16) / 2);
        assert_eq!(default_cap(Some(256)), 88);
        assert_eq!(default_cap(Some(10)), 1);
        assert_eq!(default_cap(None), UNLIMITED_CAP);
    }

    #[test]
    fn the_reserve_reaches_only_the_operator_endpoints() {
        for path in ["/healthz", "/readyz", "/metrics", "/admin/providers"] {
            assert!(is_ops_path(path), "{path}");
        }
        for path in ["/v1/chat/completions", "/administrator", "/", "/v1/models"] {
            assert!(!is_ops_path(path), "{path}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn eviction_picks_the_connection_idle_longest_and_skips_busy_ones() {
        let mut open = Open::default();
        let old = Arc::new(ConnState::new());
        tokio::time::advance(Duration::from_secs(5)).await;
        let busy = Arc::new(ConnState::new());
        let _in_flight = busy.begin(false);
        let young = Arc::new(ConnState::new());
        open.conns.insert(1, Arc::clone(&busy));
        open.conns.insert(2, Arc::clone(&young));
        open.conns.insert(3, Arc::clone(&old));
        assert!(evict_idlest(&mut open, Instant::now()));
        assert!(old.evicted.load(Ordering::Relaxed));
        assert!(evict_idlest(&mut open, Instant::now()));
        assert!(young.evicted.load(Ordering::Relaxed));
        // Only the busy one is left: nothing to evict.
        assert!(!evict_idlest(&mut open, Instant::now()));
        assert!(!busy.evicted.load(Ordering::Relaxed));
        assert_eq!(open.evicting, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_ends_when_its_guard_drops_and_restarts_the_idle_clock() {
        let conn = Arc::new(ConnState::new());
        conn.note_read();
        let in_flight = conn.begin(false);
        assert_eq!(conn.head_started.load(Ordering::Relaxed), NEVER);
        // Body bytes of the request in flight are not a new head.
        tokio::time::advance(Duration::from_secs(3)).await;
        conn.note_read();
        assert_eq!(conn.head_started.load(Ordering::Relaxed), NEVER);
        drop(in_flight);
        let s = conn.snapshot(Instant::now());
        assert_eq!((s.active, s.idle_since), (0, 3_000));
        tokio::time::advance(Duration::from_secs(1)).await;
        conn.note_read();
        assert_eq!(conn.head_started.load(Ordering::Relaxed), 4_000);
    }
}
