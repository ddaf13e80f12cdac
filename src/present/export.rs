//! Configuration export and import files (TOML, JSON, YAML), written by the console's export
//! dialog and by `retryctl export`, read back by `retryctl import`.
//!
//! An export is a [`ConfigExport`]: the service's whole strategy plus where and when it came
//! from. Its text fields go through the same [`sanitize`] as everything the console shows, so a
//! policy name carrying escape sequences cannot reach a terminal through `cat` either. The
//! file's extension names its format ([`ExportFormat::from_path`]).

use super::sanitize::sanitize;
use crate::model::{ConfigExport, RetryStrategy};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// Layout version written into every export.
pub const EXPORT_VERSION: u32 = 1;

/// File formats of a configuration export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Toml,
    Json,
    Yaml,
}

impl ExportFormat {
    /// `TOML`, `JSON`, `YAML`.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Toml => "TOML",
            ExportFormat::Json => "JSON",
            ExportFormat::Yaml => "YAML",
        }
    }

    /// The format named on the command line (`toml`, `json`, `yaml`).
    pub fn from_name(name: &str) -> Option<ExportFormat> {
        match name.to_ascii_lowercase().as_str() {
            "toml" => Some(ExportFormat::Toml),
            "json" => Some(ExportFormat::Json),
            "yaml" | "yml" => Some(ExportFormat::Yaml),
            _ => None,
        }
    }

    /// The format a path's extension names.
    pub fn from_path(path: &str) -> Result<ExportFormat, String> {
        let ext = std::path::Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        ExportFormat::from_name(ext)
            .ok_or_else(|| format!("`{path}`: end the file name in .toml, .json or .yaml"))
    }
}

/// Checks the export dialog's path.
pub fn parse_export(path: &str) -> Result<(PathBuf, ExportFormat), String> {
    let path = path.trim();
    if path.is_empty() {
        return Err("enter a file name ending in .toml, .json or .yaml".into());
    }
    Ok((PathBuf::from(path), ExportFormat::from_path(path)?))
}

