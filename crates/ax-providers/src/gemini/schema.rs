//! JSON Schema ↔ Gemini `Schema` (an OpenAPI 3.0 subset).
//!
//! **Client side**: google-genai sends `Schema.type` values upper-case (`OBJECT`,
//! `STRING`, from its `Type` enum). The unified model carries plain JSON Schema with
//! lower-case type names, so [`lowercase_types`] lower-cases every `type` in every
//! sub-schema (`properties`, `items`, `anyOf`, …), and nothing else.
//!
//! **Upstream side**: [`for_gemini`] turns a JSON Schema into what the Gemini API takes.
//! The API reads `type` case-insensitively (a googleapis/js-genai maintainer checked it,
//! issue #875; vercel/ai `packages/google/src/convert-json-schema-to-openapi-schema.ts`
//! sends lower-case types), so types are not upper-cased. The Gemini API's `Schema` knows only
//! the keys in [`KEPT`] (python-genai `models.py::_Schema_to_mldev` raises on
//! `additional_properties`, `defs` and `ref` for the Gemini API); everything else is
//! dropped: `$schema`, `$id`, `$comment`, `additionalProperties`, `strict`,
//! `patternProperties`, `allOf`, `not`, `if`/`then`/`else`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `multipleOf`, `uniqueItems`, `const` (→ a one-value `enum`),
//! `examples` (→ `example`, the first one), `oneOf` (→ `anyOf`), non-string `enum`
//! values (Gemini enums are strings; the whole `enum` is dropped); an `enum` without a
//! `type` gets `"type": "string"` (Gemini: "enum only allowed for STRING type"). A `type` list with
//! `"null"` becomes `nullable: true`; an `anyOf` member `{"type": "null"}` likewise.
//! A schema that uses `$ref` cannot be flattened faithfully, so it goes unchanged (but
//! for `$schema`) in the full-JSON-Schema field instead (`parametersJsonSchema`,
//! `responseJsonSchema`).

use serde_json::{Map, Value};

/// Keys of the Gemini API `Schema` message (camelCase JSON names).
pub(crate) const KEPT: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "minimum",
    "maximum",
    "items",
];

/// Keys whose value is a sub-schema.
const SCHEMA_KEYS: &[&str] = &["items", "additionalProperties", "not", "contains"];
/// Keys whose value is a list of sub-schemas.
const SCHEMA_LIST_KEYS: &[&str] = &["anyOf", "any_of", "oneOf", "allOf", "prefixItems"];
/// Keys whose value maps names to sub-schemas.
const SCHEMA_MAP_KEYS: &[&str] = &["properties", "$defs", "defs", "definitions"];

/// `schema` with every `type` value lower-cased, recursively through sub-schemas.
pub(crate) fn lowercase_types(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let nv = match (k.as_str(), v) {
            ("type", Value::String(s)) => Value::String(s.to_ascii_lowercase()),
            ("type", Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|t| match t {
                        Value::String(s) => Value::String(s.to_ascii_lowercase()),
                        other => other.clone(),
                    })
                    .collect(),
            ),
            (key, Value::Array(items)) if SCHEMA_LIST_KEYS.contains(&key) || key == "items" => {
                Value::Array(items.iter().map(lowercase_types).collect())
            }
            (key, sub @ Value::Object(_)) if SCHEMA_KEYS.contains(&key) => lowercase_types(sub),
            (key, Value::Object(props)) if SCHEMA_MAP_KEYS.contains(&key) => Value::Object(
                props
                    .iter()
                    .map(|(name, s)| (name.clone(), lowercase_types(s)))
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), nv);
    }
    Value::Object(out)
}

/// Whether `schema` uses `$ref` anywhere.
fn has_ref(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("$ref") || m.values().any(has_ref),
        Value::Array(a) => a.iter().any(has_ref),
        _ => false,
    }
}

/// A schema in the form Gemini takes: `(schema, full_json_schema)`. When the second
/// value is `true` the schema must go in the JSON-Schema field (`parametersJsonSchema`
/// or `responseJsonSchema`), otherwise in the OpenAPI one (`parameters`,
/// `responseSchema`). See the module docs for what is dropped.
pub(crate) fn for_gemini(schema: &Value) -> (Value, bool) {
    if has_ref(schema) {
        let mut s = schema.clone();
        if let Value::Object(m) = &mut s {
            m.remove("$schema");
        }
        return (s, true);
    }
    (sanitize(schema), false)
}

/// Whether a (sanitized) parameters schema says "no arguments": Gemini rejects an
/// `OBJECT` with empty `properties`, so such parameters are omitted.
pub(crate) fn is_empty_object(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => {
            m.get("type").and_then(Value::as_str) == Some("object")
                && m.get("properties")
                    .and_then(Value::as_object)
                    .is_none_or(Map::is_empty)
                && m.get("anyOf").is_none()
        }
        _ => false,
    }
}

