//! The upstream HTTP client shared by every provider adapter: one pooled hyper client
//! per provider (TCP_NODELAY on, HTTP/1.1 over rustls), deadlines, status →
//! error-code mapping, `Retry-After` parsing, and streamed bodies turned into decoded
//! chunks as they arrive.
//!
//! Two hooks let a wire protocol shape its requests without touching this file: a
//! [`Signer`] adds authentication to each request about to leave (a fixed
//! [`HeaderMap`] computed once at start-up today; an AWS SigV4 signer would compute a
//! signature per request), and a [`Framing`] cuts a streamed body into frames (SSE,
//! [`SseDecoder`], today; the AWS event stream would be a second implementation). Both
//! are type parameters, so a call costs no box and no dynamic dispatch.
//!
//! Every error an upstream produces — a non-2xx answer, an error frame mid-stream, an
//! error in a 2xx body — leaves through [`UpstreamClient::upstream_error`]: tagged with
//! the provider, the provider's own key masked ([`Secrets`]), and marked
//! `credentials_refused` when the upstream refused that key, before it can reach a
//! client, a log row, a log line or the admin API.
//!
//! It is `hyper_util`'s pooled client directly rather than `reqwest`: the gateway needs
//! none of reqwest's layers (redirects, cookies, proxies, URL re-parsing), and they cost
//! about three times what the request itself does. Redirects are never followed — a 3xx
//! is just another non-2xx status — so an API key is never carried elsewhere.
//!
//! HTTP/1.1 only, one connection per request in flight: hyper's pool keeps a single
//! HTTP/2 connection per host and never opens a second one, so once a provider's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` (100 at Google's front ends, a few hundred behind
//! Cloudflare) is reached, every further request waits for a stream to end. LLM
//! streams last tens of seconds, so a busy gateway would stall behind them and time
//! out. The official OpenAI and Anthropic SDKs (httpx) speak HTTP/1.1 by default too.

use std::time::Duration;

use ax_core::{ChatStream, ErrorCode, GatewayError, StreamChunk};
use bytes::Bytes;
use futures::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use secrecy::SecretString;
use tokio::time::Instant;

use crate::codec::StreamDecoder;
use crate::config::Timeouts;
use crate::secrets::Secrets;
use crate::sse::{SseDecoder, SseError, SseFrame};

/// Turns an upstream error response (status, headers, body) into a gateway error.
pub type ErrorDecoder = fn(u16, &HeaderMap, &[u8]) -> GatewayError;

/// The request-signing hook: adds a provider's authentication to every request just
/// before it leaves, given what a signature can cover (method, URL, body).
///
/// It runs before ax's own constant headers (`user-agent`, `content-type:
/// application/json` on a POST, `accept` on a stream request) are set, which keeps the
/// header order every upstream has seen so far; a signer that must cover
/// `content-type` sets that same value itself (setting it again later keeps its
/// place and value).
pub trait Signer: Send + Sync {
    /// Adds authentication to the request about to be sent: `headers` holds what is
    /// already set, `body` is the exact bytes that will be sent. An error stops the
    /// request before anything is sent.
    fn sign(
        &self,
        method: &Method,
        url: &Uri,
        headers: &mut HeaderMap,
        body: &[u8],
    ) -> Result<(), GatewayError>;

    /// At most how many headers [`sign`](Self::sign) adds, so the request's header map
    /// is allocated once at its final size.
    fn header_count(&self) -> usize;
}

/// The simplest signer: headers computed once at start-up (a key marked sensitive,
/// a version header), copied into every request — each value a reference count, not a
/// copy of its bytes.
impl Signer for HeaderMap {
    fn sign(
        &self,
        _method: &Method,
        _url: &Uri,
        headers: &mut HeaderMap,
        _body: &[u8],
    ) -> Result<(), GatewayError> {
        for (name, value) in self {
            headers.append(name.clone(), value.clone());
        }
        Ok(())
    }

    fn header_count(&self) -> usize {
        self.len()
    }
}

