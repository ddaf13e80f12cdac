//! Generators shared by the `fuzz_*` property tests (README "Fuzzing"): arbitrary text and
//! bytes, hostile values (huge numbers, NaN, control characters, very long strings, deep
//! nesting), and valid JSON or TOML documents with one value replaced, removed or added.
//!
//! The number of cases is `PROPTEST_CASES` when set (the long runs), else a small default so
//! `cargo test` stays fast.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

/// A proptest config of `default` cases, or `PROPTEST_CASES` when that is set.
pub fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // A failure is reported with the case that found it; shrinking a 100 kB string
        // through thousands of steps only delays the report.
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

/// Strings a parser of text should survive: anything printable or not, control characters,
/// bidi overrides, digits with units, and very long runs.
pub fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        3 => "\\PC{0,40}",
        2 => "[ -~]{0,40}",
        2 => "[0-9a-z:+.,\\- ]{0,24}",
        1 => "[\\x00-\\x1f\\x7f\\u{202e}\\u{200b}\\u{feff}]{0,8}",
        1 => (any::<char>(), 1_000usize..70_000).prop_map(|(c, n)| c.to_string().repeat(n)),
        1 => Just("9".repeat(400)),
        1 => prop::sample::select(TRICKY_WORDS).prop_map(str::to_string),
    ]
}

/// Words that have broken parsers before: number spellings, time edge cases, escapes.
pub const TRICKY_WORDS: &[&str] = &[
    "",
    " ",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e999",
    "-1e999",
    "-0",
    "0x10",
    "18446744073709551616",
    "-9223372036854775809",
    "99999999999999999999.5h",
    "1.5e300s",
    "9999999999:00:00",
    "18446744073709551615:59:59.999",
    "00:00:60",
    "24:00",
    "1:2:3:4",
    "-5s",
    "5",
    "5 s",
    "1y",
    "1000000000y",
    "300000000y",
    "+275760-09-13T00:00:00Z",
    "9999-12-31T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T00:00:00+25:00",
    "\u{0}",
    "\u{1b}[31m",
    "\u{202e}",
    "ａｂｃ",
    "İ",
    "ß",
    "\u{fffd}",
    "true",
    "null",
    "[]",
    "{}",
    "=",
    "\"",
    "\\",
    "#",
    "[[a]]",
];

/// Bytes of any kind, mostly short.
pub fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..256),
        1 => prop::collection::vec(any::<u8>(), 0..8_192),
    ]
}

/// A JSON value that is wrong in some way for almost any field.
pub fn hostile_json() -> BoxedStrategy<serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        prop::sample::select(EDGE_NUMBERS).prop_map(|n| json!(n)),
        prop::sample::select(EDGE_FLOATS).prop_map(|f| json!(f)),
        any::<f64>().prop_map(|f| json!(f)),
        hostile_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Integers at the edges of the types fields use.
pub const EDGE_NUMBERS: &[i128] = &[
    0,
    1,
    -1,
    255,
    256,
    65_536,
    2_147_483_647,
    2_147_483_648,
    4_294_967_295,
    4_294_967_296,
    9_007_199_254_740_993,
    9_223_372_036_854_775_807,
    -9_223_372_036_854_775_808,
    18_446_744_073_709_551_615,
];

/// Floats at the edges (JSON has no NaN or infinity; TOML has both).
pub const EDGE_FLOATS: &[f64] = &[
    0.5,
    -0.0,
    1e-300,
    5e-324,
    1.5,
    1e15,
    1e19,
    1e300,
    -1e300,
    f64::MAX,
    f64::MIN,
];

/// A TOML value that is wrong in some way for almost any key.
pub fn hostile_toml() -> BoxedStrategy<toml::Value> {
    use toml::Value;
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(Value::Integer),
        prop::sample::select(EDGE_NUMBERS)
            .prop_map(|n| Value::Integer(n.clamp(i64::MIN.into(), i64::MAX.into()) as i64)),
        prop::sample::select(EDGE_FLOATS).prop_map(Value::Float),
        prop::sample::select(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY][..])
            .prop_map(Value::Float),
        any::<f64>().prop_map(Value::Float),
        hostile_text().prop_map(Value::String),
        prop::sample::select(&["1979-05-27T07:32:00Z", "1979-05-27", "07:32:00"][..])
            .prop_map(|d| Value::Datetime(d.parse().expect("a TOML datetime"))),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// One step into a document: an object key or an array index.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    At(usize),
}