fn sanitize(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        // `true`/`false` schemas and garbage: "anything".
        return Value::Object(Map::new());
    };
    let mut out = Map::new();
    let mut nullable = false;
    for (k, v) in map {
        match k.as_str() {
            "type" => match v {
                Value::Array(types) => {
                    nullable |= types.iter().any(|t| t.as_str() == Some("null"));
                    if let Some(t) = types.iter().find(|t| t.as_str() != Some("null")) {
                        out.insert("type".into(), t.clone());
                    }
                }
                other => {
                    out.insert("type".into(), other.clone());
                }
            },
            "properties" => {
                if let Value::Object(props) = v {
                    out.insert(
                        k.clone(),
                        Value::Object(
                            props
                                .iter()
                                .map(|(name, s)| (name.clone(), sanitize(s)))
                                .collect(),
                        ),
                    );
                }
            }
            "items" => {
                let items = match v {
                    // Tuple form: Gemini has one item schema; the first is the best guess.
                    Value::Array(list) => list.first().map(sanitize),
                    other => Some(sanitize(other)),
                };
                if let Some(items) = items {
                    out.insert(k.clone(), items);
                }
            }
            "anyOf" | "oneOf" => {
                if let Value::Array(list) = v {
                    let mut members = Vec::with_capacity(list.len());
                    for s in list {
                        if s.get("type").and_then(Value::as_str) == Some("null") {
                            nullable = true;
                        } else {
                            members.push(sanitize(s));
                        }
                    }
                    match members.len() {
                        0 => {}
                        1 => {
                            if let Some(Value::Object(one)) = members.pop() {
                                for (mk, mv) in one {
                                    out.entry(mk).or_insert(mv);
                                }
                            }
                        }
                        _ => {
                            out.insert("anyOf".into(), Value::Array(members));
                        }
                    }
                }
            }
            "enum" => {
                if let Value::Array(values) = v
                    && values.iter().all(Value::is_string)
                {
                    out.insert(k.clone(), v.clone());
                }
            }
            "const" if v.is_string() => {
                out.insert("enum".into(), Value::Array(vec![v.clone()]));
            }
            "examples" => {
                if let Some(first) = v.as_array().and_then(|a| a.first()) {
                    out.entry("example").or_insert_with(|| first.clone());
                }
            }
            "nullable" => {
                nullable |= v.as_bool() == Some(true);
            }
            key if KEPT.contains(&key) => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    if out.contains_key("enum") && !out.contains_key("type") {
        out.insert("type".into(), Value::String("string".into()));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn upper_case_types_are_lowered_recursively() {
        let s = json!({"type": "OBJECT", "properties": {
            "type": {"type": "STRING", "enum": ["OBJECT"]},
            "list": {"type": "ARRAY", "items": {"type": "INTEGER"}},
            "either": {"anyOf": [{"type": "NUMBER"}, {"type": "NULL"}]},
            "nested": {"type": "OBJECT", "properties": {"b": {"type": "BOOLEAN"}}}
        }, "required": ["type"]});
        assert_eq!(
            lowercase_types(&s),
            json!({"type": "object", "properties": {
                "type": {"type": "string", "enum": ["OBJECT"]},
                "list": {"type": "array", "items": {"type": "integer"}},
                "either": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                "nested": {"type": "object", "properties": {"b": {"type": "boolean"}}}
            }, "required": ["type"]})
        );
    }

    #[test]
    fn unsupported_keywords_are_dropped_or_converted() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "strict": true,
            "properties": {
                "unit": {"type": ["string", "null"], "enum": ["c", "f"]},
                "kind": {"const": "fixed"},
                "n": {"type": "integer", "enum": [1, 2], "exclusiveMinimum": 0, "examples": [1]},
                "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "multi": {"oneOf": [{"type": "string"}, {"type": "integer"}]}
            },
            "required": ["unit"]
        });
        let (out, json_schema) = for_gemini(&s);
        assert!(!json_schema);
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {
                    "unit": {"type": "string", "enum": ["c", "f"], "nullable": true},
                    "kind": {"enum": ["fixed"], "type": "string"},
                    "n": {"type": "integer", "example": 1},
                    "maybe": {"type": "string", "nullable": true},
                    "multi": {"anyOf": [{"type": "string"}, {"type": "integer"}]}
                },
                "required": ["unit"]
            })
        );
    }

    #[test]
    fn refs_go_to_the_json_schema_field() {
        let s = json!({"$schema": "x", "type": "object", "$defs": {"a": {"type": "string"}},
            "properties": {"a": {"$ref": "#/$defs/a"}}});
        let (out, json_schema) = for_gemini(&s);
        assert!(json_schema);
        assert!(out.get("$schema").is_none());
        assert_eq!(out["properties"]["a"]["$ref"], "#/$defs/a");
    }

    #[test]
    fn empty_objects() {
        assert!(is_empty_object(
            &json!({"type": "object", "properties": {}})
        ));
        assert!(is_empty_object(&json!({"type": "object"})));
        assert!(!is_empty_object(
            &json!({"type": "object", "properties": {"a": {}}})
        ));
        assert!(!is_empty_object(&json!({"type": "string"})));
        assert_eq!(sanitize(&json!(true)), json!({}));
    }
}
