//! With no provider configured at all, the gateway serves everything from the
//! built-in mock provider, in every client format.

mod common;

use std::collections::BTreeMap;

use ax_server::{Config, ServeOptions};
use serde_json::Value;

#[tokio::test]
async fn no_provider_configured_serves_the_mock_for_every_model() {
    let dir = tempfile::tempdir().unwrap();
    let env: BTreeMap<String, String> = [
        ("AX_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "AX_DATABASE_URL".to_owned(),
            format!("sqlite://{}", dir.path().join("ax.db").display()),
        ),
    ]
    .into();
    let config = Config::from_toml_str("", &env).unwrap();
    assert!(config.mock_only);
    let server = ax_server::start(config, ServeOptions::default(), std::future::pending())
        .await
        .unwrap();
    let url = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    for model in [
        "gpt-4o-mini",
        "claude-3-5-sonnet-20241022",
        "default",
        "mock/anything",
    ] {
        let resp = http
            .post(format!("{url}/v1/chat/completions"))
            .json(&common::openai_body(model, false))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{model}");
        assert_eq!(resp.headers()["x-ax-provider"], "mock", "{model}");
        let v: Value = resp.json().await.unwrap();
        assert!(
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .contains("mock")
        );
    }
    let resp = http
        .post(format!("{url}/v1/messages"))
        .json(&common::anthropic_body("demo", true))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.contains("event: message_stop"), "{text}");
    server.shutdown().await.unwrap();
}

#[test]
fn a_broken_config_names_the_key_and_the_reason() {
    let env = BTreeMap::new();
    let err = Config::from_toml_str(
        "[[providers]]\nname = \"x\"\nkind = \"openai\"\ntimeout_msec = 5\n",
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("ax.toml") && err.contains("timeout_msec"),
        "{err}"
    );
    let err = Config::from_toml_str(
        "",
        &BTreeMap::from([("PROVIDER_CIRCUIT_THRESHOLD".to_owned(), "0".to_owned())]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("PROVIDER_CIRCUIT_THRESHOLD") && err.contains("at least 1"),
        "{err}"
    );
}