/// The framing hook: how a streamed upstream body is cut into frames, each then read
/// by the protocol's [`StreamDecoder`]. One value splits one body.
///
/// Frames are [`SseFrame`]s (an optional event name and UTF-8 data), the unit every
/// stream decoder reads: an AWS event-stream splitter would give each message's
/// `:event-type` header as the name and its payload as the data.
pub trait Framing: Send + 'static {
    /// The media type of such a body: sent as `Accept` on a stream request, and a 2xx
    /// whose `Content-Type` does not start with it is refused.
    const MEDIA_TYPE: &'static str;
    /// Why a body could not be split (its text becomes the stream's error).
    type Error: std::fmt::Display;

    /// A splitter for one body.
    fn new() -> Self;

    /// Feeds bytes as they arrive; appends every completed frame to `frames`.
    fn feed(&mut self, chunk: &[u8], frames: &mut Vec<SseFrame>) -> Result<(), Self::Error>;

    /// At the end of the body: appends what is still pending.
    fn finish(&mut self, frames: &mut Vec<SseFrame>) -> Result<(), Self::Error>;
}

/// Server-sent events: every upstream ax speaks today streams this way.
impl Framing for SseDecoder {
    const MEDIA_TYPE: &'static str = "text/event-stream";
    type Error = SseError;

    fn new() -> Self {
        SseDecoder::new()
    }

    fn feed(&mut self, chunk: &[u8], frames: &mut Vec<SseFrame>) -> Result<(), SseError> {
        SseDecoder::feed(self, chunk, frames)
    }

    fn finish(&mut self, frames: &mut Vec<SseFrame>) -> Result<(), SseError> {
        SseDecoder::finish(self, frames)
    }
}

const USER_AGENT_VALUE: &str = concat!("ax/", env!("CARGO_PKG_VERSION"));

/// A pooled HTTP client for one provider.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeouts: Timeouts,
    provider: String,
    /// The provider's API key, masked in every upstream error.
    secrets: Secrets,
}

impl UpstreamClient {
    /// Builds the client; called once per provider at start-up, never per request.
    /// `api_key` is the key the adapter sends, masked in every upstream error.
    pub fn new(
        provider: &str,
        timeouts: Timeouts,
        api_key: Option<&SecretString>,
    ) -> Result<Self, GatewayError> {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(timeouts.connect));
        tcp.set_keepalive(Some(Duration::from_secs(15)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| {
                GatewayError::new(ErrorCode::ServerError, format!("building HTTP client: {e}"))
                    .with_provider(provider)
            })?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(https);
        Ok(Self {
            http,
            timeouts,
            provider: provider.to_owned(),
            secrets: Secrets::new(api_key),
        })
    }

    /// The provider this client belongs to.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// POSTs a JSON body and returns the 2xx response body; other statuses become
    /// errors through `decode_error`. Headers must arrive within the first-byte timeout
    /// and the whole call must finish within the total timeout.
    pub async fn post_json<S: Signer + ?Sized>(
        &self,
        url: &Uri,
        signer: &S,
        body: impl Into<Bytes>,
        decode_error: ErrorDecoder,
    ) -> Result<Bytes, GatewayError> {
        let start = Instant::now();
        let total = start + self.timeouts.total;
        let req = self.request(Method::POST, url, signer, body.into(), None)?;
        let resp = self
            .send(
                req,
                url,
                start,
                self.timeouts.first_byte.min(self.timeouts.total),
            )
            .await?;
        self.read(resp, total, self.timeouts.total, decode_error)
            .await
    }

    /// GETs a URL (health probes); 2xx body or an error through `decode_error`, all
    /// within the first-byte timeout (at most 30 s).
    pub async fn get<S: Signer + ?Sized>(
        &self,
        url: &Uri,
        signer: &S,
        decode_error: ErrorDecoder,
    ) -> Result<Bytes, GatewayError> {
        let limit = self.timeouts.first_byte.min(Duration::from_secs(30));
        let start = Instant::now();
        let req = self.request(Method::GET, url, signer, Bytes::new(), None)?;
        let resp = self.send(req, url, start, limit).await?;
        self.read(resp, start + limit, limit, decode_error).await
    }