/// Why an export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot encode the configuration as {format:?}: {message}")]
    Encode {
        format: ExportFormat,
        message: String,
    },
    #[error("{path}: {message}")]
    Decode { path: String, message: String },
    #[error("{path} already exists")]
    Exists { path: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The export of `strategy`, taken from `source` at `now`, with its text sanitised.
pub fn build(strategy: &RetryStrategy, source: &str, now: DateTime<Utc>) -> ConfigExport {
    let mut strategy = strategy.clone();
    clean_strategy(&mut strategy);
    ConfigExport {
        export_version: EXPORT_VERSION,
        exported_at: now,
        source: sanitize(source),
        strategy,
    }
}

fn clean_strategy(s: &mut RetryStrategy) {
    s.name = sanitize(&s.name);
    for p in &mut s.policies {
        p.name = sanitize(&p.name);
        p.error_patterns.iter_mut().for_each(|x| *x = sanitize(x));
        p.job_type_patterns
            .iter_mut()
            .for_each(|x| *x = sanitize(x));
    }
    let quotas = std::mem::take(&mut s.guardrails.tenant_quotas);
    s.guardrails.tenant_quotas = quotas.into_iter().map(|(k, v)| (sanitize(&k), v)).collect();
    if let Some(m) = s.ml_model.as_mut() {
        m.version = sanitize(&m.version);
        m.model_type = sanitize(&m.model_type);
    }
}

/// The file text of an export.
pub fn encode(export: &ConfigExport, format: ExportFormat) -> Result<String, ExportError> {
    let err = |message: String| ExportError::Encode { format, message };
    match format {
        ExportFormat::Toml => toml::to_string_pretty(export).map_err(|e| err(e.to_string())),
        ExportFormat::Json => serde_json::to_string_pretty(export)
            .map(|s| s + "\n")
            .map_err(|e| err(e.to_string())),
        ExportFormat::Yaml => serde_norway::to_string(export).map_err(|e| err(e.to_string())),
    }
}

/// Reads an export back; `path` names the file in errors. A key the export does not have (a
/// typo, most likely) is an error naming it, not silently dropped.
pub fn decode(text: &str, format: ExportFormat, path: &str) -> Result<ConfigExport, ExportError> {
    let decoded = match format {
        ExportFormat::Toml => toml::Deserializer::parse(text)
            .map_err(|e| e.to_string())
            .and_then(strict),
        ExportFormat::Json => strict(&mut serde_json::Deserializer::from_str(text)),
        ExportFormat::Yaml => {
            refuse_deep_yaml(text).and_then(|()| strict(serde_norway::Deserializer::from_str(text)))
        }
    };
    decoded.map_err(|message| ExportError::Decode {
        path: path.to_string(),
        message,
    })
}

/// Deepest nesting of `[` and `{` a YAML import may hold. libyaml's scanner takes time
/// quadratic in how deeply flow collections nest (60,000 deep take seconds, 100,000 minutes);
/// an export nests a few levels.
const MAX_YAML_FLOW_DEPTH: usize = 1_000;

/// Refuses a YAML text whose flow collections nest deeper than any export's, before libyaml
/// reads it, naming the line and how it starts.
fn refuse_deep_yaml(text: &str) -> Result<(), String> {
    let mut scan = FlowScan::default();
    for (number, line) in text.lines().enumerate() {
        if scan.line(line) > MAX_YAML_FLOW_DEPTH {
            let start: String = line.chars().take(40).collect();
            return Err(format!(
                "line {}, `{start}`…: '[' and '{{' nested deeper than {MAX_YAML_FLOW_DEPTH}: \
                 not a retryctl export",
                number + 1
            ));
        }
    }
    Ok(())
}

/// How deeply YAML flow collections nest, line by line: `[` and `{` outside quoted scalars
/// and comments (inside quotes they are text, which libyaml reads in linear time). A quote
/// opens a scalar only where a token starts, so the apostrophe in `it's` is text.
#[derive(Default)]
struct FlowScan {
    depth: usize,
    deepest: usize,
    /// The quote of the scalar being read (quoted scalars may span lines).
    quote: Option<u8>,
    escaped: bool,
}

impl FlowScan {
    /// Reads one line; the deepest nesting so far.
    fn line(&mut self, line: &str) -> usize {
        let mut previous: Option<u8> = None;
        let mut bytes = line.bytes().peekable();
        while let Some(b) = bytes.next() {
            let token_start = previous.is_none_or(|p| b" \t[{,:".contains(&p));
            match self.quote {
                Some(b'"') if self.escaped => self.escaped = false,
                Some(b'"') if b == b'\\' => self.escaped = true,
                Some(q) if b == q && q == b'\'' && bytes.peek() == Some(&b'\'') => {
                    bytes.next();
                }
                Some(q) if b == q => self.quote = None,
                Some(_) => {}
                None => match b {
                    b'\'' | b'"' if token_start => self.quote = Some(b),
                    b'#' if previous.is_none_or(|p| p == b' ' || p == b'\t') => break,
                    b'[' | b'{' => self.depth += 1,
                    b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                },
            }
            self.deepest = self.deepest.max(self.depth);
            previous = Some(b);
        }
        self.deepest
    }
}

/// Decodes an export, refusing the first key it does not know by its path; a wrong value is
/// named by its path too (`strategy.policies[0].max_attempts: invalid type ...`).
fn strict<'de, D>(de: D) -> Result<ConfigExport, String>
where
    D: serde::Deserializer<'de>,
    D::Error: std::fmt::Display,
{
    let mut unknown = None;
    let mut note = |key: serde_ignored::Path| {
        unknown.get_or_insert_with(|| key.to_string());
    };
    let doc = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(de, &mut note))
        .map_err(|e| {
            let (path, inner) = (e.path().to_string(), e.inner().to_string());
            // serde_norway names the path itself: say it once.
            if path == "." || inner.starts_with(&format!("{path}:")) {
                inner
            } else {
                format!("{path}: {inner}")
            }
        });
    // A misspelt key also leaves the right one missing: the unknown key is the cause to name.
    match (doc, unknown) {
        (Ok(doc), None) => Ok(doc),
        (Ok(_), Some(key)) => Err(format!("unknown key `{key}`")),
        (Err(e), Some(key)) => Err(format!("unknown key `{key}` ({e})")),
        (Err(e), None) => Err(e),
    }
}

