//! Model selection as DESIGN §3 describes it, one rule at a time.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use ax_core::{ErrorCode, ProviderKind};
use ax_router::{
    CircuitState, Health, RequestOptions, RouteConfig, Router, RouterConfig, RouterError, Strategy,
    TargetRef,
};
use common::*;

/// claude (anthropic), gemini, openai as in env-only mode, plus a disabled mock.
fn three(cfg: impl FnOnce(&mut RouterConfig)) -> (Router, [Arc<Fake>; 3]) {
    let claude = Fake::new("claude", ProviderKind::Anthropic);
    let gemini = Fake::new("gemini", ProviderKind::Gemini);
    let openai = Fake::new("openai", ProviderKind::OpenAi);
    let mut c = config(vec![
        settings("claude", ProviderKind::Anthropic, &["claude-*"], 1),
        settings("gemini", ProviderKind::Gemini, &["gemini-*"], 2),
        settings("openai", ProviderKind::OpenAi, &["gpt-*", "o1*", "o3*"], 3),
    ]);
    cfg(&mut c);
    let r = Router::new(c, as_dyn(&[&claude, &gemini, &openai])).unwrap();
    (r, [claude, gemini, openai])
}

fn targets(r: &Router, model: &str, fallback: bool) -> Vec<(String, String, bool)> {
    let opts = RequestOptions {
        fallback,
        ..RequestOptions::default()
    };
    r.plan(model, &opts)
        .unwrap()
        .targets
        .iter()
        .map(|t| (t.provider.name().to_owned(), t.model.clone(), t.is_fallback))
        .collect()
}

fn names(r: &Router, model: &str) -> Vec<(String, String)> {
    targets(r, model, true)
        .into_iter()
        .map(|(p, m, _)| (p, m))
        .collect()
}

fn pm(p: &str, m: &str) -> (String, String) {
    (p.to_owned(), m.to_owned())
}

#[test]
fn provider_name_prefix_is_stripped() {
    let (r, _) = three(|_| {});
    assert_eq!(
        names(&r, "claude/claude-3-5-sonnet-20241022"),
        vec![pm("claude", "claude-3-5-sonnet-20241022")]
    );
    assert_eq!(
        names(&r, "openai/gpt-4o-mini"),
        vec![pm("openai", "gpt-4o-mini")]
    );
    // A name prefix with nothing after it means the default model.
    assert_eq!(names(&r, "gemini/"), vec![pm("gemini", "gemini-default")]);
}

#[test]
fn provider_kind_prefix_selects_a_provider_of_that_kind() {
    let (r, _) = three(|_| {});
    assert_eq!(
        names(&r, "anthropic/claude-3-5-sonnet-20241022"),
        vec![pm("claude", "claude-3-5-sonnet-20241022")]
    );
    assert_eq!(
        names(&r, "google/gemini-2.0-flash"),
        vec![pm("gemini", "gemini-2.0-flash")]
    );
}

#[test]
fn only_the_first_slash_splits_and_unknown_prefixes_are_bare_models() {
    let claude = Fake::new("claude", ProviderKind::Anthropic);
    let gemini = Fake::new("gemini", ProviderKind::Gemini);
    let openai = Fake::new("openai", ProviderKind::OpenAi);
    let router = Fake::new("router", ProviderKind::OpenAiCompatible);
    let c = config(vec![
        settings("claude", ProviderKind::Anthropic, &["claude-*"], 1),
        settings("gemini", ProviderKind::Gemini, &["gemini-*"], 2),
        settings("openai", ProviderKind::OpenAi, &["gpt-*"], 3),
        settings(
            "router",
            ProviderKind::OpenAiCompatible,
            &["meta-llama/*"],
            5,
        ),
    ]);
    let r = Router::new(c, as_dyn(&[&claude, &gemini, &openai, &router])).unwrap();
    assert_eq!(
        names(&r, "router/meta-llama/llama-3-70b"),
        vec![pm("router", "meta-llama/llama-3-70b")]
    );
    // `meta-llama` is no provider name or kind: the whole string is a bare model.
    assert_eq!(
        names(&r, "meta-llama/llama-3-70b"),
        vec![pm("router", "meta-llama/llama-3-70b")]
    );
}

