//! The tool-call trigger: how an ordinary turn (no forced `tool_choice`) makes the mock
//! call a tool, so a coding agent can run "prompt → tool call → tool result → answer"
//! against it.
//!
//! - The last turn is a user turn whose text contains `[[call NAME ARGS_JSON]]` (e.g.
//!   `[[call shell {"command":["echo","hi"]}]]`; `[[call NAME]]` means `{}`) and `NAME`
//!   is one of the request's function tools: the mock calls `NAME` with `ARGS_JSON`
//!   exactly as written (it must be a JSON object).
//! - The last turn carries a tool result (a `tool` message, a `tool_result` block, a
//!   `functionResponse` part, a `function_call_output` item): the mock answers the text
//!   `tool said: <first 200 chars of the result>` and stops normally.
//!
//! Only requests that declare tools are looked at, and only then is the body parsed into
//! a JSON tree: the benchmark's tool-less requests pay nothing. A `tool_choice` that
//! forces a tool keeps its meaning: a trigger naming another tool yields to it, and a
//! forced call wins over a tool result (see [`decide`]).

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::util::TOOL_ARGS;

/// What the last turn of a request asks of the mock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Turn {
    /// `[[call NAME ARGS]]` in the last user turn, `NAME` among the request's tools.
    Call {
        /// The tool to call.
        name: String,
        /// The arguments, a JSON object as the user wrote it.
        args: String,
    },
    /// The last turn is a tool result: its first [`RESULT_CHARS`] characters.
    ToolResult(String),
}

/// How much of a tool result the answer repeats.
pub(crate) const RESULT_CHARS: usize = 200;

/// The mock's answer to one generation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply<'a> {
    /// Call `name` with the JSON object `args`.
    Call {
        /// The tool to call.
        name: Cow<'a, str>,
        /// The arguments (JSON object text).
        args: Cow<'a, str>,
    },
    /// Answer this text (`tool said: …`).
    Text(String),
    /// The usual `Hello from mock-…` answer.
    Answer,
}

/// Combines a forced tool (`tool_choice`) with what the last turn asks: a trigger call
/// (unless the forced tool is another one), else the forced call with the mock's fixed
/// arguments, else `tool said: …` after a tool result, else the usual answer.
pub(crate) fn decide<'a>(forced: Option<Cow<'a, str>>, turn: Option<Turn>) -> Reply<'a> {
    match (forced, turn) {
        (forced, Some(Turn::Call { name, args }))
            if forced.as_deref().is_none_or(|f| f == name) =>
        {
            Reply::Call {
                name: Cow::Owned(name),
                args: Cow::Owned(args),
            }
        }
        (Some(name), _) => Reply::Call {
            name,
            args: Cow::Borrowed(TOOL_ARGS),
        },
        (None, Some(Turn::ToolResult(text))) => Reply::Text(format!("tool said: {text}")),
        (None, _) => Reply::Answer,
    }
}

/// Tool-call arguments serialized as the JSON object they hold (Anthropic `input`,
/// Gemini `args`); `{}` if they are not JSON, which cannot happen: the trigger and
/// [`TOOL_ARGS`] are checked JSON objects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArgsObject<'a>(pub &'a str);

impl Serialize for ArgsObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<&RawValue>(self.0) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_map(Some(0))?.end(),
        }
    }
}

/// The first `[[call NAME ARGS]]` in `text` whose `NAME` passes `known`: `(name, args)`.
pub(crate) fn find_call(text: &str, known: impl Fn(&str) -> bool) -> Option<(&str, &str)> {
    const OPEN: &str = "[[call ";
    let mut from = 0;
    while let Some(at) = text[from..].find(OPEN) {
        let start = from + at + OPEN.len();
        from = start;
        if let Some((name, args)) = parse_call(&text[start..])
            && known(name)
        {
            return Some((name, args));
        }
    }
    None
}

/// `NAME ARGS]]…` or `NAME]]…` → `(name, args)`.
fn parse_call(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    let end = s
        .find(|c: char| c.is_whitespace() || c == ']')
        .unwrap_or(s.len());
    let (name, rest) = s.split_at(end);
    if name.is_empty() {
        return None;
    }
    let rest = rest.trim_start();
    if rest.starts_with("]]") {
        return Some((name, "{}"));
    }
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
    let args = values.next()?.ok()?;
    let after = rest.get(values.byte_offset()..)?;
    (args.get().starts_with('{') && after.trim_start().starts_with("]]"))
        .then_some((name, args.get()))
}

