//! Resolving the behaviour of one call: defaults, then script, then `x-mock-*` headers.

use axum::http::{HeaderMap, HeaderName};

use crate::{MockConfig, Scripted};

const LATENCY: HeaderName = HeaderName::from_static("x-mock-latency-ms");
const CHUNKS: HeaderName = HeaderName::from_static("x-mock-chunks");
const CHUNK_DELAY: HeaderName = HeaderName::from_static("x-mock-chunk-delay-ms");
const STATUS: HeaderName = HeaderName::from_static("x-mock-status");
const RETRY_AFTER: HeaderName = HeaderName::from_static("x-mock-retry-after");
const CUT_AFTER: HeaderName = HeaderName::from_static("x-mock-cut-after");
const ERROR_AFTER: HeaderName = HeaderName::from_static("x-mock-error-after");
const MALFORMED: HeaderName = HeaderName::from_static("x-mock-malformed");
const HANG: HeaderName = HeaderName::from_static("x-mock-hang");
const ECHO_AUTH: HeaderName = HeaderName::from_static("x-mock-echo-auth");

fn num<T: std::str::FromStr>(h: &HeaderMap, name: &HeaderName) -> Option<T> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn flag(h: &HeaderMap, name: &HeaderName) -> Option<bool> {
    let v = h.get(name)?.as_bytes();
    Some(!(v.is_empty() || v == b"0" || v.eq_ignore_ascii_case(b"false")))
}

impl Scripted {
    /// The per-request overrides carried by `x-mock-*` headers.
    pub(crate) fn from_headers(h: &HeaderMap) -> Scripted {
        Scripted {
            status: num(h, &STATUS),
            retry_after_secs: num(h, &RETRY_AFTER),
            latency_ms: num(h, &LATENCY),
            chunks: num(h, &CHUNKS),
            chunk_delay_ms: num(h, &CHUNK_DELAY),
            cut_after: num(h, &CUT_AFTER),
            error_after: num(h, &ERROR_AFTER),
            malformed: flag(h, &MALFORMED),
            hang: flag(h, &HANG),
            echo_auth: flag(h, &ECHO_AUTH),
        }
    }

    /// Applies the fields this entry sets on top of `c`.
    pub(crate) fn apply(&self, c: &mut MockConfig) {
        if let Some(s) = self.status {
            c.status = Some(s);
        }
        if let Some(v) = self.retry_after_secs {
            c.retry_after_secs = Some(v);
        }
        if let Some(v) = self.latency_ms {
            c.latency_ms = v;
        }
        if let Some(v) = self.chunks {
            c.chunks = v;
        }
        if let Some(v) = self.chunk_delay_ms {
            c.chunk_delay_ms = v;
        }
        if let Some(v) = self.cut_after {
            c.cut_after = Some(v);
        }
        if let Some(v) = self.error_after {
            c.error_after = Some(v);
        }
        if let Some(v) = self.malformed {
            c.malformed = v;
        }
        if let Some(v) = self.hang {
            c.hang = v;
        }
        if let Some(v) = self.echo_auth {
            c.echo_auth = v;
        }
        // An explicit success clears the stream faults a failing default may carry.
        if self.status.is_some_and(|s| (200..300).contains(&s)) {
            if self.cut_after.is_none() {
                c.cut_after = None;
            }
            if self.error_after.is_none() {
                c.error_after = None;
            }
        }
    }
}

/// The behaviour of one call.
pub(crate) fn resolve(
    defaults: MockConfig,
    script: Option<Scripted>,
    headers: &Scripted,
) -> MockConfig {
    let mut c = defaults;
    if let Some(s) = script {
        s.apply(&mut c);
    }
    headers.apply(&mut c);
    c.chunks = c.chunks.max(1);
    c
}

impl MockConfig {
    /// The forced non-2xx status, if any.
    pub(crate) fn forced_status(&self) -> Option<u16> {
        self.status.filter(|s| !(200..300).contains(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn headers_win_over_script_over_defaults() {
        let mut h = HeaderMap::new();
        h.insert(CHUNKS, HeaderValue::from_static("7"));
        h.insert(MALFORMED, HeaderValue::from_static("1"));
        let hdr = Scripted::from_headers(&h);
        let d = MockConfig {
            status: Some(500),
            chunks: 3,
            ..MockConfig::default()
        };
        let c = resolve(d, Some(Scripted::ok().with_latency_ms(9)), &hdr);
        assert_eq!(c.forced_status(), None);
        assert_eq!(c.chunks, 7);
        assert_eq!(c.latency_ms, 9);
        assert!(c.malformed);
        assert_eq!(
            resolve(d, None, &Scripted::default()).forced_status(),
            Some(500)
        );
    }
}