    /// POSTs a streaming request. Returns once the upstream answered 2xx with a body
    /// of `framing`'s media type; the body is then cut into frames by `framing`, each
    /// decoded by `decoder` and handed on as soon as it arrives (nothing is buffered
    /// beyond one frame). The stream fails with `timeout` when the upstream is silent
    /// longer than the idle timeout, and with whatever `decoder.finish()` says when the
    /// body ends.
    pub async fn post_stream<S, F, D>(
        &self,
        url: &Uri,
        signer: &S,
        body: impl Into<Bytes>,
        decode_error: ErrorDecoder,
        framing: F,
        decoder: D,
    ) -> Result<ChatStream, GatewayError>
    where
        S: Signer + ?Sized,
        F: Framing,
        D: StreamDecoder + 'static,
    {
        let start = Instant::now();
        let req = self.request(Method::POST, url, signer, body.into(), Some(F::MEDIA_TYPE))?;
        let resp = self.send(req, url, start, self.timeouts.first_byte).await?;
        let status = resp.status().as_u16();
        // An error body is read under the total timeout, so a stalled one cannot hang.
        let total = start + self.timeouts.total;
        if !(200..300).contains(&status) {
            return Err(self
                .failure(resp, total, self.timeouts.total, decode_error)
                .await);
        }
        let is_stream = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with(F::MEDIA_TYPE));
        if !is_stream {
            // A 2xx that is not a stream is usually a JSON error from a proxy in between.
            let (parts, body) = resp.into_parts();
            let bytes = self.collect(body, total, self.timeouts.total).await?;
            let bytes = self.secrets.mask_body(bytes);
            let mut err = decode_error(502, &parts.headers, &bytes);
            err.code = ErrorCode::ServerError;
            err.message = format!(
                "upstream answered a stream request without an event stream: {}",
                err.message
            );
            return Err(self.tag(err, status));
        }
        Ok(framed_chunks(
            BodyDataStream::new(resp.into_body()),
            framing,
            decoder,
            self.timeouts.idle,
            self.provider.clone(),
            self.secrets.clone(),
        ))
    }

    /// The request: signed by `signer` first (for the fixed headers of today's
    /// protocols: copied, not the map cloned), then our own headers; `accept` is the
    /// media type of a stream request.
    fn request<S: Signer + ?Sized>(
        &self,
        method: Method,
        url: &Uri,
        signer: &S,
        body: Bytes,
        accept: Option<&'static str>,
    ) -> Result<Request<Full<Bytes>>, GatewayError> {
        let mut h = HeaderMap::new();
        h.reserve(signer.header_count() + 3);
        signer
            .sign(&method, url, &mut h, &body)
            .map_err(|e| e.with_provider(&self.provider))?;
        h.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if method == Method::POST {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Some(media_type) = accept {
                h.insert(ACCEPT, HeaderValue::from_static(media_type));
            }
        }
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = url.clone();
        *req.headers_mut() = h;
        Ok(req)
    }

    /// Sends `req`; the response headers must arrive within `limit` of `start`.
    async fn send(
        &self,
        req: Request<Full<Bytes>>,
        url: &Uri,
        start: Instant,
        limit: Duration,
    ) -> Result<Response<Incoming>, GatewayError> {
        match tokio::time::timeout_at(start + limit, self.http.request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => {
                let e = self.transport_error(&e);
                Err(GatewayError {
                    message: format!("error sending request to {url}: {}", e.message),
                    ..e
                })
            }
            Err(_) => Err(GatewayError::new(
                ErrorCode::Timeout,
                format!("no response headers within {} ms", limit.as_millis()),
            )
            .with_provider(&self.provider)),
        }
    }

    /// Reads the whole body by `deadline`: the body of a 2xx, or an error through
    /// `decode_error`.
    async fn read(
        &self,
        resp: Response<Incoming>,
        deadline: Instant,
        limit: Duration,
        decode_error: ErrorDecoder,
    ) -> Result<Bytes, GatewayError> {
        if resp.status().is_success() {
            self.collect(resp.into_body(), deadline, limit).await
        } else {
            Err(self.failure(resp, deadline, limit, decode_error).await)
        }
    }

    /// The error for a non-2xx answer: its body, read by `deadline`, through
    /// `decode_error`, tagged with the provider and the status.
    async fn failure(
        &self,
        resp: Response<Incoming>,
        deadline: Instant,
        limit: Duration,
        decode_error: ErrorDecoder,
    ) -> GatewayError {
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        match self.collect(body, deadline, limit).await {
            // The key is masked before the protocol module sees the body, so no cut of
            // its message can leave a part of it.
            Ok(bytes) => {
                let bytes = self.secrets.mask_body(bytes);
                self.tag(decode_error(status, &parts.headers, &bytes), status)
            }
            Err(e) => e,
        }
    }

    async fn collect(
        &self,
        body: Incoming,
        deadline: Instant,
        limit: Duration,
    ) -> Result<Bytes, GatewayError> {
        match tokio::time::timeout_at(deadline, body.collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) => {
                let e = self.transport_error(&e);
                Err(GatewayError {
                    message: format!("error reading the upstream response: {}", e.message),
                    ..e
                })
            }
            Err(_) => Err(GatewayError::new(
                ErrorCode::Timeout,
                format!(
                    "upstream response not complete within {} ms",
                    limit.as_millis()
                ),
            )
            .with_provider(&self.provider)),
        }
    }

    fn transport_error(&self, e: &(dyn std::error::Error + 'static)) -> GatewayError {
        transport_error(&self.provider, e)
    }

    fn tag(&self, err: GatewayError, status: u16) -> GatewayError {
        let mut err = self.upstream_error(err);
        err.upstream_status.get_or_insert(status);
        err
    }

    /// The one way out for an error this provider's upstream produced (adapters pass
    /// errors decoded from 2xx bodies through it too): see [`upstream_error`].
    pub fn upstream_error(&self, err: GatewayError) -> GatewayError {
        upstream_error(&self.provider, &self.secrets, err)
    }
}

