//! The browser guards against the real server (issue 12, defect 6): what a web page
//! the local user opens can and cannot make a loopback, key-less ax do. A non-JSON
//! content type is 415 in the client's format with its log row; a foreign `Host` is
//! refused on loopback unless listed; a cross-site `Origin` cannot change admin state;
//! CORS is off until origins are listed, then answers exactly those.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use ax_mock_upstream::MockConfig;
use common::{Gateway, Setup, gateway, gateway_with};
use serde_json::Value;

const OPENAI: &str = "/v1/chat/completions";
const ANTHROPIC: &str = "/v1/messages";
const GEMINI: &str = "/v1beta/models/gemini/gemini-2.0-flash:generateContent";
const RESET: &str = "/admin/providers/claude/circuit/reset";
const APP: &str = "http://localhost:3000";
const EVIL: &str = "https://evil.example";

fn with_env(pairs: &[(&str, &str)]) -> Setup {
    Setup {
        env: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        ..Setup::default()
    }
}

/// Sends `method path` with `headers` and an optional raw `body`, as a browser would:
/// no content type unless one is in `headers`.
async fn send(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> reqwest::Response {
    let mut req = gw.http.request(method, format!("{}{path}", gw.url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    req.send().await.expect("request reaches ax")
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

fn request_id(resp: &reqwest::Response) -> String {
    header(resp, "x-ax-request-id")
        .expect("x-ax-request-id")
        .to_owned()
}

/// The path's request body, as valid JSON.
/// POSTs `path`'s client request as JSON, addressed to `host`.
async fn post_client(gw: &Gateway, path: &str, host: &str) -> reqwest::Response {
    let headers = [("host", host), ("content-type", "application/json")];
    send(
        gw,
        reqwest::Method::POST,
        path,
        &headers,
        Some(&body_for(path)),
    )
    .await
}

fn body_for(path: &str) -> String {
    match path {
        OPENAI => common::openai_body("openai/gpt-4o-mini", false),
        ANTHROPIC => common::anthropic_body("claude/claude-3-5-sonnet-20241022", false),
        _ => common::gemini_body(),
    }
    .to_string()
}

/// Asserts `body` is an error in the format of `path`'s client, sent with `status`,
/// and returns its message.
fn error_message(path: &str, status: u16, body: &Value) -> String {
    match path {
        OPENAI => assert!(body["error"]["type"].is_string(), "{body}"),
        ANTHROPIC => {
            assert_eq!(body["type"], "error", "{body}");
            assert!(body["error"]["type"].is_string(), "{body}");
        }
        _ => {
            assert_eq!(body["error"]["code"], status, "{body}");
            assert!(body["error"]["status"].is_string(), "{body}");
        }
    }
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {body}"))
        .to_owned()
}

async fn circuit_state(gw: &Gateway) -> Value {
    gw.provider_status("claude").await["circuit"]["state"].clone()
}

#[tokio::test]
async fn non_json_content_types_get_415_in_the_clients_format_with_a_log_row() {
    let mut gw = gateway().await;
    let mut refused = Vec::new();
    for path in [OPENAI, ANTHROPIC, GEMINI] {
        let body = body_for(path);
        for content_type in [
            Some("text/plain"),
            Some("text/plain;charset=UTF-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            // A browser's bare `Blob` body: no content type, no preflight.
            None,
        ] {
            let headers: Vec<(&str, &str)> = content_type
                .map(|c| ("content-type", c))
                .into_iter()
                .collect();
            let resp = send(&gw, reqwest::Method::POST, path, &headers, Some(&body)).await;
            assert_eq!(resp.status(), 415, "{path} {content_type:?}");
            let id = request_id(&resp);
            let v: Value = resp.json().await.unwrap();
            let message = error_message(path, 415, &v);
            assert!(message.contains("application/json"), "{message}");
            refused.push(id);
        }
    }
    assert_eq!(gw.openai.total_hits(), 0, "nothing reached an upstream");
    assert_eq!(gw.claude.total_hits(), 0, "nothing reached an upstream");
    assert_eq!(gw.gemini.total_hits(), 0, "nothing reached an upstream");

    // JSON, with parameters, any case, or a `+json` type, is served.
    for (path, content_type) in [
        (OPENAI, "application/json; charset=utf-8"),
        (ANTHROPIC, "Application/JSON"),
        (GEMINI, "application/vnd.api+json"),
    ] {
        let headers = [("content-type", content_type)];
        let resp = send(
            &gw,
            reqwest::Method::POST,
            path,
            &headers,
            Some(&body_for(path)),
        )
        .await;
        assert_eq!(resp.status(), 200, "{path} {content_type}");
    }

    let logs = gw.stop().await;
    for id in &refused {
        let rows: Vec<_> = logs.iter().filter(|r| &r.request_id == id).collect();
        assert_eq!(rows.len(), 1, "one log row for {id}: {logs:?}");
        assert_eq!(rows[0].error_code.as_deref(), Some("invalid_request"));
        assert_eq!(rows[0].state, "failed");
    }
    assert_eq!(logs.len(), refused.len() + 3);
}

#[tokio::test]
async fn a_text_plain_circuit_reset_is_refused_and_the_circuit_stays_open() {
    let gw = gateway_with(Setup {
        provider_lines: "max_retries = 0\n".into(),
        router: "retry_base_ms = 1\nretry_cap_ms = 5\ncircuit_threshold = 3\ncircuit_timeout_ms = 600000\n"
            .into(),
        ..Setup::default()
    })
    .await;
    gw.claude.set_default(MockConfig {
        status: Some(500),
        ..MockConfig::default()
    });
    for _ in 0..3 {
        let resp = gw
            .openai_chat("claude/claude-3-5-sonnet-20241022", false, &[])
            .await;
        assert_eq!(resp.status(), 200, "served by the fallback");
    }
    assert_eq!(circuit_state(&gw).await, "open");

    // The reported attack: a simple cross-origin POST from a web page.
    for (headers, body) in [
        (vec![("content-type", "text/plain")], Some("{}")),
        (vec![("content-type", "text/plain")], None),
        (
            vec![("content-type", "application/x-www-form-urlencoded")],
            Some("a=b"),
        ),
        (vec![], Some("{}")),
    ] {
        let resp = send(&gw, reqwest::Method::POST, RESET, &headers, body).await;
        assert_eq!(resp.status(), 415, "{headers:?} {body:?}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_request", "{v}");
    }
    // A body-less `fetch(…, {method: "POST", mode: "no-cors"})` carries an Origin.
    let resp = send(&gw, reqwest::Method::POST, RESET, &[("origin", EVIL)], None).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(circuit_state(&gw).await, "open", "the circuit is untouched");

    // What the CLI sends (a body-less POST, no content type, no Origin) still works.
    let resp = send(&gw, reqwest::Method::POST, RESET, &[], None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(circuit_state(&gw).await, "closed");
}

#[tokio::test]
async fn a_foreign_host_is_refused_on_loopback_unless_listed() {
    let mut gw = gateway().await;
    let evil = [("host", "evil.example:8080")];
    let resp = send(&gw, reqwest::Method::GET, "/admin/providers", &evil, None).await;
    assert_eq!(resp.status(), 403);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "permission_denied", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("AX_ALLOWED_HOSTS"), "{message}");
    let resp = send(&gw, reqwest::Method::GET, "/metrics", &evil, None).await;
    assert_eq!(resp.status(), 403);

    // A client request is refused in its own format, with its log row, before any
    // upstream is called.
    let mut refused = Vec::new();
    for path in [OPENAI, ANTHROPIC, GEMINI] {
        let resp = post_client(&gw, path, "evil.example").await;
        assert_eq!(resp.status(), 403, "{path}");
        refused.push(request_id(&resp));
        let v: Value = resp.json().await.unwrap();
        error_message(path, 403, &v);
    }
    assert_eq!(gw.openai.total_hits() + gw.claude.total_hits(), 0);
    assert_eq!(gw.gemini.total_hits(), 0);

    // Loopback names and addresses pass, whatever the port.
    let port = gw.url.rsplit(':').next().unwrap().to_owned();
    for host in [
        format!("localhost:{port}"),
        format!("app.localhost:{port}"),
        "127.0.0.2".to_owned(),
        format!("[::1]:{port}"),
    ] {
        let resp = send(
            &gw,
            reqwest::Method::GET,
            "/healthz",
            &[("host", &host)],
            None,
        )
        .await;
        assert_eq!(resp.status(), 200, "{host}");
    }
    let logs = gw.stop().await;
    for id in &refused {
        let row = logs.iter().find(|r| &r.request_id == id).expect("log row");
        assert_eq!(row.error_code.as_deref(), Some("permission_denied"));
    }

    // A name the operator lists is served.
    let gw = gateway_with(with_env(&[("AX_ALLOWED_HOSTS", "ax.test, evil.example")])).await;
    let resp = send(&gw, reqwest::Method::GET, "/admin/providers", &evil, None).await;
    assert_eq!(resp.status(), 200);
    let resp = post_client(&gw, OPENAI, "evil.example").await;
    assert_eq!(resp.status(), 200);
    let resp = send(
        &gw,
        reqwest::Method::GET,
        "/healthz",
        &[("host", "other.example")],
        None,
    )
    .await;
    assert_eq!(resp.status(), 403, "only the listed names");
}

#[tokio::test]
async fn a_cross_site_origin_cannot_change_admin_state() {
    let gw = gateway_with(with_env(&[("AX_CORS_ALLOWED_ORIGINS", APP)])).await;
    let json_type = ("content-type", "application/json");
    for origin in [EVIL, "null", "http://127.0.0.1:1"] {
        let resp = send(
            &gw,
            reqwest::Method::POST,
            RESET,
            &[("origin", origin), json_type],
            Some("{}"),
        )
        .await;
        assert_eq!(resp.status(), 403, "{origin}");
        let v: Value = resp.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("cross-site"), "{message}");
        let resp = send(
            &gw,
            reqwest::Method::POST,
            "/admin/tenants",
            &[("origin", origin), json_type],
            Some(r#"{"slug":"csrf"}"#),
        )
        .await;
        assert_eq!(resp.status(), 403, "{origin}");
    }
    let resp = send(
        &gw,
        reqwest::Method::DELETE,
        "/admin/keys/x",
        &[("origin", EVIL)],
        None,
    )
    .await;
    assert_eq!(resp.status(), 403);
    // Reading is not a state change (and DNS rebinding is the Host guard's job).
    let resp = send(
        &gw,
        reqwest::Method::GET,
        "/admin/providers",
        &[("origin", EVIL)],
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    // The server's own origin, and a listed browser app, may.
    for origin in [gw.url.as_str(), APP] {
        let resp = send(
            &gw,
            reqwest::Method::POST,
            RESET,
            &[("origin", origin), json_type],
            Some("{}"),
        )
        .await;
        assert_eq!(resp.status(), 200, "{origin}");
    }
}

#[tokio::test]
async fn with_cors_off_a_preflight_gets_no_allow_headers() {
    let mut gw = gateway().await;
    for path in [OPENAI, RESET, "/v1/models"] {
        let resp = send(
            &gw,
            reqwest::Method::OPTIONS,
            path,
            &[
                ("origin", APP),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "content-type, authorization",
                ),
            ],
            None,
        )
        .await;
        // A deliberate refusal that says how to turn CORS on.
        assert_eq!(resp.status(), 403, "{path}");
        for name in [
            "access-control-allow-origin",
            "access-control-allow-methods",
            "access-control-allow-headers",
        ] {
            assert!(header(&resp, name).is_none(), "{path}: {name}");
        }
        let v: Value = resp.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("AX_CORS_ALLOWED_ORIGINS"), "{message}");
    }
    // An actual request from a page gets no allow-origin either.
    let resp = gw
        .post(
            OPENAI,
            &common::openai_body("openai/gpt-4o-mini", false),
            &[("origin", APP)],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "access-control-allow-origin").is_none());
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 1, "a preflight is not an API call: {logs:?}");
}

/// A browser's preflight for a POST with an SDK's headers.
async fn preflight(gw: &Gateway, origin: &str) -> reqwest::Response {
    send(
        gw,
        reqwest::Method::OPTIONS,
        OPENAI,
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type, x-ax-tags, x-stainless-os",
            ),
        ],
        None,
    )
    .await
}

