//! Field-by-field reading of client JSON for the OpenAI and Anthropic request decoders,
//! so every error names the exact field at fault (`messages[2].content[0].image_url.url:
//! expected a string, got a number`) instead of serde's "data did not match any variant"
//! from a derived untagged enum (both formats' `content` is a string *or* an array), and
//! a gateway must tell a client precisely what it got wrong.

use ax_core::GatewayError;
use serde_json::{Map, Value};

/// The JSON type name of `v`, for error messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An `invalid_request` error for `path` (the parameter is recorded as well).
pub(crate) fn invalid(path: &str, msg: impl std::fmt::Display) -> GatewayError {
    GatewayError::invalid_param(path, format!("`{path}`: {msg}"))
}

/// `parent.key` (or `key` at the root).
///
/// Paths are built for every message of every request, error or not, so they are
/// pushed together rather than run through `format!`'s machinery (several times
/// slower for strings this short).
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        return key.to_owned();
    }
    let mut s = String::with_capacity(parent.len() + 1 + key.len());
    s.push_str(parent);
    s.push('.');
    s.push_str(key);
    s
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(i);
    let mut s = String::with_capacity(parent.len() + digits.len() + 2);
    s.push_str(parent);
    s.push('[');
    s.push_str(digits);
    s.push(']');
    s
}

/// An error for an upstream body we cannot use (the upstream's fault, so `server_error`).
pub(crate) fn bad_upstream(what: &str, e: impl std::fmt::Display) -> GatewayError {
    GatewayError::new(
        ax_core::ErrorCode::ServerError,
        format!("upstream sent an invalid {what}: {e}"),
    )
}

/// Parses upstream `bytes` as `T` (a JSON object: serde would also build a struct from
/// an array, so `[]` was an empty successful answer), naming the failing field on
/// error. The fast parse runs first; only a failure pays for the path-tracking one.
pub(crate) fn parse_upstream<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, GatewayError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(bad_upstream(what, "expected a JSON object"));
    }
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            bad_upstream(what, e.inner())
        } else {
            bad_upstream(what, format_args!("`{path}`: {}", e.inner()))
        }
    })
}

/// An object together with its path in the body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obj<'a> {
    pub(crate) map: &'a Map<String, Value>,
    pub(crate) path: &'a str,
}

impl<'a> Obj<'a> {
    /// Views `v` as an object, or fails naming `path`.
    pub(crate) fn new(v: &'a Value, path: &'a str) -> Result<Self, GatewayError> {
        match v {
            Value::Object(map) => Ok(Self { map, path }),
            other => Err(if path.is_empty() {
                GatewayError::invalid(format!(
                    "the request body must be a JSON object, got {}",
                    type_name(other)
                ))
            } else {
                invalid(
                    path,
                    format!("expected an object, got {}", type_name(other)),
                )
            }),
        }
    }

    /// The path of `key` below this object.
    pub(crate) fn path_of(&self, key: &str) -> String {
        join(self.path, key)
    }

    /// The value at `key`; JSON `null` counts as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, expected: &str, got: &Value) -> GatewayError {
        invalid(
            &self.path_of(key),
            format!("expected {expected}, got {}", type_name(got)),
        )
    }

    /// An optional string.
    pub(crate) fn str_opt(&self, key: &str) -> Result<Option<&'a str>, GatewayError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    /// A required string.
    pub(crate) fn str_req(&self, key: &str) -> Result<&'a str, GatewayError> {
        self.str_opt(key)?
            .ok_or_else(|| invalid(&self.path_of(key), "is required"))
    }

    /// An optional boolean.
    pub(crate) fn bool_opt(&self, key: &str) -> Result<Option<bool>, GatewayError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(key, "a boolean", v)),
        }
    }

    /// An optional non-negative integer that fits in `u32`.
    pub(crate) fn u32_opt(&self, key: &str) -> Result<Option<u32>, GatewayError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(u) => u32::try_from(u).map(Some).map_err(|_| {
                    invalid(
                        &self.path_of(key),
                        format!("must be at most {}, got {u}", u32::MAX),
                    )
                }),
                None => Err(invalid(
                    &self.path_of(key),
                    format!("must be a non-negative integer, got {n}"),
                )),
            },
            Some(v) => Err(self.wrong(key, "an integer", v)),
        }
    }

    /// An optional integer that fits in `i64`.
    pub(crate) fn i64_opt(&self, key: &str) -> Result<Option<i64>, GatewayError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                invalid(
                    &self.path_of(key),
                    format!(
                        "must be an integer between {} and {}, got {n}",
                        i64::MIN,
                        i64::MAX
                    ),
                )
            }),
            Some(v) => Err(self.wrong(key, "an integer", v)),
        }
    }

    /// An optional number.
    pub(crate) fn f64_opt(&self, key: &str) -> Result<Option<f64>, GatewayError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| invalid(&self.path_of(key), "must be a finite number")),
            Some(v) => Err(self.wrong(key, "a number", v)),
        }
    }

    /// An optional array.
    pub(crate) fn array_opt(&self, key: &str) -> Result<Option<&'a Vec<Value>>, GatewayError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(self.wrong(key, "an array", v)),
        }
    }

    /// An optional object, viewed with its own path (`path` must outlive it, so the
    /// caller owns the path string: `let p = o.path_of("k"); o.obj_opt("k", &p)`).
    pub(crate) fn obj_opt<'p>(
        &self,
        key: &str,
        path: &'p str,
    ) -> Result<Option<Obj<'p>>, GatewayError>
    where
        'a: 'p,
    {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj { map, path })),
            Some(v) => Err(self.wrong(key, "an object", v)),
        }
    }

    /// An optional object (its path is returned separately, as `Obj` borrows it).
    pub(crate) fn object_opt(&self, key: &str) -> Result<Option<&'a Value>, GatewayError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v)),
            Some(v) => Err(self.wrong(key, "an object", v)),
        }
    }
}

