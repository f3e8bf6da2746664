//! The admin API's one error shape through real HTTP (issue 13): `{"error": {"code",
//! "message"}}` with the same status, code and message whether the error comes from the
//! key check, the live-provider endpoints (`admin.rs`), a route plan (`GatewayError`)
//! or the store (`tenants.rs`). Also the Gemini-format 413, whose body names the
//! status sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Gateway, Setup, gateway_with};
use serde_json::{Value, json};

const ADMIN_KEY: &str = "test-admin-key-errors";

fn with_admin_key() -> Setup {
    let mut setup = Setup::default();
    setup.env.insert("AX_ADMIN_KEY".into(), ADMIN_KEY.into());
    setup
}

/// An admin call with `key` (none when `None`) and a raw JSON `body`; the status, the
/// content type and the body.
async fn call(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (u16, String, Value) {
    let mut req = gw.http.request(method, format!("{}{path}", gw.url));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ctype, r.json().await.unwrap())
}

/// Asserts the exact status and the exact body `{"error": {"code", "message"}}`.
async fn expect(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
    status: u16,
    code: &str,
    message: &str,
) {
    let (got, ctype, v) = call(gw, method.clone(), path, Some(ADMIN_KEY), body).await;
    assert_eq!(got, status, "{method} {path}: {v}");
    assert_eq!(ctype, "application/json", "{method} {path}");
    assert_eq!(
        v,
        json!({"error": {"code": code, "message": message}}),
        "{method} {path}"
    );
}

#[tokio::test]
async fn the_admin_key_check_answers_401_in_the_admin_shape() {
    let mut gw = gateway_with(with_admin_key()).await;
    let wrong = json!({"error": {
        "code": "authentication_error",
        "message": "missing or invalid admin key (Authorization: Bearer $AX_ADMIN_KEY)",
    }});
    // The live-provider endpoints and the tenancy ones share the check.
    for path in ["/admin/providers", "/admin/tenants"] {
        for key in [None, Some("not-the-key")] {
            let (status, _, v) = call(&gw, reqwest::Method::GET, path, key, None).await;
            assert_eq!(status, 401, "{path} {key:?}");
            assert_eq!(v, wrong, "{path} {key:?}");
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn the_tenancy_api_without_an_admin_key_is_401_even_on_loopback() {
    let mut gw = gateway_with(Setup::default()).await;
    // The read-only provider view is open on loopback without a key...
    let (status, _, _) = call(&gw, reqwest::Method::GET, "/admin/providers", None, None).await;
    assert_eq!(status, 200);
    // ...the tenancy API never is.
    let (status, ctype, v) = call(&gw, reqwest::Method::GET, "/admin/tenants", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(ctype, "application/json");
    assert_eq!(
        v,
        json!({"error": {
            "code": "authentication_error",
            "message": "the tenancy admin API needs AX_ADMIN_KEY (use the ax CLI on the store otherwise)",
        }})
    );
    gw.stop().await;
}

#[tokio::test]
async fn provider_endpoint_errors_404_and_400() {
    use reqwest::Method;
    let mut gw = gateway_with(with_admin_key()).await;
    expect(
        &gw,
        Method::POST,
        "/admin/providers/nobody/circuit/reset",
        None,
        404,
        "not_found",
        "unknown provider `nobody`",
    )
    .await;
    expect(
        &gw,
        Method::GET,
        "/admin/routes/explain",
        None,
        400,
        "invalid_request",
        "missing ?model=",
    )
    .await;
    // A plan that cannot be made: the router's GatewayError, its status and code.
    expect(
        &gw,
        Method::GET,
        "/admin/routes/explain?model=",
        None,
        400,
        "invalid_request",
        "`model` is required",
    )
    .await;
    expect(
        &gw,
        Method::GET,
        "/admin/routes/explain?model=llama-3",
        None,
        404,
        "not_found",
        "unknown model `llama-3`: not `provider/model` of an enabled provider, not a route, and no enabled provider serves it",
    )
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn tenancy_errors_400_404_409() {
    use reqwest::Method;
    let mut gw = gateway_with(with_admin_key()).await;
    expect(
        &gw,
        Method::GET,
        "/admin/tenants/nobody",
        None,
        404,
        "not_found",
        "no tenant `nobody`",
    )
    .await;
    expect(
        &gw,
        Method::GET,
        "/admin/keys/ax-nope",
        None,
        404,
        "not_found",
        "no key with prefix `ax-nope`",
    )
    .await;
    expect(
        &gw,
        Method::GET,
        "/admin/tenants?after=x",
        None,
        400,
        "invalid_request",
        "`after` must be a tenant ID",
    )
    .await;
    expect(
        &gw,
        Method::PATCH,
        "/admin/tenants/nobody",
        Some(r#"{"bogus": 1}"#),
        400,
        "invalid_request",
        "unknown field `bogus` (allowed: name, status, rpm, tpm, tpd, monthly_budget_usd)",
    )
    .await;

    // 409 from the store (slug taken) and from the tenant lifecycle.
    let (status, _, _) = call(
        &gw,
        Method::POST,
        "/admin/tenants",
        Some(ADMIN_KEY),
        Some(r#"{"slug": "team-a"}"#),
    )
    .await;
    assert_eq!(status, 201);
    expect(
        &gw,
        Method::POST,
        "/admin/tenants",
        Some(r#"{"slug": "team-a"}"#),
        409,
        "conflict",
        "a tenant with slug `team-a` exists",
    )
    .await;
    let (status, _, _) = call(
        &gw,
        Method::POST,
        "/admin/tenants/team-a/decommission",
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(status, 200);
    expect(
        &gw,
        Method::POST,
        "/admin/tenants/team-a/activate",
        None,
        409,
        "invalid_transition",
        "a tenant cannot go from decommissioned to active",
    )
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn a_gemini_413_names_413_in_its_body() {
    let mut setup = Setup::default();
    setup.env.insert("AX_MAX_BODY_BYTES".into(), "1024".into());
    let mut gw = gateway_with(setup).await;
    let big = json!({"contents": [{"role": "user", "parts": [{"text": "x".repeat(4096)}]}]});
    let r = gw.post("/v1beta/models/x:generateContent", &big, &[]).await;
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    // Gemini itself answers an oversized payload with `INVALID_ARGUMENT` ("Request
    // payload size exceeds the limit"); `code` is the HTTP status actually sent.
    assert_eq!(
        body,
        json!({"error": {
            "code": 413,
            "message": "request body is larger than 1024 bytes",
            "status": "INVALID_ARGUMENT",
            "details": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "INVALID_REQUEST",
                "domain": "ax.gateway",
            }],
        }})
    );
    gw.stop().await;
}