/// Writes `text` to `path`, creating parent directories; an existing file is replaced only
/// with `replace` (else [`ExportError::Exists`]). Returns the absolute path written.
pub fn write(path: &Path, text: &str, replace: bool) -> Result<PathBuf, ExportError> {
    let name = path.display().to_string();
    let io = |source| ExportError::Io {
        path: name.clone(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // Without `replace`, the file must not exist yet: checked and created in one step.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!replace)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => ExportError::Exists { path: name.clone() },
            _ => io(source),
        })?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)?;
    Ok(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// Reads and decodes an export file, the format from its extension.
pub fn read(path: &Path) -> Result<ConfigExport, ExportError> {
    let name = path.display().to_string();
    let format = ExportFormat::from_path(&name).map_err(|message| ExportError::Decode {
        path: name.clone(),
        message,
    })?;
    let text = std::fs::read_to_string(path).map_err(|source| ExportError::Io {
        path: name.clone(),
        source,
    })?;
    decode(&text, format, &name)
}

/// `path: before -> after` for one field an import changes (`(absent)` for a missing side).
pub fn change_line(c: &crate::model::diff::FieldChange) -> String {
    let shown = |v: &Option<serde_json::Value>| {
        v.as_ref().map_or("(absent)".to_string(), |v| v.to_string())
    };
    format!("{}: {} -> {}", c.path, shown(&c.before), shown(&c.after))
}

/// [`read`] for an import: also refuses an `export_version` this build does not read.
pub fn read_for_import(path: &Path) -> Result<ConfigExport, ExportError> {
    let doc = read(path)?;
    if doc.export_version != EXPORT_VERSION {
        return Err(ExportError::Decode {
            path: path.display().to_string(),
            message: format!(
                "export_version {} is not supported (this retryctl reads {EXPORT_VERSION})",
                doc.export_version
            ),
        });
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DataCollection, PolicyGuardrails, RetryPolicy};

    #[test]
    fn a_misspelt_key_is_named_with_its_path() {
        let doc = build(&strategy(), "http://x", chrono::Utc::now());
        let text = encode(&doc, ExportFormat::Toml).unwrap();
        let typo = text.replacen("max_attempts", "max_atempts", 1);
        let e = decode(&typo, ExportFormat::Toml, "cfg.toml").unwrap_err();
        assert!(e.to_string().contains("unknown key `strategy."), "{e}");
        assert!(e.to_string().contains("max_atempts`"), "{e}");
        assert!(decode(&text, ExportFormat::Toml, "cfg.toml").is_ok());
    }

    #[test]
    fn deeply_nested_yaml_is_refused_before_libyaml_reads_it() {
        let text = format!("a: 1\nstrategy: {}", "[".repeat(MAX_YAML_FLOW_DEPTH + 1));
        let e = decode(&text, ExportFormat::Yaml, "cfg.yaml").unwrap_err();
        assert!(e.to_string().contains("line 2, `strategy: [[["), "{e}");
        assert!(e.to_string().contains("deeper than 1000"), "{e}");
        let wide = format!("strategy: {}", "[]".repeat(MAX_YAML_FLOW_DEPTH * 5));
        let e = decode(&wide, ExportFormat::Yaml, "cfg.yaml").unwrap_err();
        assert!(!e.to_string().contains("deeper"), "{e}");
        let deep = "[".repeat(MAX_YAML_FLOW_DEPTH * 5);
        for quoted in [
            format!("strategy: '{deep}'"),
            format!("strategy: \"{deep}\""),
            format!("strategy: 'it''s {deep}'"),
            format!("strategy: \"a\\\" {deep}\""),
            format!("strategy: 1 # {deep}"),
            format!("strategy: >\n  '{deep}\n  {deep}'"),
        ] {
            let e = decode(&quoted, ExportFormat::Yaml, "cfg.yaml").unwrap_err();
            assert!(!e.to_string().contains("deeper"), "{quoted:.40}: {e}");
        }
        let after_a_word = format!("strategy: it's [{deep}");
        let e = decode(&after_a_word, ExportFormat::Yaml, "cfg.yaml").unwrap_err();
        assert!(e.to_string().contains("deeper"), "{e}");
        let shallow = format!("strategy: {}", "[".repeat(3));
        let e = decode(&shallow, ExportFormat::Yaml, "cfg.yaml").unwrap_err();
        assert!(e.to_string().contains("invalid type: sequence"), "{e}");
    }

    #[test]
    fn a_yaml_error_names_its_path_once() {
        let e = decode("strategy: [1]", ExportFormat::Yaml, "cfg.yaml").unwrap_err();
        assert_eq!(e.to_string().matches("strategy:").count(), 1, "{e}");
    }

    #[test]
    fn an_existing_file_is_replaced_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg.toml");
        write(&path, "one", false).unwrap();
        let again = write(&path, "two", false);
        assert!(
            matches!(again, Err(ExportError::Exists { .. })),
            "{again:?}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");
        write(&path, "two", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
    }

    fn strategy() -> RetryStrategy {
        let policy: RetryPolicy = serde_json::from_value(serde_json::json!({
            "name": "rate_limit\u{1b}]0;owned\u{7}", "error_patterns": ["429", "rate\u{202e}limit"],
            "max_attempts": 5, "base_delay_ms": 5000, "max_delay_ms": 60000,
            "jitter_percent": 25.0, "priority": 100
        }))
        .unwrap();
        RetryStrategy {
            name: "default".into(),
            enabled: true,
            policies: vec![policy],
            bayesian_threshold: 0.75,
            ml_enabled: false,
            ml_model: None,
            guardrails: PolicyGuardrails::default(),
            data_collection: DataCollection::default(),
            bayesian_enabled: true,
        }
    }

    #[test]
    fn every_format_round_trips() {
        let now = "2026-11-23T10:00:00Z".parse().unwrap();
        let export = build(&strategy(), "http://127.0.0.1:7878", now);
        for format in [ExportFormat::Toml, ExportFormat::Json, ExportFormat::Yaml] {
            let text = encode(&export, format).unwrap();
            let back =
                decode(&text, format, "x").unwrap_or_else(|e| panic!("{format:?}: {e}\n{text}"));
            assert_eq!(back, export, "{format:?}");
        }
    }

    #[test]
    fn exports_carry_no_escape_sequences() {
        let now = "2026-11-23T10:00:00Z".parse().unwrap();
        let export = build(&strategy(), "src", now);
        for format in [ExportFormat::Toml, ExportFormat::Json, ExportFormat::Yaml] {
            let text = encode(&export, format).unwrap();
            // JSON/TOML/YAML may escape, but the decoded value must be clean too.
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{202e}'),
                "{text}"
            );
            let back = decode(&text, format, "x").unwrap();
            assert_eq!(back.strategy.policies[0].name, "rate_limit␛]0;owned␇");
            assert_eq!(back.strategy.policies[0].error_patterns[1], "ratelimit");
        }
    }

    #[test]
    fn unknown_extension_and_bad_text_are_named() {
        let e = read(Path::new("/tmp/x.txt")).unwrap_err();
        assert!(e.to_string().contains(".toml"), "{e}");
        let e = decode("strategy = 3", ExportFormat::Toml, "a.toml").unwrap_err();
        assert!(e.to_string().starts_with("a.toml:"), "{e}");
    }

    #[test]
    fn export_paths_name_their_format() {
        assert_eq!(parse_export("a.yml").unwrap().1, ExportFormat::Yaml);
        assert_eq!(parse_export(" out/c.json ").unwrap().1, ExportFormat::Json);
        assert!(parse_export("c.txt").unwrap_err().contains(".toml"));
        assert!(parse_export("").is_err());
    }

    /// The fuzz tests of the import file (README "Fuzzing").
    mod fuzz {
        use super::*;
        use crate::fuzz::{
            damage, edit, edited_json, edited_toml, hostile_json, hostile_text, hostile_toml,
            nameable_keys, says_where,
        };
        use proptest::prelude::*;

        const FORMATS: [ExportFormat; 3] =
            [ExportFormat::Toml, ExportFormat::Json, ExportFormat::Yaml];

        fn export() -> ConfigExport {
            let now = "2026-11-23T10:00:00Z".parse().unwrap();
            build(
                &crate::engine::default_strategy(),
                "http://127.0.0.1:7878",
                now,
            )
        }

        /// What `retryctl import` does before it sends anything: decode, then the checks the
        /// service applies. The message of a refusal.
        fn import(text: &str, format: ExportFormat) -> Result<(), String> {
            let doc = decode(text, format, "fuzz.cfg").map_err(|e| {
                assert!(matches!(e, ExportError::Decode { .. }), "{e}");
                e.to_string()
            })?;
            crate::model::validate::strategy(&doc.strategy)
                .map_err(|e| format!("strategy.{}: {}", e.field, e.message))
        }

        fn explained(message: &str) -> Result<(), TestCaseError> {
            let why = message.strip_prefix("fuzz.cfg: ").unwrap_or(message);
            prop_assert!(!why.trim().is_empty(), "{message}");
            Ok(())
        }

        proptest! {
            #![proptest_config(crate::fuzz::config(128))]

            #[test]
            fn fuzz_files_any_import_text_is_read_or_refused(
                which in any::<prop::sample::Index>(),
                text in hostile_text(),
            ) {
                if let Err(e) = import(&text, FORMATS[which.index(3)]) {
                    explained(&e)?;
                }
            }

            #[test]
            fn fuzz_files_damaged_imports_are_refused(
                which in any::<prop::sample::Index>(),
                damage in damage(),
            ) {
                let format = FORMATS[which.index(3)];
                let text = damage.apply(&encode(&export(), format).unwrap());
                if let Err(e) = import(&text, format) {
                    explained(&e)?;
                }
            }

            /// One value of a JSON or YAML export replaced, removed or added: the refusal
            /// names a key on its path.
            #[test]
            fn fuzz_files_edited_json_and_yaml_imports_name_the_key(
                yaml in any::<bool>(),
                (at, change) in edit(hostile_json()),
            ) {
                let doc = serde_json::to_value(export()).unwrap();
                let (json, path) = edited_json(&doc, &at, &change);
                let value: serde_json::Value = serde_json::from_str(&json).unwrap();
                let (text, format) = if yaml {
                    (serde_norway::to_string(&value).unwrap(), ExportFormat::Yaml)
                } else {
                    (serde_json::to_string_pretty(&value).unwrap(), ExportFormat::Json)
                };
                if let Err(e) = import(&text, format) {
                    explained(&e)?;
                    // Not just a line: the key, as the file is one the operator edits by hand.
                    let keys = nameable_keys(&path, &change);
                    prop_assert!(keys.is_empty() || keys.iter().any(|k| e.contains(k.as_str())),
                        "edit {change:?} at {path:?}: {e}");
                }
            }

            #[test]
            fn fuzz_files_edited_toml_imports_name_the_key((at, change) in edit(hostile_toml())) {
                let seed = encode(&export(), ExportFormat::Toml).unwrap();
                let Some((text, path)) = edited_toml(&seed, &at, &change) else {
                    return Ok(());
                };
                if let Err(e) = import(&text, ExportFormat::Toml) {
                    explained(&e)?;
                    let keys = nameable_keys(&path, &change);
                    prop_assert!(says_where(&e, &keys), "edit {change:?} at {path:?}: {e}");
                }
            }
        }
    }
}
