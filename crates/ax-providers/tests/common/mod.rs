//! Helpers shared by the encoder snapshot tests.

use serde_json::Value;

/// Pretty JSON with object keys sorted, whatever serde_json's map order.
pub fn canon(bytes: &[u8]) -> String {
    fn sort(v: Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: std::collections::BTreeMap<String, Value> =
                    m.into_iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(sort).collect()),
            other => other,
        }
    }
    let v: Value = serde_json::from_slice(bytes).expect("encoder output is JSON");
    serde_json::to_string_pretty(&sort(v)).unwrap()
}