/// What a decoder saw and the unified model does not carry, collected for
/// `ChatRequest::dropped_fields`: at most [`ax_core::MAX_DROPPED_FIELDS`] entries, then
/// a `+N more` count. (The Anthropic decoder keeps its own copy of this type; the
/// Responses decoder uses this one.)
#[derive(Debug, Default)]
pub(crate) struct Dropped {
    fields: Vec<String>,
    more: usize,
}

impl Dropped {
    /// Records one dropped path (or other entry).
    pub(crate) fn add(&mut self, entry: String) {
        if self.fields.len() < ax_core::MAX_DROPPED_FIELDS {
            self.fields.push(entry);
        } else {
            self.more += 1;
        }
    }

    /// A whole block or item, named with its type (`input[3] (web_search_call)`).
    pub(crate) fn block(&mut self, path: &str, kind: &str) {
        self.add(format!("{path} ({kind})"));
    }

    /// Every key of `o` outside `carried` (`null` values count as absent).
    pub(crate) fn extra(&mut self, o: &Obj<'_>, carried: &[&str]) {
        for (k, v) in o.map {
            if !v.is_null() && !carried.contains(&k.as_str()) {
                self.add(o.path_of(k));
            }
        }
    }

    /// The list for `ChatRequest::dropped_fields`.
    pub(crate) fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.fields.push(format!("+{} more", self.more));
        }
        self.fields
    }
}

/// The OpenAI-family `tool_choice` string (Chat Completions and Responses share it):
/// `auto`, `none` or `required`; anything else is `invalid_request` naming the field.
pub(crate) fn tool_choice_mode(s: &str) -> Result<ax_core::ToolChoice, GatewayError> {
    use ax_core::ToolChoice;
    match s {
        "auto" => Ok(ToolChoice::Auto),
        "none" => Ok(ToolChoice::None),
        "required" => Ok(ToolChoice::Required),
        other => Err(invalid(
            "tool_choice",
            format!("unknown value `{other}` (expected auto, none or required)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_like_the_body() {
        assert_eq!(join("", "model"), "model");
        assert_eq!(join("messages[2]", "content"), "messages[2].content");
        assert_eq!(index("messages", 0), "messages[0]");
        assert_eq!(
            index("messages[12].content", 345),
            "messages[12].content[345]"
        );
    }

    #[test]
    fn errors_name_the_field_and_the_type() {
        let v = json!({"a": 1, "b": "x", "n": -1, "big": 5_000_000_000u64, "f": 1.5, "nul": null});
        let o = Obj::new(&v, "body").unwrap();
        let e = o.str_opt("a").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("body.a"));
        assert!(
            e.message.contains("expected a string, got a number"),
            "{}",
            e.message
        );
        assert!(o.u32_opt("n").unwrap_err().message.contains("non-negative"));
        assert!(o.u32_opt("big").unwrap_err().message.contains("at most"));
        assert!(
            o.u32_opt("f")
                .unwrap_err()
                .message
                .contains("non-negative integer")
        );
        assert_eq!(o.str_opt("nul").unwrap(), None);
        assert!(
            o.str_req("missing")
                .unwrap_err()
                .message
                .contains("is required")
        );
        assert!(
            Obj::new(&json!([1]), "")
                .unwrap_err()
                .message
                .contains("JSON object")
        );
        assert_eq!(o.i64_opt("big").unwrap(), Some(5_000_000_000));
        assert_eq!(o.f64_opt("f").unwrap(), Some(1.5));
    }

    #[test]
    fn nested_objects_carry_their_path() {
        let v = json!({"a": 1, "o": {"x": true}});
        let o = Obj::new(&v, "body").unwrap();
        let p = o.path_of("o");
        let inner = o.obj_opt("o", &p).unwrap().unwrap();
        assert_eq!(inner.bool_opt("x").unwrap(), Some(true));
        assert_eq!(
            inner.str_opt("x").unwrap_err().param.as_deref(),
            Some("body.o.x")
        );
        assert!(o.obj_opt("a", "a").is_err());
    }
}