#[test]
fn bare_models_match_patterns_by_priority() {
    let (r, _) = three(|_| {});
    assert_eq!(names(&r, "gpt-4o"), vec![pm("openai", "gpt-4o")]);
    assert_eq!(names(&r, "o3-mini"), vec![pm("openai", "o3-mini")]);
    assert_eq!(
        names(&r, "claude-3-haiku"),
        vec![pm("claude", "claude-3-haiku")]
    );
    assert_eq!(
        names(&r, "gemini-2.0-flash"),
        vec![pm("gemini", "gemini-2.0-flash")]
    );
    // Two providers matching: the lower priority value wins.
    let (r, _) = three(|c| c.providers[1].models.push("gpt-*".into()));
    assert_eq!(names(&r, "gpt-4o"), vec![pm("gemini", "gpt-4o")]);
    // A bare provider name means its default model.
    let (r, _) = three(|_| {});
    assert_eq!(names(&r, "openai"), vec![pm("openai", "openai-default")]);
}

#[test]
fn unknown_models_are_not_found_and_named() {
    let (r, _) = three(|_| {});
    for model in ["nope/unknown-model-xyz", "llama-3", "mock/demo"] {
        let e = r.plan(model, &RequestOptions::default()).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound, "{model}");
        assert_eq!(e.http_status(), 404);
        assert!(e.message.contains(model), "{}", e.message);
    }
    assert_eq!(
        r.plan("", &RequestOptions::default()).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn disabled_providers_are_never_planned() {
    let (r, _) = three(|c| c.providers[2].enabled = false);
    let e = r
        .plan("openai/gpt-4o", &RequestOptions::default())
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert!(e.message.contains("not enabled"), "{}", e.message);
    assert_eq!(
        r.plan("gpt-4o", &RequestOptions::default())
            .unwrap_err()
            .code,
        ErrorCode::NotFound
    );
    // The kind prefix finds no enabled openai either.
    let e = r.plan("openai-compatible/x", &RequestOptions::default());
    assert!(e.is_err());
}

#[test]
fn fallback_chain_is_appended_without_duplicates() {
    let (r, _) = three(|c| {
        c.primary_provider = Some("claude".into());
        c.fallback_chain = vec!["gemini".into(), "openai".into(), "claude".into()];
    });
    assert_eq!(
        targets(&r, "gpt-4o", true),
        vec![
            ("openai".into(), "gpt-4o".into(), false),
            ("claude".into(), "claude-default".into(), true),
            ("gemini".into(), "gemini-default".into(), true),
        ]
    );
    assert_eq!(
        names(&r, "claude/claude-x"),
        vec![
            pm("claude", "claude-x"),
            pm("gemini", "gemini-default"),
            pm("openai", "openai-default")
        ]
    );
    // x-ax-fallback: off → only the chosen provider.
    assert_eq!(
        targets(&r, "gpt-4o", false),
        vec![("openai".into(), "gpt-4o".into(), false)]
    );
    // Disabled providers in the chain are left out.
    let (r, _) = three(|c| {
        c.primary_provider = Some("claude".into());
        c.fallback_chain = vec!["gemini".into(), "openai".into()];
        c.providers[1].enabled = false;
    });
    assert_eq!(
        names(&r, "gpt-4o"),
        vec![pm("openai", "gpt-4o"), pm("claude", "claude-default")]
    );
    // Fallback disabled in the config: no chain, whatever the request says.
    let (r, _) = three(|c| {
        c.primary_provider = Some("claude".into());
        c.fallback_chain = vec!["gemini".into()];
        c.fallback_enabled = false;
    });
    assert_eq!(names(&r, "gpt-4o"), vec![pm("openai", "gpt-4o")]);
}

fn route(name: &str, strategy: Strategy, targets: &[&str]) -> RouteConfig {
    RouteConfig {
        name: name.into(),
        strategy,
        targets: targets.iter().map(|t| TargetRef::parse(t)).collect(),
        hedge_after: None,
    }
}

#[test]
fn routes_give_their_targets_in_order() {
    let (r, _) = three(|c| {
        c.routes.push(route(
            "default",
            Strategy::Fallback,
            &["gemini/fast", "claude"],
        ));
        c.primary_provider = Some("claude".into());
        c.fallback_chain = vec!["openai".into()];
    });
    let plan = r.plan("default", &RequestOptions::default()).unwrap();
    assert_eq!(plan.route.as_deref(), Some("default"));
    assert_eq!(
        names(&r, "default"),
        vec![
            pm("gemini", "fast"),
            pm("claude", "claude-default"),
            pm("openai", "openai-default")
        ]
    );
}

#[test]
fn weighted_route_never_picks_a_zero_weight_first() {
    let (r, _) = three(|c| {
        c.providers[0].weight = 0;
        c.providers[1].weight = 1;
        c.routes
            .push(route("w", Strategy::Weighted, &["claude", "gemini"]));
    });
    for _ in 0..50 {
        assert_eq!(
            names(&r, "w"),
            vec![
                pm("gemini", "gemini-default"),
                pm("claude", "claude-default")
            ]
        );
    }
    // Equal weights: both come first sometimes.
    let (r, _) = three(|c| {
        c.routes.push(route(
            "w",
            Strategy::Weighted,
            &["claude", "gemini", "openai"],
        ));
    });
    let firsts: std::collections::HashSet<String> =
        (0..200).map(|_| names(&r, "w")[0].0.clone()).collect();
    assert_eq!(firsts.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn least_latency_and_health_routes_order_by_measurements() {
    let (r, [claude, gemini, _openai]) = three(|c| {
        c.routes.push(route(
            "fast",
            Strategy::LeastLatency,
            &["claude", "gemini", "openai"],
        ));
        c.routes.push(route(
            "healthy",
            Strategy::Health,
            &["claude", "gemini", "openai"],
        ));
    });
    // Unmeasured: configuration order.
    assert_eq!(names(&r, "fast")[0].0, "claude");
    claude.always(delay(300, Behavior::Answer));
    gemini.always(delay(100, Behavior::Answer));
    for model in ["claude/x", "gemini/x"] {
        let (mut t, _) = tracked();
        r.chat(&chat_request(model), &RequestOptions::default(), &mut t)
            .await
            .unwrap();
    }
    // gemini is faster, claude slower, openai unmeasured (last).
    assert_eq!(
        names(&r, "fast")
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>(),
        vec!["gemini", "claude", "openai"]
    );
    // Health: claude gets more successes; gemini fails once (degraded, 0 successes).
    for _ in 0..5 {
        let (mut t, _) = tracked();
        r.chat(
            &chat_request("claude/x"),
            &RequestOptions::default(),
            &mut t,
        )
        .await
        .unwrap();
    }
    gemini.script([upstream(ErrorCode::ServerError, 500)]);
    let opts = RequestOptions {
        fallback: false,
        ..RequestOptions::default()
    };
    let (mut t, _) = tracked();
    let _ = r.chat(&chat_request("gemini/x"), &opts, &mut t).await;
    let status = r.providers_status();
    assert_eq!(status[0].health, Health::Healthy);
    assert_eq!(
        names(&r, "healthy")
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>(),
        vec!["claude", "gemini", "openai"]
    );
}

#[test]
fn mock_answers_any_model_and_serves_everything_when_alone() {
    let mock = Fake::new("mock", ProviderKind::Mock);
    let openai = Fake::new("openai", ProviderKind::OpenAi);
    // Mock alongside a real provider: only `mock/...`.
    let mut c = config(vec![
        settings("openai", ProviderKind::OpenAi, &["gpt-*"], 3),
        settings("mock", ProviderKind::Mock, &[], 100),
    ]);
    c.primary_provider = Some("openai".into());
    let r = Router::new(c.clone(), as_dyn(&[&mock, &openai])).unwrap();
    assert_eq!(
        names(&r, "mock/anything/at all"),
        vec![
            pm("mock", "anything/at all"),
            pm("openai", "openai-default")
        ]
    );
    assert!(r.plan("llama-3", &RequestOptions::default()).is_err());
    assert!(r.plan("default", &RequestOptions::default()).is_err());

    // Mock alone (openai disabled): bare names and `default` go to the mock.
    c.providers[0].enabled = false;
    let r = Router::new(c, as_dyn(&[&mock, &openai])).unwrap();
    assert_eq!(names(&r, "llama-3"), vec![pm("mock", "llama-3")]);
    assert_eq!(names(&r, "gpt-4o"), vec![pm("mock", "gpt-4o")]);
    assert_eq!(names(&r, "default"), vec![pm("mock", "mock-default")]);
    assert!(r.model_names().contains(&"default".to_owned()));
    assert!(r.model_names().contains(&"mock/mock-default".to_owned()));
    // A named but disabled provider is still refused.
    assert_eq!(
        r.plan("openai/gpt-4o", &RequestOptions::default())
            .unwrap_err()
            .code,
        ErrorCode::NotFound
    );
}

#[test]
fn dry_run_and_model_names() {
    let (r, _) = three(|c| {
        c.routes.push(route(
            "default",
            Strategy::Fallback,
            &["claude", "openai/gpt-4o"],
        ));
        c.primary_provider = Some("gemini".into());
    });
    let plan = r.dry_run("default", &RequestOptions::default()).unwrap();
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"provider": "claude", "model": "claude-default", "health": "unknown", "circuit": "closed", "is_fallback": false},
            {"provider": "openai", "model": "gpt-4o", "health": "unknown", "circuit": "closed", "is_fallback": false},
            {"provider": "gemini", "model": "gemini-default", "health": "unknown", "circuit": "closed", "is_fallback": true},
        ])
    );
    assert_eq!(plan[0].circuit, CircuitState::Closed);
    assert_eq!(
        r.model_names(),
        vec![
            "default",
            "claude/claude-default",
            "gemini/gemini-default",
            "openai/openai-default"
        ]
    );
    assert!(r.provider("gemini").is_some());
    assert!(r.provider("nope").is_none());
}