/// Tags `err` with `provider`, masks `secrets` (and anything shaped like a key) in its
/// text, and marks it `credentials_refused` when the upstream refused the gateway's
/// key (`authentication_error` or `permission_denied` from an upstream is about the
/// gateway's own credentials: the client's were checked by the gateway).
fn upstream_error(provider: &str, secrets: &Secrets, err: GatewayError) -> GatewayError {
    let mut err = secrets.scrub(err.with_provider(provider));
    err.credentials_refused |= matches!(
        err.code,
        ErrorCode::AuthenticationError | ErrorCode::PermissionDenied
    );
    err
}

/// Parses an upstream URL once, at start-up: it must be absolute, `http` or `https`,
/// with a host. The error names what is wrong, never the URL itself.
pub fn parse_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("unsupported URL scheme `{other}`")),
        None => return Err("not an absolute URL (http:// or https://)".to_owned()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host".to_owned());
    }
    Ok(uri)
}

/// Classifies a transport failure (no HTTP status): `timeout` when anything in the
/// source chain timed out, `network_error` otherwise. The message is the source chain;
/// no error in it carries request headers, so no key leaks.
pub fn transport_error(provider: &str, e: &(dyn std::error::Error + 'static)) -> GatewayError {
    let mut timed_out = false;
    let mut msg = String::new();
    let mut src = Some(e);
    while let Some(s) = src {
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&s.to_string());
        timed_out |= s
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || s.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout);
        src = s.source();
    }
    let code = if timed_out {
        ErrorCode::Timeout
    } else {
        ErrorCode::NetworkError
    };
    GatewayError::new(code, msg).with_provider(provider)
}

