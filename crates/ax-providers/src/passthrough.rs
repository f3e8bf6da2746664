//! The same-format fast path's body: the client's own JSON, sent upstream with only the
//! fields the gateway must set (`model`, `stream`, …) changed.
//!
//! When those fields already hold the wanted values — the common case of a client that
//! names the upstream model and asks for what the gateway sends anyway — the client's
//! bytes go out as they came, with no serialization at all. Otherwise the parsed body
//! is serialized once, with the changes applied on the fly: the body is never cloned.

use ax_core::RawRequest;
use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// The client's body with `set` fields replaced (or added) and `remove` fields dropped.
pub(crate) fn patched_body(raw: &RawRequest, set: &[(&str, Value)], remove: &[&str]) -> Bytes {
    let unchanged = set.iter().all(|(k, v)| raw.body.get(*k) == Some(v))
        && remove.iter().all(|k| !raw.body.contains_key(*k));
    if unchanged {
        return raw.bytes.clone();
    }
    let patched = Patched {
        body: &raw.body,
        set,
        remove,
    };
    // Serializing a map of JSON values to a Vec cannot fail.
    serde_json::to_vec(&patched).unwrap_or_default().into()
}

/// A view of a body with a patch applied, serialized without building the result.
struct Patched<'a> {
    body: &'a Map<String, Value>,
    set: &'a [(&'a str, Value)],
    remove: &'a [&'a str],
}

impl Serialize for Patched<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in self.body {
            let replaced = self.set.iter().any(|(key, _)| key == k);
            if !replaced && !self.remove.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        for (k, v) in self.set {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ax_core::WireFormat;
    use serde_json::json;

    fn raw(text: &str) -> RawRequest {
        let Ok(Value::Object(body)) = serde_json::from_str::<Value>(text) else {
            panic!("test body must be a JSON object");
        };
        RawRequest {
            format: WireFormat::OpenAi,
            body,
            bytes: bytes::Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    #[test]
    fn an_unchanged_body_goes_out_byte_for_byte() {
        // Odd spacing and key order survive only if the bytes are passed through.
        let text = r#"{ "z": 1,  "model" : "m", "a": [1, 2] }"#;
        let r = raw(text);
        let out = patched_body(&r, &[("model", json!("m"))], &["stream"]);
        assert_eq!(out, text.as_bytes());
        assert_eq!(out.as_ptr(), r.bytes.as_ptr(), "passed through, not copied");
    }

    #[test]
    fn set_fields_are_replaced_or_added_and_removed_ones_dropped() {
        let r = raw(r#"{"model":"alias","stream":false,"keep":{"x":1},"n":2}"#);
        let out = patched_body(
            &r,
            &[("model", json!("real")), ("max_tokens", json!(64))],
            &["stream", "absent"],
        );
        let sent: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            sent,
            json!({"model": "real", "max_tokens": 64, "keep": {"x": 1}, "n": 2})
        );
        // Each key once: the replaced `model` is not also written with its old value.
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert_eq!(text.matches("\"model\"").count(), 1);
    }

    #[test]
    fn a_removed_field_alone_forces_a_rewrite() {
        let r = raw(r#"{"model":"m","stream":true}"#);
        let out = patched_body(&r, &[("model", json!("m"))], &["stream"]);
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            json!({"model": "m"})
        );
    }
}
