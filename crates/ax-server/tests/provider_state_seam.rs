//! The provider-state seam through the real server: two gateways sharing one
//! `ProviderState` (as replicas sharing circuit state would) see each other's
//! circuits — failures through one open the circuit the other skips without calling
//! its upstream, and an operator reset through the other closes it for both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use ax_mock_upstream::MockConfig;
use ax_router::{LocalProviderState, ProviderState};
use common::{Client, Setup, gateway_with};

#[tokio::test]
async fn two_gateways_share_circuits_through_one_provider_state() {
    // The circuit settings of `Setup::default()`'s router lines: 3 failures, long
    // enough open that it cannot half-open during the test.
    let shared: Arc<dyn ProviderState> = Arc::new(LocalProviderState::new(
        3,
        Duration::from_secs(600),
        ["claude", "gemini", "openai"],
    ));
    let setup = || Setup {
        provider_state: Some(Arc::clone(&shared)),
        ..Setup::default()
    };
    let a = gateway_with(setup()).await;
    let b = gateway_with(setup()).await;
    a.claude.set_default(MockConfig {
        status: Some(500),
        ..MockConfig::default()
    });
    let no_fallback = [("x-ax-fallback", "off")];
    // One request through A: three failed attempts (max_retries = 2) open the circuit.
    let r = Client::Anthropic
        .send_with(&a, "claude/claude-sonnet-4-5", false, &no_fallback)
        .await;
    assert_eq!(r.status(), 502, "{}", r.text().await.unwrap());
    assert_eq!(
        a.provider_status("claude").await["circuit"]["state"],
        "open"
    );

    // B never failed, yet skips claude without calling its own (healthy) upstream.
    assert_eq!(
        b.provider_status("claude").await["circuit"]["state"],
        "open"
    );
    let r = Client::Anthropic
        .send_with(&b, "claude/claude-sonnet-4-5", false, &no_fallback)
        .await;
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body.to_string().contains("circuit"), "{body}");
    assert_eq!(b.claude.total_hits(), 0);

    // An operator reset through B closes it for A too.
    let reset = b
        .http
        .post(format!("{}/admin/providers/claude/circuit/reset", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    assert_eq!(
        a.provider_status("claude").await["circuit"]["state"],
        "closed"
    );
    a.claude.set_default(MockConfig::default());
    let r = Client::Anthropic
        .send_with(&a, "claude/claude-sonnet-4-5", false, &no_fallback)
        .await;
    assert_eq!(r.status(), 200);
}