#[test]
fn construction_checks_references() {
    let a = Fake::new("a", ProviderKind::OpenAi);
    let mut c = config(vec![settings("a", ProviderKind::OpenAi, &[], 1)]);
    c.routes
        .push(route("r1", Strategy::Fallback, &["a", "zzz/m"]));
    let e = Router::new(c, as_dyn(&[&a])).unwrap_err();
    assert!(
        matches!(&e, RouterError::UnknownRouteProvider { route, provider, .. } if route == "r1" && provider == "zzz")
    );
    assert!(e.to_string().contains("r1") && e.to_string().contains("zzz"));

    let c = config(vec![
        settings("a", ProviderKind::OpenAi, &[], 1),
        settings("b", ProviderKind::OpenAi, &[], 1),
    ]);
    let e = Router::new(c, as_dyn(&[&a])).unwrap_err();
    assert_eq!(e, RouterError::MissingAdapter("b".into()));

    let mut c = config(vec![]);
    c.fallback_chain = vec!["ghost".into()];
    let e = Router::new(c, as_dyn(&[&a])).unwrap_err();
    assert!(e.to_string().contains("ghost"));

    let mut c = config(vec![]);
    c.routes.push(route("empty", Strategy::Fallback, &[]));
    assert_eq!(
        Router::new(c, as_dyn(&[&a])).unwrap_err(),
        RouterError::EmptyRoute("empty".into())
    );

    let e = Router::new(config(vec![]), as_dyn(&[&a, &a])).unwrap_err();
    assert_eq!(e, RouterError::DuplicateProvider("a".into()));

    // An adapter without settings is enabled with defaults; a disabled setting needs no
    // adapter.
    let mut off = settings("off", ProviderKind::Gemini, &[], 1);
    off.enabled = false;
    let r = Router::new(config(vec![off]), as_dyn(&[&a])).unwrap();
    let status = r.providers_status();
    assert_eq!(status.len(), 2);
    assert!(!status[0].enabled);
    assert!(status[1].enabled);
}