/// What to do to the value at a path.
#[derive(Debug, Clone)]
pub enum Edit<V> {
    /// Put this value there instead.
    Replace(V),
    /// Take it out (a key from its object, an item from its array).
    Remove,
    /// Add a key the schema does not know to the object there.
    AddKey(String, V),
}

/// An edit of a document, at the path the index picks among all paths in it.
pub fn edit<V: std::fmt::Debug + Clone + 'static>(
    value: impl Strategy<Value = V> + Clone + 'static,
) -> impl Strategy<Value = (Index, Edit<V>)> {
    let edit = prop_oneof![
        4 => value.clone().prop_map(Edit::Replace),
        2 => Just(Edit::Remove),
        1 => ("zz_[a-z]{1,8}", value).prop_map(|(k, v)| Edit::AddKey(k, v)),
    ];
    (any::<Index>(), edit)
}

/// Text-level damage to a valid document: cut it short, insert bytes, repeat a line, or nest
/// brackets deeper than any parser recurses.
#[derive(Debug, Clone)]
pub enum Damage {
    Truncate(Index),
    Insert(Index, String),
    DuplicateLine(Index),
    DeleteLine(Index),
    Nest(Index, usize),
}

pub fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<Index>().prop_map(Damage::Truncate),
        (any::<Index>(), hostile_text()).prop_map(|(i, s)| Damage::Insert(i, s)),
        any::<Index>().prop_map(Damage::DuplicateLine),
        any::<Index>().prop_map(Damage::DeleteLine),
        (any::<Index>(), 1usize..100_000).prop_map(|(i, n)| Damage::Nest(i, n)),
    ]
}

impl Damage {
    /// `text` damaged; every cut lands on a character boundary.
    pub fn apply(&self, text: &str) -> String {
        let at = |i: &Index| floor_char(text, i.index(text.len() + 1));
        let lines: Vec<&str> = text.lines().collect();
        let line = |i: &Index| {
            i.index(lines.len().max(1))
                .min(lines.len().saturating_sub(1))
        };
        match self {
            Damage::Truncate(i) => text[..at(i)].to_string(),
            Damage::Insert(i, s) => format!("{}{s}{}", &text[..at(i)], &text[at(i)..]),
            Damage::DuplicateLine(i) if !lines.is_empty() => {
                let mut out = lines.clone();
                out.insert(line(i), lines[line(i)]);
                out.join("\n")
            }
            Damage::DeleteLine(i) if !lines.is_empty() => {
                let mut out = lines.clone();
                out.remove(line(i));
                out.join("\n")
            }
            Damage::Nest(i, n) => {
                let inner = format!("{}1{}", "[".repeat(*n), "]".repeat(*n));
                format!("{}{inner}{}", &text[..at(i)], &text[at(i)..])
            }
            Damage::DuplicateLine(_) | Damage::DeleteLine(_) => text.to_string(),
        }
    }
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Every path in a JSON document, parents before children (the root is the empty path).
pub fn json_paths(value: &serde_json::Value) -> Vec<Vec<Step>> {
    let mut out = vec![Vec::new()];
    let children: Vec<(Step, &serde_json::Value)> = match value {
        serde_json::Value::Object(map) => {
            map.iter().map(|(k, v)| (Step::Key(k.clone()), v)).collect()
        }
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (Step::At(i), v))
            .collect(),
        _ => Vec::new(),
    };
    for (step, child) in children {
        for mut rest in json_paths(child) {
            rest.insert(0, step.clone());
            out.push(rest);
        }
    }
    out
}