/// The first [`RESULT_CHARS`] characters of `s`.
fn head(s: &str) -> String {
    let end = s
        .char_indices()
        .nth(RESULT_CHARS)
        .map_or(s.len(), |(i, _)| i);
    s[..end].to_owned()
}

/// The text of a string, or of the `text` fields of an array of parts/blocks.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// The texts of a content (a string, or the `text` of each block) that may hold a trigger.
fn texts(content: &Value) -> Vec<&str> {
    match content {
        Value::String(s) => vec![s.as_str()],
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    }
}

fn call_in(texts: &[&str], known: impl Fn(&str) -> bool) -> Option<Turn> {
    texts.iter().find_map(|t| {
        find_call(t, &known).map(|(name, args)| Turn::Call {
            name: name.to_owned(),
            args: args.to_owned(),
        })
    })
}

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn parse(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// Chat Completions: the last message is `role: "tool"` (or the legacy `function`), or a
/// user message with a trigger naming one of `tools[].function.name`.
pub(crate) fn openai_chat(body: &[u8]) -> Option<Turn> {
    let v = parse(body)?;
    let last = v.get("messages")?.as_array()?.last()?;
    match str_at(last, "role")? {
        "tool" | "function" => Some(Turn::ToolResult(head(&text_of(
            last.get("content").unwrap_or(&Value::Null),
        )))),
        "user" => {
            let tools = v.get("tools")?.as_array()?;
            let known = |n: &str| {
                tools
                    .iter()
                    .any(|t| t.get("function").and_then(|f| str_at(f, "name")) == Some(n))
            };
            call_in(&texts(last.get("content")?), known)
        }
        _ => None,
    }
}

/// Anthropic Messages: the last message holds a `tool_result` block (its content, the
/// first such block), or is a user message with a trigger naming one of `tools[].name`.
pub(crate) fn anthropic(body: &[u8]) -> Option<Turn> {
    let v = parse(body)?;
    let last = v.get("messages")?.as_array()?.last()?;
    if str_at(last, "role")? != "user" {
        return None;
    }
    let content = last.get("content")?;
    if let Some(result) = content.as_array().and_then(|blocks| {
        blocks
            .iter()
            .find(|b| str_at(b, "type") == Some("tool_result"))
    }) {
        return Some(Turn::ToolResult(head(&text_of(
            result.get("content").unwrap_or(&Value::Null),
        ))));
    }
    let tools = v.get("tools")?.as_array()?;
    let known = |n: &str| tools.iter().any(|t| str_at(t, "name") == Some(n));
    call_in(&texts(content), known)
}

/// Gemini generateContent: the last content holds a `functionResponse` part (its
/// `response.output` when that is a string, else the `response` object as JSON), or is a
/// user content with a trigger naming one of `tools[].functionDeclarations[].name`.
pub(crate) fn gemini(body: &[u8]) -> Option<Turn> {
    let v = parse(body)?;
    let last = v.get("contents")?.as_array()?.last()?;
    let parts = last.get("parts")?.as_array()?;
    let response = parts.iter().find_map(|p| {
        p.get("functionResponse")
            .or_else(|| p.get("function_response"))
    });
    if let Some(r) = response {
        let payload = r.get("response").unwrap_or(&Value::Null);
        let text = match payload.get("output") {
            Some(Value::String(s)) => s.clone(),
            _ => payload.to_string(),
        };
        return Some(Turn::ToolResult(head(&text)));
    }
    if str_at(last, "role").is_some_and(|r| r != "user") {
        return None;
    }
    let tools = v.get("tools")?.as_array()?;
    let known = |n: &str| {
        tools.iter().any(|t| {
            t.get("functionDeclarations")
                .or_else(|| t.get("function_declarations"))
                .and_then(Value::as_array)
                .is_some_and(|fs| fs.iter().any(|f| str_at(f, "name") == Some(n)))
        })
    };
    call_in(&texts(last.get("parts")?), known)
}

/// Responses: the last `input` item is a `function_call_output` (its `output`), or a user
/// message (or `input` is a string) with a trigger naming a `{"type":"function"}` tool.
pub(crate) fn responses(v: &Value) -> Option<Turn> {
    let tools = v.get("tools").and_then(Value::as_array)?;
    let known = |n: &str| {
        tools
            .iter()
            .any(|t| str_at(t, "type") == Some("function") && str_at(t, "name") == Some(n))
    };
    let input = v.get("input")?;
    if let Value::String(s) = input {
        return call_in(&[s.as_str()], known);
    }
    let last = input.as_array()?.last()?;
    match str_at(last, "type") {
        Some("function_call_output") => Some(Turn::ToolResult(head(&text_of(
            last.get("output").unwrap_or(&Value::Null),
        )))),
        Some("message") | None if str_at(last, "role") == Some("user") => {
            call_in(&texts(last.get("content")?), known)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(_: &str) -> bool {
        true
    }

    #[test]
    fn finds_calls_with_nested_brackets() {
        let t = r#"run [[call shell {"command":["echo","hi"]}]] please"#;
        assert_eq!(
            find_call(t, any),
            Some(("shell", r#"{"command":["echo","hi"]}"#))
        );
        assert_eq!(find_call("[[call ls]]", any), Some(("ls", "{}")));
        assert_eq!(find_call("[[call  ls  ]] x", any), Some(("ls", "{}")));
        // Arguments must be one JSON object closed by `]]`.
        assert_eq!(find_call(r#"[[call f [1,2]]]"#, any), None);
        assert_eq!(find_call(r#"[[call f {"a":1} extra]]"#, any), None);
        assert_eq!(find_call(r#"[[call f {"a":]]"#, any), None);
        assert_eq!(find_call("[[call ]]", any), None);
        // The first occurrence whose tool is known wins.
        let two = r#"[[call nope {}]] then [[call yes {"k":"]]"}]]"#;
        assert_eq!(
            find_call(two, |n| n == "yes"),
            Some(("yes", r#"{"k":"]]"}"#))
        );
    }

    #[test]
    fn tool_results_are_cut_on_chars() {
        let long = "é".repeat(300);
        assert_eq!(head(&long).chars().count(), RESULT_CHARS);
        assert_eq!(head("short"), "short");
    }

    #[test]
    fn decide_keeps_forced_tools() {
        let call = || {
            Some(Turn::Call {
                name: "a".into(),
                args: "{}".into(),
            })
        };
        assert!(matches!(decide(None, call()), Reply::Call { ref name, .. } if name == "a"));
        assert!(
            matches!(decide(Some("a".into()), call()), Reply::Call { ref args, .. } if args == "{}")
        );
        assert!(
            matches!(decide(Some("b".into()), call()), Reply::Call { ref name, ref args } if name == "b" && args == TOOL_ARGS)
        );
        assert_eq!(
            decide(None, Some(Turn::ToolResult("x".into()))),
            Reply::Text("tool said: x".into())
        );
        assert!(matches!(
            decide(Some("b".into()), Some(Turn::ToolResult("x".into()))),
            Reply::Call { .. }
        ));
        assert_eq!(decide(None, None), Reply::Answer);
    }

    #[test]
    fn each_api_reads_its_last_turn() {
        let chat = br#"{"messages":[{"role":"user","content":[{"type":"text","text":"[[call f {\"x\":1}]]"}]}],
            "tools":[{"type":"function","function":{"name":"f"}}]}"#;
        assert_eq!(
            openai_chat(chat),
            Some(Turn::Call {
                name: "f".into(),
                args: r#"{"x":1}"#.into()
            })
        );
        let unknown = br#"{"messages":[{"role":"user","content":"[[call g {}]]"}],
            "tools":[{"type":"function","function":{"name":"f"}}]}"#;
        assert_eq!(openai_chat(unknown), None);
        let anth = br#"{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"out"}]}]}],"tools":[]}"#;
        assert_eq!(anthropic(anth), Some(Turn::ToolResult("out".into())));
        let gem = br#"{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"output":"o"}}}]}]}"#;
        assert_eq!(gemini(gem), Some(Turn::ToolResult("o".into())));
        let gem_obj = br#"{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"n":1}}}]}]}"#;
        assert_eq!(gemini(gem_obj), Some(Turn::ToolResult(r#"{"n":1}"#.into())));
        let resp: Value = serde_json::from_str(
            r#"{"input":"[[call f]]","tools":[{"type":"function","name":"f"}]}"#,
        )
        .unwrap();
        assert_eq!(
            responses(&resp),
            Some(Turn::Call {
                name: "f".into(),
                args: "{}".into()
            })
        );
    }

    #[test]
    fn args_embed_as_objects() {
        let json = |a| serde_json::to_string(&ArgsObject(a)).unwrap();
        assert_eq!(json(r#"{"a":[1]}"#), r#"{"a":[1]}"#);
        assert_eq!(json("nope"), "{}");
    }
}