/// The chunks of a streamed body: cut into frames by `framing`, each decoded by
/// `decoder`.
fn framed_chunks<S, E, F, D>(
    body: S,
    framing: F,
    decoder: D,
    idle: Duration,
    provider: String,
    secrets: Secrets,
) -> ChatStream
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::error::Error + 'static,
    F: Framing,
    D: StreamDecoder + 'static,
{
    struct St<S, F, D> {
        body: std::pin::Pin<Box<S>>,
        framing: F,
        decoder: D,
        pending: std::collections::VecDeque<SseFrame>,
        frames: Vec<SseFrame>,
        done: bool,
        idle: Duration,
        provider: String,
        secrets: Secrets,
    }
    let st = St {
        body: Box::pin(body),
        framing,
        decoder,
        pending: Default::default(),
        frames: Vec::new(),
        done: false,
        idle,
        provider,
        secrets,
    };
    // Mid-stream errors (an upstream error frame among them) leave masked, like the rest.
    let fail = |st: &St<S, F, D>, e: GatewayError| -> GatewayError {
        upstream_error(&st.provider, &st.secrets, e)
    };
    Box::pin(futures::stream::unfold(st, move |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            if let Some(frame) = st.pending.pop_front() {
                return match st.decoder.decode(&frame) {
                    Ok(events) => Some((
                        Ok(StreamChunk {
                            events,
                            raw: Some(frame.to_bytes()),
                        }),
                        st,
                    )),
                    Err(e) => {
                        st.done = true;
                        let e = fail(&st, e);
                        Some((Err(e), st))
                    }
                };
            }
            match tokio::time::timeout(st.idle, st.body.next()).await {
                Err(_) => {
                    st.done = true;
                    let e = GatewayError::new(
                        ErrorCode::Timeout,
                        format!(
                            "upstream stream idle for more than {} ms",
                            st.idle.as_millis()
                        ),
                    );
                    let e = fail(&st, e);
                    return Some((Err(e), st));
                }
                Ok(Some(Ok(bytes))) => {
                    let mut frames = std::mem::take(&mut st.frames);
                    let res = st.framing.feed(&bytes, &mut frames);
                    st.pending.extend(frames.drain(..));
                    st.frames = frames;
                    if let Err(e) = res {
                        st.done = true;
                        let e = fail(
                            &st,
                            GatewayError::new(ErrorCode::ServerError, e.to_string()),
                        );
                        return Some((Err(e), st));
                    }
                }
                Ok(Some(Err(e))) => {
                    st.done = true;
                    let e = transport_error(&st.provider, &e);
                    let e = GatewayError {
                        message: format!("upstream stream broke: {}", e.message),
                        ..e
                    };
                    return Some((Err(e), st));
                }
                Ok(None) => {
                    let mut frames = Vec::new();
                    if let Err(e) = st.framing.finish(&mut frames) {
                        st.done = true;
                        let e = fail(
                            &st,
                            GatewayError::new(ErrorCode::ServerError, e.to_string()),
                        );
                        return Some((Err(e), st));
                    }
                    if !frames.is_empty() {
                        st.pending.extend(frames);
                        continue;
                    }
                    st.done = true;
                    return match st.decoder.finish() {
                        Ok(events) if events.is_empty() => None,
                        Ok(events) => Some((Ok(StreamChunk { events, raw: None }), st)),
                        Err(e) => {
                            let e = fail(&st, e);
                            Some((Err(e), st))
                        }
                    };
                }
            }
        }
    }))
}

/// The generic HTTP status → error code table; protocol modules refine it with their
/// own error types (e.g. Anthropic `overloaded_error`).
pub fn status_to_code(status: u16) -> ErrorCode {
    match status {
        400 | 413 | 422 => ErrorCode::InvalidRequest,
        401 => ErrorCode::AuthenticationError,
        403 => ErrorCode::PermissionDenied,
        404 => ErrorCode::NotFound,
        408 | 504 => ErrorCode::Timeout,
        409 => ErrorCode::ServerError,
        429 => ErrorCode::RateLimitExceeded,
        503 | 529 => ErrorCode::Overloaded,
        _ if status >= 500 => ErrorCode::ServerError,
        _ => ErrorCode::InvalidRequest,
    }
}

