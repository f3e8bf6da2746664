//! A client-chosen `x-ax-request-id` is scoped to the caller's tenant when gateway keys
//! are in use (issue 12): before, it was taken as given, so one tenant could write log
//! rows under another tenant's request ID.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{gateway, openai_body};

#[tokio::test]
async fn a_client_request_id_is_scoped_to_its_tenant() {
    let mut gw = gateway().await;
    let a = gw.add_key("team-a", None).await;
    let b = gw.add_key("team-b", None).await;
    for key in [&a, &b] {
        let r = gw
            .http
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(key)
            .header("x-ax-request-id", "req-1")
            .json(&openai_body("mock/x", false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let echoed = r.headers()["x-ax-request-id"].to_str().unwrap().to_owned();
        let slug = if key == &a { "team-a" } else { "team-b" };
        assert_eq!(echoed, format!("{slug}:req-1"));
    }
    // A refused request (unknown model) is scoped the same way.
    let r = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(&a)
        .header("x-ax-request-id", "req-2")
        .json(&openai_body("nobody-serves-this", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-ax-request-id"], "team-a:req-2");
    let mut ids: Vec<String> = gw.stop().await.into_iter().map(|r| r.request_id).collect();
    ids.sort();
    assert_eq!(ids, ["team-a:req-1", "team-a:req-2", "team-b:req-1"]);
}

#[tokio::test]
async fn without_keys_the_client_request_id_is_taken_as_given() {
    let mut gw = gateway().await;
    let r = gw
        .openai_chat("mock/x", false, &[("x-ax-request-id", "req-1")])
        .await;
    assert_eq!(r.headers()["x-ax-request-id"], "req-1");
    let rows = gw.stop().await;
    assert_eq!(rows[0].request_id, "req-1");
}