#[tokio::test]
async fn a_listed_origin_gets_cors_and_no_other_does() {
    let gw = gateway_with(with_env(&[(
        "AX_CORS_ALLOWED_ORIGINS",
        "http://localhost:3000/,https://app.example",
    )]))
    .await;
    let resp = preflight(&gw, APP).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(APP));
    let methods = header(&resp, "access-control-allow-methods").unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = header(&resp, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in [
        "authorization",
        "content-type",
        "x-ax-tags",
        "x-stainless-os",
    ] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
    assert!(header(&resp, "vary").unwrap().contains("origin"));

    let resp = preflight(&gw, EVIL).await;
    assert!(!resp.status().is_success(), "{}", resp.status());
    assert!(header(&resp, "access-control-allow-origin").is_none());
    assert!(header(&resp, "access-control-allow-headers").is_none());

    // Actual requests: allow-origin (and the x-ax-* headers exposed) for the listed
    // origin only.
    let body = common::openai_body("openai/gpt-4o-mini", false);
    let resp = gw.post(OPENAI, &body, &[("origin", APP)]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(APP));
    assert!(
        resp.headers()
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap().contains("origin"))
    );
    let exposed = header(&resp, "access-control-expose-headers").unwrap();
    assert!(exposed.contains("x-ax-request-id"), "{exposed}");
    assert!(exposed.contains("x-ax-provider"), "{exposed}");
    let resp = gw.post(OPENAI, &body, &[("origin", EVIL)]).await;
    assert_eq!(
        resp.status(),
        200,
        "a non-browser client may still send one"
    );
    assert!(header(&resp, "access-control-allow-origin").is_none());

    // A refusal still reaches the listed app, so it can read why.
    let resp = send(
        &gw,
        reqwest::Method::POST,
        OPENAI,
        &[("origin", APP), ("content-type", "text/plain")],
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(resp.status(), 415);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(APP));
}
