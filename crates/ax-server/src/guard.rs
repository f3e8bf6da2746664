//! Browser guards: what keeps a web page the local user happens to open from using the
//! gateway (issue 12, defect 6). In the default setup ax listens on loopback with no
//! gateway key and an open admin API, so the browser is the attacker's way in: a
//! "simple" cross-origin POST needs no CORS preflight, and DNS rebinding makes an
//! attacker's host name resolve to 127.0.0.1 so the page can even read the answers.
//!
//! One middleware, [`browser_guards`], runs before authentication and before any
//! handler, and checks in this order:
//!
//! 1. **Host** (only when listening on loopback): the `Host` (or HTTP/2 `:authority`)
//!    must be a loopback name or address — `localhost`, `*.localhost`, `127.x.x.x`,
//!    `[::1]`, any port — or match `allowed_hosts`; else 403. This is what defeats DNS
//!    rebinding: the browser still sends the attacker's name. Listening beyond
//!    loopback, Host is not checked (ax then sits behind proxies that choose it).
//! 2. **CORS preflight** (`OPTIONS` with `Origin` and `Access-Control-Request-Method`):
//!    from an origin in `cors_allowed_origins` it goes on to tower-http's
//!    [`CorsLayer`](tower_http::cors::CorsLayer), which answers it; any other gets 403
//!    with no CORS header, so the browser never sends the real request. CORS is off
//!    (every preflight refused) until origins are listed.
//! 3. **Origin** on state-changing admin requests (`POST`, `PUT`, `PATCH`, `DELETE`
//!    under `/admin`) and on every `/ui` request: an `Origin` that is neither this
//!    server (the request's own Host) nor a listed CORS origin is cross-site → 403.
//!    `Origin: null` is cross-site. Requests without `Origin` (CLI, SDKs) pass.
//! 4. **Content type** on `POST`, `PUT`, `PATCH` under `/v1`, `/v1beta` and `/admin`:
//!    a `Content-Type` must be JSON (`application/json` or `application/…+json`, any
//!    parameters, any case); a request with a body and no `Content-Type` is refused
//!    too (a browser sends a bare `Blob` body that way without a preflight). A body-less
//!    request without `Content-Type` passes (the CLI's circuit reset): a browser can
//!    send one cross-site, but step 3 refuses it on the admin API, and a body-less
//!    client request does nothing. Otherwise 415.
//!
//! Refusals of `/v1…` requests are answered in the client's format and get their one
//! log row (through [`crate::auth::reject`]); preflights get no log row (they are not
//! API calls). Other paths get the admin API's `{"error":{"code","message"}}`.
//!
//! Rejected alternative: checking `Origin` on every client request. Browsers cannot
//! send a JSON-typed cross-site request without a preflight, which step 2 refuses, so
//! steps 2 and 4 already cover `/v1`, and apps on listed origins keep working.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ax_core::{ErrorCode, GatewayError};
use axum::body::HttpBody;
use axum::http::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::auth::{Refusal, format_of, reject};
use crate::request_meta::names;
use crate::state::AppState;

/// How long a browser may cache an allowed preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The settings the guards apply, built once at start.
#[derive(Debug, Clone, Default)]
pub struct BrowserGuards {
    /// Whether `Host` is checked (the server listens on loopback).
    check_host: bool,
    /// `allowed_hosts`, parsed.
    allowed_hosts: Vec<HostPattern>,
    /// `cors_allowed_origins`, normalised (lower case, no trailing `/`).
    cors_origins: Vec<String>,
}

/// One `allowed_hosts` entry: `name`, `name:port`, `*.suffix` or `*.suffix:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern {
    /// The host (lower case, no brackets); for a wildcard, the suffix with its dot.
    host: String,
    /// Whether `host` is a `.suffix` that any subdomain matches.
    wildcard: bool,
    /// The port, when the entry names one; else any port.
    port: Option<u16>,
}