/// The plan a key with `patterns` gets for `model`, or its error code.
fn restricted(
    r: &Router,
    model: &str,
    patterns: &[&str],
) -> Result<Vec<(String, String)>, ErrorCode> {
    let opts = RequestOptions {
        allowed_models: Some(patterns.iter().map(|p| (*p).to_owned()).collect()),
        ..RequestOptions::default()
    };
    r.plan(model, &opts)
        .map(|p| {
            p.targets
                .iter()
                .map(|t| (t.provider.name().to_owned(), t.model.clone()))
                .collect()
        })
        .map_err(|e| e.code)
}

#[test]
fn a_key_allow_list_restricts_every_target_of_the_plan() {
    let (r, _) = three(|c| {
        c.routes.push(RouteConfig {
            name: "gpt-smart".into(),
            strategy: Strategy::Fallback,
            targets: vec![TargetRef::parse("claude")],
            hedge_after: None,
        });
    });
    // The fallback chain's Claude and Gemini defaults are dropped.
    assert_eq!(
        restricted(&r, "gpt-4o", &["gpt-*"]),
        Ok(vec![pm("openai", "gpt-4o")])
    );
    // A route, or another provider's prefix, does not carry an allowed name elsewhere.
    for model in [
        "gpt-smart",
        "claude/gpt-4o",
        "anthropic/gpt-4o",
        "gemini/gpt-4o",
    ] {
        assert_eq!(
            restricted(&r, model, &["gpt-*"]),
            Err(ErrorCode::PermissionDenied),
            "{model}"
        );
    }
    // Provider patterns match by name or kind.
    assert_eq!(
        restricted(&r, "claude/anything", &["anthropic/*"]),
        Ok(vec![pm("claude", "anything")])
    );
    // The fallback chain only continues among allowed targets.
    let (r, _) = three(|c| c.fallback_chain = vec!["claude".into(), "gemini".into()]);
    assert_eq!(
        restricted(&r, "gpt-4o", &["openai/*", "claude/*"]),
        Ok(vec![pm("openai", "gpt-4o"), pm("claude", "claude-default")])
    );
}
