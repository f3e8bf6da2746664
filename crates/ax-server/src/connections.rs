//! The accept loop: one task per TCP connection (TCP_NODELAY on), HTTP/1.1 or HTTP/2
//! with prior knowledge, and a graceful stop that lets in-flight requests finish.
//!
//! Why not `axum::serve`: it hands every connection to hyper-util's auto builder, which
//! *reads* up to 24 bytes to tell the HTTP/2 preface from HTTP/1 and replays them to
//! hyper. hyper's 8 KiB read buffer then holds those bytes when it reserves another
//! 8 KiB, so `BytesMut` doubles it to 16 KiB for the rest of the connection's life:
//! ~80 MB across 10,000 held streams. Here the version is told by *peeking*, which
//! leaves the bytes in the socket, and hyper starts from an empty buffer.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What every HTTP/2 connection sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long to back off after an accept error that is not about one connection
/// (out of file descriptors, for one), instead of spinning on it.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

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

/// Serves `app` on `listener` until `stop` resolves; then stops accepting, asks every
/// connection to finish its in-flight requests and close, and returns once all have.
pub(crate) async fn serve(listener: TcpListener, app: Router, stop: impl Future<Output = ()>) {
    // Turn every route into its final form once: serving the `Router` as it is rebuilds
    // its route table (~9 KB) for every connection, ~90 MB over 10,000 held streams.
    let app = app.with_state(());
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each connection task holds a receiver; `closed()` resolves when the last is gone.
    let (alive_tx, alive_rx) = watch::channel(());
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                if let Some(pause) = pause_after(&e) {
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = &mut stop => break,
                    }
                }
                continue;
            }
        };
        // Without TCP_NODELAY every small response on a reused connection can stall
        // ~40 ms on delayed ACKs.
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(serve_connection(
            tcp,
            service,
            stop_rx.clone(),
            alive_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(alive_rx);
    alive_tx.closed().await;
}

/// Serves one connection until the client closes it or, after a stop, until its
/// in-flight requests are done.
async fn serve_connection(
    tcp: TcpStream,
    service: TowerToHyperService<Router>,
    mut stop: watch::Receiver<bool>,
    _alive: watch::Receiver<()>,
) {
    let sniffed = tokio::select! {
        sniffed = sniff(&tcp) => sniffed,
        _ = stop.wait_for(|stopped| *stopped) => return,
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let builder = match sniffed {
        Sniffed::Http1 => builder.http1_only(),
        Sniffed::Http2 => builder.http2_only(),
        Sniffed::Unsure => builder,
    };
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!("connection ended: {e}");
                }
                return;
            }
            _ = stop.wait_for(|stopped| *stopped), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
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
}
