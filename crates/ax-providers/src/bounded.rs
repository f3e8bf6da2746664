//! Parsing a client's JSON body into a `serde_json::Value` under the request-shape
//! limits ([`RequestLimits`]), counted *while* parsing.
//!
//! The body-size limit alone does not bound memory: a decoded JSON object costs ~0.7 KB
//! (a `BTreeMap` node), so 10 MiB of `{"role":"user","content":"x"}` (300,000
//! messages) decoded to ~270 MB before any check could run. Here every message,
//! content part, tool and object is counted as the parser meets it, and parsing stops
//! at the first one over a limit, so a refused request costs little more than its
//! bytes. The alternative — `serde_json::from_slice::<Value>` then counting — builds
//! the whole tree first, which is exactly the cost being bounded.
//!
//! Which arrays hold messages, parts and tools depends on the wire format
//! ([`Shape`]); the rest of the body counts toward the object limit and the array
//! element limit (16 per allowed object), which together bound what any shape of JSON
//! can cost once decoded.

use std::cell::RefCell;
use std::fmt;

use ax_core::limits::LimitKind;
use ax_core::{GatewayError, RequestLimits};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Where a format keeps its messages, content parts and tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Chat Completions: `messages[].content[]`, `messages[].tool_calls[]`, `tools[]`,
    /// `functions[]`.
    OpenAi,
    /// Messages: `messages[].content[]`, `system[]`, `tools[]`.
    Anthropic,
    /// generateContent: `contents[].parts[]`, `systemInstruction.parts[]`,
    /// `tools[].functionDeclarations[]`.
    Gemini,
    /// Responses: the items of `input[]` count as messages; their `content[]`
    /// (messages, reasoning text), `output[]` (function call outputs) and `summary[]`
    /// (reasoning) as content parts; `tools[]` as tools.
    Responses,
}

/// Where the parser is, as far as the limits care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// The top-level object.
    Root,
    /// The array of messages.
    Messages,
    /// One message (or Gemini's `systemInstruction`).
    Message,
    /// An array of content parts (or tool calls).
    Parts,
    /// The array of tools.
    Tools,
    /// Gemini's `tools`: groups, each with its `functionDeclarations`.
    ToolGroups,
    /// One Gemini tool group.
    ToolGroup,
    /// Anywhere else.
    Other,
}

impl At {
    /// Where the value under `key` of an object at `self` is.
    fn child(self, shape: Shape, key: &str) -> At {
        if matches!(self, At::Other | At::Parts | At::Tools) {
            // Nothing below these is counted by name: skip the key comparisons.
            return At::Other;
        }
        match (self, shape, key) {
            (At::Root, Shape::OpenAi | Shape::Anthropic, "messages") => At::Messages,
            (At::Root, Shape::Gemini, "contents") => At::Messages,
            (At::Root, Shape::Responses, "input") => At::Messages,
            (At::Root, Shape::OpenAi | Shape::Anthropic | Shape::Responses, "tools") => At::Tools,
            (At::Root, Shape::OpenAi, "functions") => At::Tools,
            (At::Root, Shape::Anthropic, "system") => At::Parts,
            (At::Root, Shape::Gemini, "systemInstruction" | "system_instruction") => At::Message,
            (At::Root, Shape::Gemini, "tools") => At::ToolGroups,
            (At::Message, Shape::OpenAi, "content" | "tool_calls") => At::Parts,
            (At::Message, Shape::Anthropic, "content") => At::Parts,
            (At::Message, Shape::Gemini, "parts") => At::Parts,
            (At::Message, Shape::Responses, "content" | "output" | "summary") => At::Parts,
            (At::ToolGroup, Shape::Gemini, "functionDeclarations" | "function_declarations") => {
                At::Tools
            }
            _ => At::Other,
        }
    }

    /// Where each element of an array at `self` is, and what it counts as.
    fn element(self) -> (At, Option<LimitKind>) {
        match self {
            At::Messages => (At::Message, Some(LimitKind::Messages)),
            At::Parts => (At::Other, Some(LimitKind::ContentParts)),
            At::Tools => (At::Other, Some(LimitKind::Tools)),
            At::ToolGroups => (At::ToolGroup, None),
            _ => (At::Other, None),
        }
    }
}