impl BrowserGuards {
    /// Guards for a server listening on loopback (`loopback`) or beyond, with the
    /// operator's extra hosts and CORS origins (entries that do not parse are ignored
    /// with a warning).
    pub fn new(loopback: bool, allowed_hosts: &[String], cors_allowed_origins: &[String]) -> Self {
        let allowed_hosts = allowed_hosts
            .iter()
            .filter_map(|entry| {
                let trimmed = entry.trim();
                let (wildcard, rest) = match trimmed.strip_prefix("*.") {
                    Some(rest) => (true, rest),
                    None => (false, trimmed),
                };
                let parsed = split_host_port(rest).map(|(host, port)| HostPattern {
                    host: if wildcard {
                        format!(".{host}")
                    } else {
                        host.into_owned()
                    },
                    wildcard,
                    port,
                });
                if parsed.is_none() {
                    tracing::warn!(entry = %entry, "allowed_hosts: not a host name; ignored");
                }
                parsed
            })
            .collect();
        let cors_origins = cors_allowed_origins
            .iter()
            .map(|o| normalize_origin(o))
            .filter(|o| !o.is_empty())
            .collect();
        Self {
            check_host: loopback,
            allowed_hosts,
            cors_origins,
        }
    }

    /// Whether any CORS origin is configured.
    pub fn cors_enabled(&self) -> bool {
        !self.cors_origins.is_empty()
    }

    /// Whether a request for `authority` (a `Host` value) may be served.
    fn host_allowed(&self, authority: &str) -> bool {
        if !self.check_host {
            return true;
        }
        let Some((host, port)) = split_host_port(authority) else {
            return false;
        };
        is_loopback_name(&host)
            || self.allowed_hosts.iter().any(|p| {
                let host_ok = if p.wildcard {
                    host.ends_with(p.host.as_str())
                } else {
                    *host == *p.host
                };
                host_ok && p.port.is_none_or(|want| port == Some(want))
            })
    }

    /// Whether `origin` is one of `cors_allowed_origins`.
    fn origin_listed(&self, origin: &str) -> bool {
        self.cors_origins.contains(&normalize_origin(origin))
    }
}