/// Applies `edit` to the value at `path` (see [`json_paths`]).
pub fn edit_json(doc: &mut serde_json::Value, path: &[Step], edit: &Edit<serde_json::Value>) {
    use serde_json::Value;
    let Some((last, parent_path)) = path.split_last() else {
        match edit {
            Edit::Replace(v) => *doc = v.clone(),
            Edit::Remove => *doc = Value::Null,
            Edit::AddKey(k, v) => {
                if let Value::Object(map) = doc {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
        return;
    };
    let parent = parent_path.iter().fold(doc, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::At(i) => &mut v[*i],
    });
    match (edit, last, parent) {
        (Edit::Remove, Step::Key(k), Value::Object(map)) => {
            map.remove(k);
        }
        (Edit::Remove, Step::At(i), Value::Array(items)) => {
            items.remove(*i);
        }
        (Edit::Replace(v), Step::Key(k), parent) => parent[k.as_str()] = v.clone(),
        (Edit::Replace(v), Step::At(i), parent) => parent[*i] = v.clone(),
        (Edit::AddKey(k, v), step, parent) => {
            let target = match step {
                Step::Key(key) => &mut parent[key.as_str()],
                Step::At(i) => &mut parent[*i],
            };
            if let Value::Object(map) = target {
                map.insert(k.clone(), v.clone());
            }
        }
        _ => {}
    }
}

/// Every path in a TOML table, parents before children (the root is the empty path).
pub fn toml_paths(value: &toml::Value) -> Vec<Vec<Step>> {
    let mut out = vec![Vec::new()];
    let children: Vec<(Step, &toml::Value)> = match value {
        toml::Value::Table(map) => map.iter().map(|(k, v)| (Step::Key(k.clone()), v)).collect(),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (Step::At(i), v))
            .collect(),
        _ => Vec::new(),
    };
    for (step, child) in children {
        for mut rest in toml_paths(child) {
            rest.insert(0, step.clone());
            out.push(rest);
        }
    }
    out
}

/// Applies `edit` to the value at `path` (see [`toml_paths`]); the root stays a table.
pub fn edit_toml(doc: &mut toml::Value, path: &[Step], edit: &Edit<toml::Value>) {
    use toml::Value;
    let mut target = doc;
    let Some((last, parent_path)) = path.split_last() else {
        if let (Edit::AddKey(k, v), Value::Table(map)) = (edit, target) {
            map.insert(k.clone(), v.clone());
        }
        return;
    };
    for step in parent_path {
        target = match (step, target) {
            (Step::Key(k), Value::Table(m)) => m.get_mut(k).expect("a path of this document"),
            (Step::At(i), Value::Array(a)) => &mut a[*i],
            _ => return,
        };
    }
    match (edit, last, target) {
        (Edit::Remove, Step::Key(k), Value::Table(m)) => {
            m.remove(k);
        }
        (Edit::Remove, Step::At(i), Value::Array(a)) => {
            a.remove(*i);
        }
        (Edit::Replace(v), Step::Key(k), Value::Table(m)) => {
            m.insert(k.clone(), v.clone());
        }
        (Edit::Replace(v), Step::At(i), Value::Array(a)) => a[*i] = v.clone(),
        (Edit::AddKey(k, v), Step::Key(key), Value::Table(m)) => {
            if let Some(Value::Table(inner)) = m.get_mut(key) {
                inner.insert(k.clone(), v.clone());
            }
        }
        (Edit::AddKey(k, v), Step::At(i), Value::Array(a)) => {
            if let Value::Table(inner) = &mut a[*i] {
                inner.insert(k.clone(), v.clone());
            }
        }
        _ => {}
    }
}

/// The object keys along a path: what an error about the edited value may name.
pub fn keys_of(path: &[Step]) -> Vec<&str> {
    path.iter()
        .filter_map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::At(_) => None,
        })
        .collect()
}

/// A valid TOML document with one edit, as text (`None` when TOML cannot write the result,
/// e.g. a value after a table in an array of tables).
pub fn edited_toml(
    text: &str,
    index: &Index,
    edit: &Edit<toml::Value>,
) -> Option<(String, Vec<Step>)> {
    let mut doc: toml::Value = toml::from_str(text).expect("the seed document is valid TOML");
    let paths = toml_paths(&doc);
    let path = paths[index.index(paths.len())].clone();
    edit_toml(&mut doc, &path, edit);
    toml::to_string(&doc).ok().map(|t| (t, path))
}

/// A valid JSON document with one edit, as text, and the path edited.
pub fn edited_json(
    doc: &serde_json::Value,
    index: &Index,
    edit: &Edit<serde_json::Value>,
) -> (String, Vec<Step>) {
    let mut doc = doc.clone();
    let paths = json_paths(&doc);
    let path = paths[index.index(paths.len())].clone();
    edit_json(&mut doc, &path, edit);
    (doc.to_string(), path)
}

/// The keys an error about `edit` at `path` may name: those on the path, the key added, and
/// the keys inside a replacement (a table put there may hold the wrong value one level down).
pub fn nameable_keys<V: serde::Serialize>(path: &[Step], edit: &Edit<V>) -> Vec<String> {
    let mut keys: Vec<String> = keys_of(path).into_iter().map(str::to_string).collect();
    let inner = match edit {
        Edit::AddKey(k, v) => {
            keys.push(k.clone());
            serde_json::to_value(v)
        }
        // The whole document replaced: the error is about the document, named by nothing.
        Edit::Replace(_) if path.is_empty() => return keys,
        Edit::Replace(v) => serde_json::to_value(v),
        Edit::Remove => return keys,
    };
    let inner = inner.unwrap_or_default();
    for path in json_paths(&inner) {
        keys.extend(keys_of(&path).into_iter().map(str::to_string));
    }
    keys
}