/// Reads `retry-after-ms`, then `retry-after` (seconds or an HTTP date).
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_millis(ms as u64));
    }
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_millis((secs * 1000.0) as u64));
    }
    let when =
        time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = when - time::OffsetDateTime::now_utc();
    Some(Duration::from_millis(
        delta.whole_milliseconds().max(0) as u64
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;

    /// Reads one request (head and `content-length` body) as text.
    async fn read_request(sock: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break;
                }
            }
            let n = sock.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// A loopback server: for every connection it reports the request on the channel,
    /// writes `reply` (if any), then keeps the connection open without a word for
    /// `stall`, and closes it.
    async fn server(
        reply: &'static [u8],
        stall: Duration,
    ) -> (String, mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let req = read_request(&mut sock).await;
                    let _ = tx.send(req);
                    if !reply.is_empty() {
                        sock.write_all(reply).await.unwrap();
                    }
                    tokio::time::sleep(stall).await;
                });
            }
        });
        (base, rx)
    }

    fn client(first_byte: Duration, total: Duration) -> UpstreamClient {
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            first_byte,
            total,
            idle: Duration::from_secs(5),
        };
        UpstreamClient::new("test", timeouts, Some(&SecretString::from("secret-key"))).unwrap()
    }

    fn by_status(status: u16, _: &HeaderMap, body: &[u8]) -> GatewayError {
        GatewayError::new(
            status_to_code(status),
            format!("status {status}: {}", String::from_utf8_lossy(body)),
        )
    }

    fn keyed_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        let mut key = HeaderValue::from_static("secret-key");
        key.set_sensitive(true);
        h.insert("x-api-key", key);
        h
    }

    /// Starts an OpenAI-decoded SSE stream: the call every streaming test makes.
    async fn openai_stream(
        c: &UpstreamClient,
        url: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<ChatStream, GatewayError> {
        let decoder = crate::openai::OpenAiStreamDecoder::new();
        c.post_stream(url, headers, body, by_status, SseDecoder::new(), decoder)
            .await
    }

    #[tokio::test]
    async fn sends_user_agent_content_type_and_the_adapter_headers() {
        let (base, mut rx) = server(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
            Duration::ZERO,
        )
        .await;
        let c = client(Duration::from_secs(5), Duration::from_secs(5));
        let url = parse_url(&format!("{base}/v1/chat")).unwrap();
        let body = c
            .post_json(&url, &keyed_headers(), &b"{\"a\":1}"[..], by_status)
            .await
            .unwrap();
        assert_eq!(&body[..], b"ok");
        let req = rx.recv().await.unwrap();
        let lower = req.to_ascii_lowercase();
        assert!(req.starts_with("POST /v1/chat HTTP/1.1\r\n"), "{req}");
        let ua = format!("\r\nuser-agent: ax/{}\r\n", env!("CARGO_PKG_VERSION"));
        assert!(lower.contains(&ua), "{req}");
        assert!(
            lower.contains("\r\ncontent-type: application/json\r\n"),
            "{req}"
        );
        assert!(lower.contains("\r\nx-api-key: secret-key\r\n"), "{req}");
        assert!(lower.contains("\r\ncontent-length: 7\r\n"), "{req}");
        assert!(!lower.contains("\r\naccept:"), "{req}");
        assert!(req.ends_with("\r\n\r\n{\"a\":1}"), "{req}");
        // The signer's headers come first, then ours: the order upstreams have always
        // seen (the signing hook runs before ax's constant headers are set).
        let names: Vec<&str> = lower
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split(':').next())
            .collect();
        assert_eq!(
            names[..3],
            ["x-api-key", "user-agent", "content-type"],
            "{req}"
        );

        // A GET carries the user agent but no content type.
        c.get(&url, &keyed_headers(), by_status).await.unwrap();
        let req = rx.recv().await.unwrap().to_ascii_lowercase();
        assert!(req.starts_with("get /v1/chat http/1.1\r\n"), "{req}");
        assert!(req.contains(&ua), "{req}");
        assert!(!req.contains("\r\ncontent-type:"), "{req}");
    }

    /// The ALPN protocols a TLS ClientHello offers (empty when it has no ALPN
    /// extension); `None` if `hello` is not a ClientHello record.
    fn alpn_offered(hello: &[u8]) -> Option<Vec<String>> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, tail) = (b.get(..n)?, b.get(n..)?);
            *b = tail;
            Some(head)
        }
        fn len(b: &mut &[u8], n: usize) -> Option<usize> {
            Some(
                take(b, n)?
                    .iter()
                    .fold(0, |acc, &x| acc << 8 | usize::from(x)),
            )
        }
        let mut b = hello;
        // Record header: handshake (22), version, length; then a ClientHello (1).
        if take(&mut b, 5)?.first() != Some(&22) || take(&mut b, 4)?.first() != Some(&1) {
            return None;
        }
        take(&mut b, 2 + 32)?; // version, random
        let n = len(&mut b, 1)?;
        take(&mut b, n)?; // session id
        let n = len(&mut b, 2)?;
        take(&mut b, n)?; // cipher suites
        let n = len(&mut b, 1)?;
        take(&mut b, n)?; // compression methods
        let n = len(&mut b, 2)?;
        let mut ext = take(&mut b, n)?;
        while !ext.is_empty() {
            let kind = len(&mut ext, 2)?;
            let n = len(&mut ext, 2)?;
            let mut body = take(&mut ext, n)?;
            if kind == 16 {
                let n = len(&mut body, 2)?;
                let mut list = take(&mut body, n)?;
                let mut names = Vec::new();
                while !list.is_empty() {
                    let n = len(&mut list, 1)?;
                    names.push(String::from_utf8_lossy(take(&mut list, n)?).into_owned());
                }
                return Some(names);
            }
        }
        Some(Vec::new())
    }

    #[tokio::test]
    async fn tls_offers_http1_only_so_long_streams_never_queue_behind_one_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hello = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 16 * 1024];
            let mut got = 0;
            // The whole first record: 5 header bytes plus its length.
            while got < 5 || got < 5 + (usize::from(buf[3]) << 8 | usize::from(buf[4])) {
                let n = sock.read(&mut buf[got..]).await.unwrap();
                assert!(n > 0, "connection closed before the ClientHello");
                got += n;
            }
            buf.truncate(got);
            buf
        });
        let c = client(Duration::from_secs(2), Duration::from_secs(2));
        let url = parse_url(&format!("https://localhost:{}/v1/chat", addr.port())).unwrap();
        // No certificate ever comes back, so the call fails; only the hello matters.
        let headers = HeaderMap::new();
        let call = c.post_json(&url, &headers, &b"{}"[..], by_status);
        let (hello, result) = tokio::join!(hello, call);
        assert!(result.is_err());
        let offered = alpn_offered(&hello.unwrap()).expect("a TLS ClientHello");
        assert!(!offered.iter().any(|p| p == "h2"), "{offered:?}");
    }

    #[test]
    fn alpn_parsing_finds_the_protocols() {
        // A minimal ClientHello with one extension: ALPN ["h2", "http/1.1"].
        let alpn: &[u8] = b"\x00\x10\x00\x0e\x00\x0c\x02h2\x08http/1.1";
        let mut body = vec![0x03, 0x03];
        body.extend([0u8; 32]);
        body.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend((alpn.len() as u16).to_be_bytes());
        body.extend(alpn);
        let mut hello = vec![22, 3, 1];
        hello.extend(((body.len() + 4) as u16).to_be_bytes());
        hello.extend([1, 0]);
        hello.extend((body.len() as u16).to_be_bytes());
        hello.extend(&body);
        assert_eq!(alpn_offered(&hello).unwrap(), ["h2", "http/1.1"]);
        assert_eq!(alpn_offered(b"GET / HTTP/1.1\r\n\r\n"), None);
    }

    #[tokio::test]
    async fn stream_requests_accept_event_streams() {
        let (base, mut rx) = server(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 0\r\n\r\n",
            Duration::ZERO,
        )
        .await;
        let c = client(Duration::from_secs(5), Duration::from_secs(5));
        let url = parse_url(&format!("{base}/s")).unwrap();
        // The stream itself ends without `[DONE]`; only the request matters here.
        let _ = openai_stream(&c, &url, &HeaderMap::new(), Bytes::from_static(b"{}")).await;
        let req = rx.recv().await.unwrap().to_ascii_lowercase();
        assert!(req.contains("\r\naccept: text/event-stream\r\n"), "{req}");
        assert!(
            req.contains("\r\ncontent-type: application/json\r\n"),
            "{req}"
        );
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let (base, mut rx) = server(
            b"HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 5\r\n\r\nmoved",
            Duration::ZERO,
        )
        .await;
        let c = client(Duration::from_secs(5), Duration::from_secs(5));
        let url = parse_url(&format!("{base}/v1/chat")).unwrap();
        let e = c
            .post_json(&url, &keyed_headers(), Vec::from(&b"{}"[..]), by_status)
            .await
            .unwrap_err();
        assert_eq!(e.upstream_status, Some(302));
        assert_eq!(e.message, "status 302: moved");
        assert_eq!(e.provider.as_deref(), Some("test"));
        assert!(rx.recv().await.unwrap().starts_with("POST /v1/chat "));
        assert!(rx.try_recv().is_err(), "the redirect was followed");
    }

    #[tokio::test]
    async fn an_echoed_key_is_masked_and_a_refused_key_is_the_gateways_problem() {
        let (base, _rx) = server(
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 48\r\n\r\ninvalid x-api-key secret-key (Bearer secret-key)",
            Duration::ZERO,
        )
        .await;
        let c = client(Duration::from_secs(5), Duration::from_secs(5));
        let url = parse_url(&format!("{base}/v1/chat")).unwrap();
        let e = c
            .post_json(&url, &keyed_headers(), Bytes::new(), by_status)
            .await
            .unwrap_err();
        assert_eq!(e.message, "status 401: invalid x-api-key *** (Bearer ***)");
        assert_eq!(e.code, ErrorCode::AuthenticationError);
        assert!(e.credentials_refused);
        assert_eq!(e.http_status(), 502);
        assert_eq!(e.provider.as_deref(), Some("test"));
    }

    #[tokio::test]
    async fn a_mid_stream_error_frame_is_masked() {
        let (base, _rx) = server(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n\
              data: {\"error\":{\"message\":\"key secret-key revoked\",\"type\":\"server_error\"}}\n\n",
            Duration::ZERO,
        )
        .await;
        let c = client(Duration::from_secs(5), Duration::from_secs(5));
        let url = parse_url(&format!("{base}/s")).unwrap();
        let Ok(mut stream) = openai_stream(&c, &url, &keyed_headers(), Bytes::new()).await else {
            panic!("the stream did not start");
        };
        let mut errors = Vec::new();
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                errors.push(e);
            }
        }
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].message, "key *** revoked");
        assert_eq!(errors[0].provider.as_deref(), Some("test"));
    }

    #[tokio::test]
    async fn no_headers_within_first_byte_is_a_timeout() {
        let (base, _rx) = server(b"", Duration::from_secs(30)).await;
        let c = client(Duration::from_millis(200), Duration::from_secs(30));
        let url = parse_url(&format!("{base}/v1/chat")).unwrap();
        let started = std::time::Instant::now();
        let e = c
            .post_json(&url, &keyed_headers(), Bytes::new(), by_status)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Timeout);
        assert_eq!(e.message, "no response headers within 200 ms");
        assert!(started.elapsed() < Duration::from_secs(5));

        let Err(e) = openai_stream(&c, &url, &keyed_headers(), Bytes::new()).await else {
            panic!("a stream without headers succeeded");
        };
        assert_eq!(e.code, ErrorCode::Timeout);
        assert!(!e.message.contains("secret-key"));
    }

    #[tokio::test]
    async fn a_body_stalled_past_total_is_a_timeout() {
        let (base, _rx) = server(
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"partial\":",
            Duration::from_secs(30),
        )
        .await;
        let c = client(Duration::from_secs(10), Duration::from_millis(300));
        let url = parse_url(&format!("{base}/v1/chat")).unwrap();
        let started = std::time::Instant::now();
        let e = c
            .post_json(&url, &keyed_headers(), Bytes::new(), by_status)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Timeout, "{}", e.message);
        assert!(e.message.contains("300 ms"), "{}", e.message);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn connection_refused_is_a_network_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let c = client(Duration::from_secs(5), Duration::from_secs(5));
        let url = parse_url(&format!("http://{addr}/v1/chat")).unwrap();
        let e = c
            .post_json(&url, &keyed_headers(), Bytes::new(), by_status)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "{}", e.message);
        assert!(e.message.contains("tcp connect error"), "{}", e.message);
        assert!(!e.message.contains("secret-key"), "{}", e.message);
    }

    #[test]
    fn upstream_urls() {
        assert!(parse_url("https://api.example.com/v1/messages").is_ok());
        assert!(parse_url("http://127.0.0.1:8080/v1").is_ok());
        assert!(parse_url("api.example.com/v1").is_err());
        assert!(parse_url("/v1/messages").is_err());
        assert!(parse_url("ftp://example.com/v1").is_err());
        assert!(parse_url("http://exa mple.com/v1").is_err());
    }

    #[test]
    fn status_table() {
        let rows = [
            (400, ErrorCode::InvalidRequest),
            (401, ErrorCode::AuthenticationError),
            (403, ErrorCode::PermissionDenied),
            (404, ErrorCode::NotFound),
            (408, ErrorCode::Timeout),
            (413, ErrorCode::InvalidRequest),
            (429, ErrorCode::RateLimitExceeded),
            (500, ErrorCode::ServerError),
            (502, ErrorCode::ServerError),
            (503, ErrorCode::Overloaded),
            (504, ErrorCode::Timeout),
            (529, ErrorCode::Overloaded),
        ];
        for (status, code) in rows {
            assert_eq!(status_to_code(status), code, "{status}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = HeaderMap::new();
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }
}
