//! The admission seam through the real server: a fake `Admission` (answering later,
//! as one over a network store would) proves the pipeline asks it for every scope —
//! the key and the tenant once per request before planning, the provider before each
//! attempt — honours its refusals in every client format with one log row each, and
//! settles every permit with the request's real usage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ax_core::tenant::Quotas;
use ax_core::{ErrorCode, GatewayError};
use ax_router::Pending;
use ax_router::admission::{Admission, Ask, Grant, Permit, Refusal, Scope, Usage};
use ax_store::tenancy::NewApiKey;
use common::{Client, Setup, gateway_with};

/// Which kind of scope the fake refuses.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Key,
    Tenant,
    Provider,
}

fn kind(scope: &Scope) -> Kind {
    match scope {
        Scope::Key(_) => Kind::Key,
        Scope::Tenant(_) => Kind::Tenant,
        Scope::Provider(_) => Kind::Provider,
    }
}

#[derive(Default)]
struct Fake {
    /// The scopes of every admit call, in order.
    asked: Mutex<Vec<Vec<Scope>>>,
    /// The scopes and tokens of every settlement.
    settled: Mutex<Vec<(Vec<Scope>, u64)>>,
    refuse: Mutex<Option<Kind>>,
}

impl Admission for Fake {
    fn admit<'a>(&'a self, asks: &'a [Ask], estimate: u64) -> Pending<'a, Result<Permit, Refusal>> {
        Pending::later(async move {
            tokio::task::yield_now().await;
            let scopes: Vec<Scope> = asks.iter().map(|a| a.scope.clone()).collect();
            self.asked.lock().unwrap().push(scopes.clone());
            let refuse = *self.refuse.lock().unwrap();
            if let Some(s) = scopes.iter().find(|s| Some(kind(s)) == refuse) {
                return Err(Refusal {
                    scope: s.clone(),
                    error: Box::new(
                        GatewayError::new(
                            ErrorCode::RateLimitExceeded,
                            format!("fake refusal of {:?}", kind(s)),
                        )
                        .with_retry_after(Some(Duration::from_secs(7))),
                    ),
                });
            }
            Ok(Permit {
                grants: scopes
                    .into_iter()
                    .map(|s| Grant::new(s, estimate))
                    .collect(),
            })
        })
    }

    fn settle(&self, permit: Permit, usage: Usage) -> Pending<'static, ()> {
        let scopes = permit.grants.into_iter().map(|g| g.scope).collect();
        self.settled.lock().unwrap().push((scopes, usage.tokens));
        Pending::ready(())
    }
}

async fn setup() -> (common::Gateway, Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let gw = gateway_with(Setup {
        // A provider limit makes the provider scope one to ask.
        provider_lines: "max_retries = 0\nrpm = 1000\n".into(),
        admission: Some(fake.clone()),
        ..Setup::default()
    })
    .await;
    let key = gw
        .add_key_with(
            "team-a",
            Quotas {
                rpm: Some(100),
                ..Quotas::default()
            },
            NewApiKey {
                tpm: Some(100_000),
                ..NewApiKey::default()
            },
        )
        .await;
    (gw, fake, key)
}

#[tokio::test]
async fn every_scope_is_asked_and_settled_with_the_real_usage() {
    let (mut gw, fake, key) = setup().await;
    let auth = format!("Bearer {key}");
    let r = Client::OpenAi
        .send_with(&gw, "openai/gpt-4o", false, &[("authorization", &auth)])
        .await;
    assert_eq!(r.status(), 200);
    let asked: Vec<Vec<Kind>> = fake
        .asked
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.iter().map(kind).collect())
        .collect();
    // One call for the key and the tenant together, then one for the provider.
    assert_eq!(
        asked,
        vec![vec![Kind::Key, Kind::Tenant], vec![Kind::Provider]]
    );
    assert_eq!(
        fake.asked.lock().unwrap()[1],
        vec![Scope::Provider("openai".into())]
    );
    let logs = gw.stop().await;
    let row = &logs[0];
    let used = (row.input_tokens.unwrap() + row.output_tokens.unwrap()) as u64;
    assert!(used > 0);
    let settled = fake.settled.lock().unwrap().clone();
    assert_eq!(settled.len(), 2, "{settled:?}");
    for (scopes, tokens) in &settled {
        assert_eq!(*tokens, used, "{scopes:?} settled with the real usage");
    }
}

#[tokio::test]
async fn a_refusing_scope_ends_the_request_in_the_clients_format() {
    for refused in [Kind::Key, Kind::Tenant, Kind::Provider] {
        let (mut gw, fake, key) = setup().await;
        *fake.refuse.lock().unwrap() = Some(refused);
        let auth = format!("Bearer {key}");
        for client in Client::ALL {
            let model = match client {
                Client::OpenAi => "openai/gpt-4o",
                Client::Anthropic => "claude/claude-sonnet-4-5",
                Client::Gemini => "gemini/gemini-2.0-flash",
            };
            // No fallback: the one target's own refusal is the answer.
            let headers = [("authorization", auth.as_str()), ("x-ax-fallback", "off")];
            let r = client.send_with(&gw, model, false, &headers).await;
            assert_eq!(r.status(), 429, "{refused:?} {client:?}");
            assert_eq!(r.headers()["retry-after"], "7");
            let body: serde_json::Value = r.json().await.unwrap();
            let text = body.to_string();
            assert!(
                text.contains(&format!("fake refusal of {refused:?}")),
                "{text}"
            );
            match client {
                Client::OpenAi => assert_eq!(body["error"]["code"], "rate_limit_exceeded"),
                Client::Anthropic => assert_eq!(body["type"], "error"),
                Client::Gemini => assert_eq!(body["error"]["code"], 429),
            }
        }
        // Refused before any upstream call.
        let hits = gw.claude.total_hits() + gw.gemini.total_hits() + gw.openai.total_hits();
        assert_eq!(hits, 0, "{refused:?}");
        // One log row per request, saying why.
        let logs = gw.stop().await;
        assert_eq!(logs.len(), 3, "{refused:?}");
        for row in &logs {
            assert_eq!(row.error_code.as_deref(), Some("rate_limit_exceeded"));
        }
        // A key or tenant refusal never reaches the provider scope.
        if refused != Kind::Provider {
            assert!(
                fake.asked
                    .lock()
                    .unwrap()
                    .iter()
                    .all(|a| a.iter().all(|s| kind(s) != Kind::Provider))
            );
        }
    }
}