/// Whether an error `message` about an edit says where: it names one of `keys` (see
/// [`nameable_keys`]) or a line of the file.
pub fn says_where(message: &str, keys: &[String]) -> bool {
    keys.is_empty()
        || keys.iter().any(|k| message.contains(k.as_str()))
        || message.contains("line ")
}

fn features() -> serde_json::Value {
    serde_json::json!({"job_id": "j-1", "job_type": "email", "error_class": "timeout",
        "error_code": "504", "attempt_number": 2, "queue": "default", "tenant": "acme",
        "payload_size": 100, "time_of_day": 13, "worker_version": "1.2",
        "health": {"db": 0.9}, "since_last_failure": "2m", "recent_failures": 3,
        "avg_processing_time": 1_500_000_000u64, "retry_after_ms": 5000,
        "first_failure_at": "2026-01-01T00:00:00Z"})
}

/// A valid attempt record (`POST /attempt`, a line of `POST /attempts`).
pub fn attempt() -> serde_json::Value {
    serde_json::json!({"job_id": "j-1", "job_type": "email", "attempt_number": 2,
        "error_class": "timeout", "error_code": "504", "status": "failed",
        "queue": "default", "tenant": "acme", "payload_size": 100, "time_of_day": 13,
        "worker_version": "1.2", "health": {"db": 0.9}, "delay_ms": 1000,
        "success": false, "timestamp": "2026-01-01T00:00:00Z",
        "processing_time": "250ms"})
}

/// One valid document of every request body the API reads, by its schema name in the API
/// document.
pub fn api_bodies() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let strategy = serde_json::to_value(crate::engine::default_strategy()).expect("serialises");
    vec![
        ("AttemptRecord", attempt()),
        (
            "FailureReport",
            json!({"job_id": "j-1", "job_type": "email", "attempt_number": 2,
            "error_class": "timeout", "error_code": "504", "error_message": "gateway",
            "queue": "default", "tenant": "acme", "payload_size": 100, "time_of_day": 13,
            "worker_version": "1.2", "health": {"db": 0.9}, "delay_ms": 1000,
            "timestamp": "2026-01-01T00:00:00Z", "retry_after_ms": 5000,
            "claimed_by": "w1", "lease_until": "2026-01-01T00:01:00Z"}),
        ),
        ("RetryFeatures", features()),
        (
            "PreviewRequest",
            json!({"features": features(), "max_attempts": 5}),
        ),
        (
            "BayesianUpdateRequest",
            json!({"job_type": "email", "error_class": "timeout"}),
        ),
        (
            "BulkRequest",
            json!({"filter": {"queue": "q", "state": "scheduled",
            "error_class": "timeout", "job_type": "email", "tenant": "acme", "text": "x"},
            "action": "override", "delay": "10m", "reason": "r", "dry_run": true, "confirm": 3}),
        ),
        (
            "CircuitForceRequest",
            json!({"state": "open", "reason": "r"}),
        ),
        (
            "ClaimRequest",
            json!({"worker": "w1", "limit": 10, "lease_ms": 30000,
            "queue": "default", "now": "2026-01-01T00:00:00Z"}),
        ),
        (
            "CostWeights",
            json!({"per_attempt": 1.0, "per_second": 0.01, "give_up_penalty": 50.0}),
        ),
        (
            "EmergencyStopRequest",
            json!({"engaged": true, "reason": "r"}),
        ),
        ("EngineSeed", json!({"seed": 42})),
        (
            "OverrideRequest",
            json!({"delay_ms": 1000, "delay": "10m",
            "at": "2030-01-01T00:00:00Z", "reason": "r"}),
        ),
        (
            "PauseRequest",
            json!({"queue": "q", "error_class": "timeout", "job_type": "email",
            "until": "2030-01-01T00:00:00Z", "for": "10m", "reason": "r"}),
        ),
        ("ActionRequest", json!({"reason": "r", "use_static": true})),
        ("RetryPolicy", strategy["policies"][0].clone()),
        ("PolicyGuardrails", strategy["guardrails"].clone()),
        ("RetryStrategy", strategy),
    ]
}