/// tower-http's CORS layer for the listed origins, `None` when CORS is off. It answers
/// the preflights [`browser_guards`] lets through and adds `access-control-allow-origin`
/// (and `vary: origin`) to actual responses for a listed origin only.
pub(crate) fn cors_layer(guards: &Arc<BrowserGuards>) -> Option<CorsLayer> {
    if !guards.cors_enabled() {
        return None;
    }
    let listed = Arc::clone(guards);
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, _| {
                origin.to_str().is_ok_and(|o| listed.origin_listed(o))
            }))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            // The headers SDKs send change with their versions (`x-stainless-*`,
            // `anthropic-beta`, `openai-project`, `x-ax-*`…): a listed origin is
            // trusted, so its preflight gets the headers it asks for. An unlisted one
            // never reaches this layer.
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers([
                names::REQUEST_ID,
                names::PROVIDER,
                names::MODEL,
                names::ATTEMPTS,
                names::FALLBACK,
                header::RETRY_AFTER,
                HeaderName::from_static("retry-after-ms"),
                HeaderName::from_static("x-should-retry"),
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

/// The guards' verdict on `req`: `Some` refusal, or `None` to serve it. Run for every
/// request before the router (see `connections.rs`), so a refused request reaches
/// neither authentication nor a handler (see the module documentation for the order).
pub(crate) fn check<B: HttpBody>(state: &AppState, req: &Request<B>) -> Option<Response> {
    let guards = state.guards();
    let path = req.uri().path();
    let method = req.method();
    let headers = req.headers();
    let origin = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("null"));
    let authority = request_authority(req);

    // 1. Host (DNS rebinding).
    if let Some(authority) = authority
        && !guards.host_allowed(authority)
    {
        let message = format!(
            "ax listens on loopback and does not answer for Host `{authority}` (DNS-rebinding guard); \
             if that name is yours, add it to AX_ALLOWED_HOSTS ([server] allowed_hosts)"
        );
        let preflight = is_preflight(method, headers);
        return Some(forbidden(state, req, message, !preflight));
    }

    // 2. CORS preflight: only a listed origin gets to the CORS layer.
    if is_preflight(method, headers) {
        let origin = origin.unwrap_or_default();
        if guards.origin_listed(origin) {
            return None;
        }
        let message = if guards.cors_enabled() {
            format!("CORS: origin `{origin}` is not in AX_CORS_ALLOWED_ORIGINS")
        } else {
            "CORS is off: list the browser app's origin in AX_CORS_ALLOWED_ORIGINS ([server] cors_allowed_origins)".to_owned()
        };
        return Some(forbidden(state, req, message, false));
    }

    // 3. Cross-site Origin on the admin API's mutations and on the dashboard.
    let admin = under(path, "/admin");
    let state_changing = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if let Some(origin) = origin
        && ((admin && state_changing) || under(path, "/ui"))
        && !same_origin(origin, authority)
        && !guards.origin_listed(origin)
    {
        let message = format!(
            "cross-site request refused: Origin `{origin}` is not this server and not in AX_CORS_ALLOWED_ORIGINS"
        );
        return Some(forbidden(state, req, message, true));
    }

    // 4. JSON content type on every body-carrying API request.
    let client = path.starts_with("/v1/") || path.starts_with("/v1beta/");
    if (client || admin) && matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        let problem = match headers.get(header::CONTENT_TYPE) {
            Some(v) if v.to_str().is_ok_and(is_json_media_type) => None,
            Some(v) => Some(format!(
                "unsupported content type `{}`: send the body as JSON with `content-type: application/json`",
                String::from_utf8_lossy(v.as_bytes())
            )),
            None if req.body().is_end_stream() => None,
            None => Some(
                "missing content type: send the body as JSON with `content-type: application/json`"
                    .to_owned(),
            ),
        };
        if let Some(message) = problem {
            return Some(refuse(
                state,
                req,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidRequest,
                message,
                true,
            ));
        }
    }
    None
}

/// A 403 `permission_denied` refusal (see [`refuse`]).
fn forbidden<B>(state: &AppState, req: &Request<B>, message: String, log: bool) -> Response {
    refuse(
        state,
        req,
        StatusCode::FORBIDDEN,
        ErrorCode::PermissionDenied,
        message,
        log,
    )
}

/// Answers a refused request: a `/v1…` one in its client's format with its log row
/// (when `log`), anything else in the admin API's shape. A listed origin also gets
/// `access-control-allow-origin`, so its app can read why.
fn refuse<B>(
    state: &AppState,
    req: &Request<B>,
    status: StatusCode,
    code: ErrorCode,
    message: String,
    log: bool,
) -> Response {
    let path = req.uri().path();
    // The status travels with the error, so a Gemini body's `code` names it too.
    let error = GatewayError::new(code, message).with_http_status(status.as_u16());
    let mut resp = if log && (path.starts_with("/v1/") || path.starts_with("/v1beta/")) {
        let format = format_of(req.method(), path);
        let refusal = Refusal {
            error,
            identity: None,
        };
        reject(state, format, req.headers(), refusal)
    } else {
        // Not a client endpoint: the admin API's one error shape.
        crate::handlers::admin_error::AdminError::new(status, code.as_str(), error.message)
            .into_response()
    };
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && origin
            .to_str()
            .is_ok_and(|o| state.guards().origin_listed(o))
    {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    resp
}

/// The authority the client addressed: `Host`, else the URI's (HTTP/2 `:authority`).
/// `None` when neither is there (an HTTP/1.0 client without `Host`: not a browser).
fn request_authority<B>(req: &Request<B>) -> Option<&str> {
    match req.headers().get(header::HOST) {
        // A Host that is not text cannot be an allowed one; "\u{0}" fails every check.
        Some(v) => Some(v.to_str().unwrap_or("\u{0}")),
        None => req.uri().authority().map(|a| a.as_str()),
    }
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// `path` is `prefix` or below it.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `application/json` or `application/<anything>+json`, with any parameters, any case.
fn is_json_media_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.len() > "+json".len() && sub.ends_with("+json"))
}

