//! The upstream HTTP client shared by every provider adapter: one pooled `reqwest`
//! client per provider (TCP_NODELAY on), deadlines, status → error-code mapping,
//! `Retry-After` parsing, and SSE bodies turned into decoded chunks as they arrive.

use std::time::Duration;

use ax_core::{ChatStream, ErrorCode, GatewayError, StreamChunk};
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use crate::codec::StreamDecoder;
use crate::config::Timeouts;
use crate::sse::{SseDecoder, SseFrame};

/// Turns an upstream error response (status, headers, body) into a gateway error.
pub type ErrorDecoder = fn(u16, &HeaderMap, &[u8]) -> GatewayError;

/// A pooled HTTP client for one provider.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
    timeouts: Timeouts,
    provider: String,
}

impl UpstreamClient {
    /// Builds the client; called once per provider at start-up, never per request.
    pub fn new(provider: &str, timeouts: Timeouts) -> Result<Self, GatewayError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .tcp_nodelay(true)
            // Provider APIs never redirect a POST; following one would carry the API
            // key elsewhere, and the policy costs a hook on every request.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .user_agent(concat!("ax/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                GatewayError::new(ErrorCode::ServerError, format!("building HTTP client: {e}"))
                    .with_provider(provider)
            })?;
        Ok(Self {
            http,
            timeouts,
            provider: provider.to_owned(),
        })
    }

    /// The provider this client belongs to.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// POSTs a JSON body and returns the 2xx response body; other statuses become
    /// errors through `decode_error`.
    pub async fn post_json(
        &self,
        url: impl reqwest::IntoUrl + Send,
        headers: HeaderMap,
        body: Vec<u8>,
        decode_error: ErrorDecoder,
    ) -> Result<Bytes, GatewayError> {
        let req = self
            .http
            .post(url)
            .headers(headers)
            .header(CONTENT_TYPE, "application/json")
            .timeout(self.timeouts.total)
            .body(body);
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(&e))?;
        if (200..300).contains(&status) {
            Ok(bytes)
        } else {
            Err(self.tag(decode_error(status, &headers, &bytes), status))
        }
    }

    /// GETs a URL (health probes); 2xx body or an error through `decode_error`.
    pub async fn get(
        &self,
        url: impl reqwest::IntoUrl + Send,
        headers: HeaderMap,
        decode_error: ErrorDecoder,
    ) -> Result<Bytes, GatewayError> {
        let req = self
            .http
            .get(url)
            .headers(headers)
            .timeout(self.timeouts.first_byte.min(Duration::from_secs(30)));
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(&e))?;
        if (200..300).contains(&status) {
            Ok(bytes)
        } else {
            Err(self.tag(decode_error(status, &headers, &bytes), status))
        }
    }

    /// POSTs a streaming request. Returns once the upstream answered 2xx with an event
    /// stream; every SSE frame is then decoded by `decoder` and handed on as soon as it
    /// arrives (nothing is buffered beyond one frame). The stream fails with `timeout`
    /// when the upstream is silent longer than the idle timeout, and with whatever
    /// `decoder.finish()` says when the body ends.
    pub async fn post_sse(
        &self,
        url: impl reqwest::IntoUrl + Send,
        headers: HeaderMap,
        body: Vec<u8>,
        decode_error: ErrorDecoder,
        decoder: Box<dyn StreamDecoder>,
    ) -> Result<ChatStream, GatewayError> {
        let req = self
            .http
            .post(url)
            .headers(headers)
            .header(CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .body(body);
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.map_err(|e| self.transport_error(&e))?;
            return Err(self.tag(decode_error(status, &headers, &bytes), status));
        }
        let is_sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if !is_sse {
            // A 2xx that is not a stream is usually a JSON error from a proxy in between.
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.map_err(|e| self.transport_error(&e))?;
            let mut err = decode_error(502, &headers, &bytes);
            err.code = ErrorCode::ServerError;
            err.message = format!(
                "upstream answered a stream request without an event stream: {}",
                err.message
            );
            return Err(self.tag(err, status));
        }
        Ok(sse_chunks(
            resp.bytes_stream(),
            decoder,
            self.timeouts.idle,
            self.provider.clone(),
        ))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, GatewayError> {
        match tokio::time::timeout(self.timeouts.first_byte, req.send()).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(self.transport_error(&e)),
            Err(_) => Err(GatewayError::new(
                ErrorCode::Timeout,
                format!(
                    "no response headers within {} ms",
                    self.timeouts.first_byte.as_millis()
                ),
            )
            .with_provider(&self.provider)),
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> GatewayError {
        transport_error(&self.provider, e)
    }

    fn tag(&self, err: GatewayError, status: u16) -> GatewayError {
        let mut err = err.with_provider(&self.provider);
        err.upstream_status.get_or_insert(status);
        err
    }
}

/// Classifies a transport failure (no HTTP status).
pub fn transport_error(provider: &str, e: &reqwest::Error) -> GatewayError {
    let code = if e.is_timeout() {
        ErrorCode::Timeout
    } else {
        ErrorCode::NetworkError
    };
    // reqwest's Display can include the URL; it never includes headers, so no key leaks.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    GatewayError::new(code, msg).with_provider(provider)
}

fn sse_chunks<S>(
    body: S,
    decoder: Box<dyn StreamDecoder>,
    idle: Duration,
    provider: String,
) -> ChatStream
where
    S: futures::Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static,
{
    struct St<S> {
        body: std::pin::Pin<Box<S>>,
        sse: SseDecoder,
        decoder: Box<dyn StreamDecoder>,
        pending: std::collections::VecDeque<SseFrame>,
        frames: Vec<SseFrame>,
        done: bool,
        idle: Duration,
        provider: String,
    }
    let st = St {
        body: Box::pin(body),
        sse: SseDecoder::new(),
        decoder,
        pending: Default::default(),
        frames: Vec::new(),
        done: false,
        idle,
        provider,
    };
    let fail = |st: &St<S>, e: GatewayError| -> GatewayError { e.with_provider(&st.provider) };
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
                    let res = st.sse.feed(&bytes, &mut frames);
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
                    if let Err(e) = st.sse.finish(&mut frames) {
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
    use reqwest::header::HeaderValue;

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
