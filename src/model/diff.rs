//! What a strategy update changes: the leaves of two JSON documents that differ, by path
//! (`policies[1].max_attempts`, `guardrails.max_delay_ms`), for `PUT /strategy`'s answer and
//! `retryctl import`'s dry run.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One changed value; `before` is absent for an added one, `after` for a removed one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// Every leaf that differs between `before` and `after`, in key order.
pub fn changes(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(String::new(), Some(before), Some(after), &mut out);
    out
}

fn walk(path: String, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let keys = b.keys().chain(a.keys().filter(|k| !b.contains_key(*k)));
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(sub, b.get(key), a.get(key), out);
            }
        }
        (Some(Value::Array(b)), Some(Value::Array(a))) => {
            for i in 0..b.len().max(a.len()) {
                walk(format!("{path}[{i}]"), b.get(i), a.get(i), out);
            }
        }
        (b, a) if b != a => out.push(FieldChange {
            path,
            before: b.cloned(),
            after: a.cloned(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_that_differ_are_named_by_path() {
        let before = json!({"a": 1, "g": {"x": 1, "y": 2}, "p": [{"n": "a"}, {"n": "b"}]});
        let after = json!({"a": 1, "g": {"x": 5, "z": 3}, "p": [{"n": "a"}]});
        let paths: Vec<(String, Option<Value>, Option<Value>)> = changes(&before, &after)
            .into_iter()
            .map(|c| (c.path, c.before, c.after))
            .collect();
        assert_eq!(
            paths,
            [
                ("g.x".into(), Some(json!(1)), Some(json!(5))),
                ("g.y".into(), Some(json!(2)), None),
                ("g.z".into(), None, Some(json!(3))),
                ("p[1]".into(), Some(json!({"n": "b"})), None),
            ]
        );
        assert!(changes(&before, &before).is_empty());
    }
}
