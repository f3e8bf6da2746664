//! Parsing helpers shared by the Gemini codec: every rejection names the field at fault.
//!
//! Client bodies are deserialized into the lenient `wire::In*` types through
//! `serde_path_to_error`, so a wrong type anywhere becomes `invalid_request` naming the
//! exact path as the client spelled it (`contents[0].parts[1].inlineData.data: invalid
//! type: integer `5`, expected a string`). Checks serde cannot express (required names,
//! known enum values) use [`invalid`] with a hand-built path. Upstream bodies go through
//! the same machinery but fail as `server_error`: a broken answer is the upstream's fault.

use ax_core::GatewayError;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub(crate) use crate::fields::{invalid, type_name};

/// Deserializes a client value, naming the failing path (prefixed by `base`).
pub(crate) fn parse_client<T: DeserializeOwned>(v: &Value, base: &str) -> Result<T, GatewayError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (base.is_empty(), inner.as_str()) {
            (true, ".") => String::new(),
            (true, p) => p.to_owned(),
            (false, ".") => base.to_owned(),
            (false, p) if p.starts_with('[') => format!("{base}{p}"),
            (false, p) => format!("{base}.{p}"),
        };
        if path.is_empty() {
            GatewayError::invalid(format!("the request body is invalid: {}", e.inner()))
        } else {
            invalid(&path, e.inner())
        }
    })
}

pub(crate) use crate::fields::{bad_upstream, parse_upstream};

#[cfg(test)]
mod tests {
    use super::*;
    use ax_core::ErrorCode;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct T {
        a: Option<Vec<String>>,
    }

    #[test]
    fn client_errors_name_the_path() {
        let e = parse_client::<T>(&json!({"a": ["x", 5]}), "").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("a[1]"));
        assert!(e.message.contains("expected a string"), "{}", e.message);
        let e = parse_client::<T>(&json!({"a": 1}), "tools[0]").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tools[0].a"));
        let e = parse_client::<T>(&json!([1]), "").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn upstream_errors_are_server_errors() {
        let e = parse_upstream::<T>(br#"{"a": [1]}"#, "answer").unwrap_err();
        assert_eq!(e.code, ErrorCode::ServerError);
        assert!(e.message.contains("a[0]"), "{}", e.message);
    }
}