/// Splits `host[:port]` or `[v6][:port]` into the lower-case host (no brackets, no
/// trailing dot) and port; `None` for anything that is not a plain authority.
fn split_host_port(authority: &str) -> Option<(std::borrow::Cow<'_, str>, Option<u16>)> {
    let s = authority.trim();
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        (v6, after)
    } else {
        match s.find(':') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        }
    };
    let port = match port {
        "" => None,
        p => Some(p.strip_prefix(':')?.parse::<u16>().ok()?),
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    // Lower-cased only when needed: this runs for every request on loopback.
    let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(host.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(host)
    };
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    valid.then_some((host, port))
}

/// `localhost`, `*.localhost`, `127.0.0.0/8`, `::1` (and `::ffff:127.x.x.x`).
fn is_loopback_name(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Whether `origin` (`scheme://host[:port]`) names the server the request addressed
/// (`authority`); a missing port on either side is the scheme's default.
fn same_origin(origin: &str, authority: Option<&str>) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false; // `null` and anything else opaque
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return false,
    };
    let (Some((o_host, o_port)), Some((h_host, h_port))) =
        (split_host_port(rest), authority.and_then(split_host_port))
    else {
        return false;
    };
    o_host == h_host && o_port.unwrap_or(default_port) == h_port.unwrap_or(default_port)
}

/// An origin as browsers serialise it: lower case, no trailing `/`.
fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_pass_others_need_listing() {
        let g = BrowserGuards::new(
            true,
            &["ax.internal".into(), "*.corp.example:8443".into()],
            &[],
        );
        for ok in [
            "127.0.0.1:8080",
            "127.1.2.3",
            "localhost",
            "LOCALHOST:1",
            "app.localhost:3000",
            "[::1]:8080",
            "[::1]",
            "localhost.",
            "ax.internal:9999",
            "a.corp.example:8443",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "2130706433",
            "10.0.0.1:8080",
            "[::2]:8080",
            "a.corp.example:8080",
            "corp.example:8443",
            "",
            "\u{0}",
            "user@127.0.0.1",
        ] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
        // Beyond loopback, Host is the proxy's business.
        assert!(BrowserGuards::new(false, &[], &[]).host_allowed("evil.example"));
    }

    #[test]
    fn json_media_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/merge-patch+json",
            " application/vnd.api+json ",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "text/plain; charset=application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/+json",
            "text/json",
            "",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }

    #[test]
    fn same_origin_compares_host_and_effective_port() {
        assert!(same_origin("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(same_origin("http://localhost", Some("localhost:80")));
        assert!(same_origin("https://ax.example", Some("AX.example")));
        assert!(!same_origin(
            "http://127.0.0.1:8081",
            Some("127.0.0.1:8080")
        ));
        assert!(!same_origin("https://evil.example", Some("127.0.0.1:8080")));
        assert!(!same_origin("null", Some("127.0.0.1:8080")));
        assert!(!same_origin("http://127.0.0.1:8080", None));
    }

    #[test]
    fn listed_origins_are_normalised() {
        let g = BrowserGuards::new(true, &[], &["HTTP://LocalHost:3000/".into()]);
        assert!(g.cors_enabled());
        assert!(g.origin_listed("http://localhost:3000"));
        assert!(!g.origin_listed("http://localhost:3001"));
        assert!(!BrowserGuards::default().cors_enabled());
    }

    #[test]
    fn paths_under_a_prefix() {
        assert!(under("/admin", "/admin"));
        assert!(under("/admin/providers", "/admin"));
        assert!(!under("/administrator", "/admin"));
        assert!(under("/ui/login", "/ui"));
    }
}