/// Running counts for one body.
struct Budget<'l> {
    limits: &'l RequestLimits,
    shape: Shape,
    messages: usize,
    parts: usize,
    tools: usize,
    objects: usize,
    elements: usize,
    /// The limit that stopped the parse (serde's error type cannot carry it).
    refused: Option<GatewayError>,
}

impl Budget<'_> {
    /// Counts one item of `kind`; `Err` once over its limit.
    fn count(&mut self, kind: LimitKind) -> Result<(), GatewayError> {
        let n = match kind {
            LimitKind::Messages => &mut self.messages,
            LimitKind::ContentParts => &mut self.parts,
            LimitKind::Tools => &mut self.tools,
            LimitKind::JsonObjects => &mut self.objects,
            LimitKind::ArrayElements => &mut self.elements,
        };
        *n += 1;
        self.limits.check(kind, *n)
    }
}

/// [`parse`] for a request body, which must be a JSON object (anything else is the
/// 400 that says what it got instead).
pub(crate) fn parse_object(
    body: &[u8],
    shape: Shape,
    limits: &RequestLimits,
) -> Result<serde_json::Map<String, Value>, GatewayError> {
    match parse(body, shape, limits)? {
        Value::Object(map) => Ok(map),
        other => Err(GatewayError::invalid(format!(
            "the request body must be a JSON object, got {}",
            crate::fields::type_name(&other)
        ))),
    }
}

/// Parses `body` as JSON under `limits`. A limit crossed is the 400 that names it; bad
/// JSON is the usual "not valid JSON" 400.
pub(crate) fn parse(
    body: &[u8],
    shape: Shape,
    limits: &RequestLimits,
) -> Result<Value, GatewayError> {
    let budget = RefCell::new(Budget {
        limits,
        shape,
        messages: 0,
        parts: 0,
        tools: 0,
        objects: 0,
        elements: 0,
        refused: None,
    });
    // A large body is first walked without building anything, so one refused for a
    // limit never allocates its tree (glibc keeps freed small chunks, so a tree built
    // and dropped would leave the process's RSS high). Small bodies skip the walk: it
    // would cost more than the little they can allocate.
    if body.len() > COUNT_FIRST_ABOVE {
        let mut de = serde_json::Deserializer::from_slice(body);
        let counted = Walk {
            budget: &budget,
            at: At::Root,
        }
        .deserialize(&mut de);
        let mut b = budget.borrow_mut();
        if let Some(refusal) = b.refused.take() {
            return Err(refusal);
        }
        if let Err(e) = counted.and_then(|()| de.end()) {
            return Err(GatewayError::invalid(format!(
                "the request body is not valid JSON: {e}"
            )));
        }
        (b.messages, b.parts, b.tools, b.objects, b.elements) = (0, 0, 0, 0, 0);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Node {
        budget: &budget,
        at: At::Root,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(v) => Ok(v),
        Err(e) => Err(budget.into_inner().refused.unwrap_or_else(|| {
            GatewayError::invalid(format!("the request body is not valid JSON: {e}"))
        })),
    }
}

/// Bodies larger than this are counted before they are built.
const COUNT_FIRST_ABOVE: usize = 64 * 1024;

/// One value to walk and count without building it.
struct Walk<'b, 'l> {
    budget: &'b RefCell<Budget<'l>>,
    at: At,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (element_at, counts) = self.at.element();
        while let Some(()) = seq.next_element_seed(CountedWalk {
            walk: Walk {
                budget: self.budget,
                at: element_at,
            },
            counts,
        })? {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        count(self.budget, LimitKind::JsonObjects)?;
        let shape = self.budget.borrow().shape;
        // Keys borrow from the body when they have no escapes: nothing is allocated.
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            map.next_value_seed(Walk {
                budget: self.budget,
                at: self.at.child(shape, &key),
            })?;
        }
        Ok(())
    }
}

/// An array element being walked, counted like [`CountedElement`].
struct CountedWalk<'b, 'l> {
    walk: Walk<'b, 'l>,
    counts: Option<LimitKind>,
}

impl<'de> DeserializeSeed<'de> for CountedWalk<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        count(self.walk.budget, LimitKind::ArrayElements)?;
        if let Some(kind) = self.counts {
            count(self.walk.budget, kind)?;
        }
        self.walk.deserialize(d)
    }
}

/// Counts `kind`, turning a refusal into a serde error (the refusal is kept).
fn count<E: de::Error>(budget: &RefCell<Budget<'_>>, kind: LimitKind) -> Result<(), E> {
    let mut b = budget.borrow_mut();
    match b.count(kind) {
        Ok(()) => Ok(()),
        Err(refusal) => {
            let msg = refusal.message.clone();
            b.refused = Some(refusal);
            Err(E::custom(msg))
        }
    }
}

/// One value to parse, at a known place.
struct Node<'b, 'l> {
    budget: &'b RefCell<Budget<'l>>,
    at: At,
}

impl Node<'_, '_> {
    /// Counts `kind` against this body's budget.
    fn count<E: de::Error>(&self, kind: LimitKind) -> Result<(), E> {
        count(self.budget, kind)
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let (element_at, counts) = self.at.element();
        let mut items = Vec::new();
        loop {
            // Counted before the element is parsed, so the one over the limit is never
            // built.
            let node = Node {
                budget: self.budget,
                at: element_at,
            };
            let Some(item) = seq.next_element_seed(CountedElement { node, counts })? else {
                break;
            };
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.count(LimitKind::JsonObjects)?;
        let shape = self.budget.borrow().shape;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Node {
                budget: self.budget,
                at: self.at.child(shape, &key),
            })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// An array element, counted as `counts` once it is known to exist.
struct CountedElement<'b, 'l> {
    node: Node<'b, 'l>,
    counts: Option<LimitKind>,
}

impl<'de> DeserializeSeed<'de> for CountedElement<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.node.count(LimitKind::ArrayElements)?;
        if let Some(kind) = self.counts {
            self.node.count(kind)?;
        }
        self.node.deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ax_core::ErrorCode;

    fn limits(messages: usize, parts: usize, tools: usize, objects: usize) -> RequestLimits {
        RequestLimits {
            max_messages: messages,
            max_content_parts: parts,
            max_tools: tools,
            max_json_objects: objects,
        }
    }

    fn refused(body: &str, shape: Shape, l: &RequestLimits) -> String {
        let e = parse(body.as_bytes(), shape, l).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        e.message
    }

    #[test]
    fn parses_like_serde_json() {
        let text = r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":"\u00e9"}"#;
        let ours = parse(text.as_bytes(), Shape::OpenAi, &RequestLimits::default()).unwrap();
        let theirs: Value = serde_json::from_str(text).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn bad_json_is_reported_as_such() {
        let m = refused("{\"a\": ", Shape::OpenAi, &RequestLimits::default());
        assert!(m.contains("not valid JSON"), "{m}");
        let m = refused("{} x", Shape::OpenAi, &RequestLimits::default());
        assert!(m.contains("not valid JSON"), "{m}");
    }

    #[test]
    fn each_format_counts_its_own_arrays() {
        let l = limits(2, 3, 1, 100);
        let msg = r#"{"role":"user","content":"x"}"#;
        let three = format!(r#"{{"messages":[{msg},{msg},{msg}]}}"#);
        assert!(refused(&three, Shape::OpenAi, &l).contains("max_messages"));
        assert!(refused(&three, Shape::Anthropic, &l).contains("max_messages"));
        // Not Gemini's messages array: only the object limit applies there.
        assert!(parse(three.as_bytes(), Shape::Gemini, &l).is_ok());
        let contents = r#"{"contents":[{"parts":[{"text":"a"},{"text":"b"}]},{"parts":[{"text":"c"},{"text":"d"}]}]}"#;
        assert!(refused(contents, Shape::Gemini, &l).contains("max_content_parts"));
        let tools = r#"{"tools":[{"functionDeclarations":[{"name":"a"},{"name":"b"}]}]}"#;
        assert!(refused(tools, Shape::Gemini, &l).contains("max_tools"));
        let tools = r#"{"tools":[{"type":"function"},{"type":"function"}]}"#;
        assert!(refused(tools, Shape::OpenAi, &l).contains("max_tools"));
        let system = r#"{"system":[{"type":"text","text":"a"},{"type":"text","text":"b"},{"type":"text","text":"c"},{"type":"text","text":"d"}]}"#;
        assert!(refused(system, Shape::Anthropic, &l).contains("max_content_parts"));
        let calls = r#"{"messages":[{"role":"assistant","tool_calls":[{},{},{},{}]}]}"#;
        assert!(refused(calls, Shape::OpenAi, &l).contains("max_content_parts"));
    }

    #[test]
    fn responses_counts_input_items_their_parts_and_tools() {
        let l = limits(2, 3, 1, 100);
        let items = r#"{"input":[{"role":"user","content":"a"},{"type":"function_call"},{"type":"reasoning"}]}"#;
        assert!(refused(items, Shape::Responses, &l).contains("max_messages"));
        // A string input is one value, not items.
        assert!(parse(br#"{"input":"hello"}"#, Shape::Responses, &l).is_ok());
        for parts in [
            r#"{"input":[{"role":"user","content":[{"type":"input_text"},{},{}]},{"role":"user","content":[{}]}]}"#,
            r#"{"input":[{"type":"function_call_output","output":[{},{},{},{}]}]}"#,
            r#"{"input":[{"type":"reasoning","summary":[{},{}],"content":[{},{}]}]}"#,
        ] {
            assert!(
                refused(parts, Shape::Responses, &l).contains("max_content_parts"),
                "{parts}"
            );
        }
        let tools = r#"{"tools":[{"type":"function"},{"type":"web_search"}]}"#;
        assert!(refused(tools, Shape::Responses, &l).contains("max_tools"));
        // Chat's `messages` is not an array of items here.
        let msg = r#"{"role":"user","content":"x"}"#;
        let three = format!(r#"{{"messages":[{msg},{msg},{msg}]}}"#);
        assert!(parse(three.as_bytes(), Shape::Responses, &l).is_ok());
    }

    #[test]
    fn objects_anywhere_count() {
        let l = limits(10, 10, 10, 3);
        let junk = r#"{"junk":[{"a":1},{"a":1},{"a":1}]}"#;
        assert!(refused(junk, Shape::OpenAi, &l).contains("max_json_objects"));
        assert!(parse(br#"{"junk":[{"a":1},{"a":1}]}"#, Shape::OpenAi, &l).is_ok());
        // Scalars in arrays count too: 16 per allowed object.
        let l = limits(10, 10, 10, 1);
        let zeros = |n: usize| format!("{{\"junk\":[{}]}}", vec!["0"; n].join(","));
        assert!(parse(zeros(16).as_bytes(), Shape::OpenAi, &l).is_ok());
        assert!(refused(&zeros(17), Shape::OpenAi, &l).contains("array elements"));
    }

    #[test]
    fn parsing_stops_at_the_first_item_over_a_limit() {
        // A body that is invalid JSON *after* the limit is crossed: the limit is what
        // the client hears about, so the parser never reached the bad bytes.
        let l = limits(1, 10, 10, 100);
        let m = refused(
            r#"{"messages":[{"role":"user"},{"role":"user"}, !!!"#,
            Shape::OpenAi,
            &l,
        );
        assert!(m.contains("more than 1 messages"), "{m}");
    }

    #[test]
    fn a_large_body_is_counted_before_it_is_built() {
        let l = limits(10, 100, 10, 100_000);
        let one = r#"{"role":"user","content":"x"}"#;
        let body = format!(r#"{{"messages":[{}]}}"#, vec![one; 5_000].join(","));
        assert!(body.len() > COUNT_FIRST_ABOVE);
        assert!(refused(&body, Shape::OpenAi, &l).contains("more than 10 messages"));
        // Within the limits, the counts restart for the build.
        let l = limits(5_000, 100, 10, 5_001);
        assert!(parse(body.as_bytes(), Shape::OpenAi, &l).is_ok());
        // Bad JSON past the first 64 KiB is found by the walk.
        let bad = format!("{}!", &body[..body.len() - 1]);
        assert!(refused(&bad, Shape::OpenAi, &l).contains("not valid JSON"));
    }

    proptest::proptest! {
        /// Under generous limits the parse equals serde_json's on any JSON text.
        #[test]
        fn agrees_with_serde_json(v in arb_json()) {
            let text = serde_json::to_string(&v).unwrap();
            let ours = parse(text.as_bytes(), Shape::Gemini, &RequestLimits::default()).unwrap();
            proptest::prop_assert_eq!(ours, v);
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| Value::Number(n.into())),
            "[a-zé\"\\\\]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("(contents|parts|tools|[a-z]{1,3})", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
