//! Which model: the owned [`ModelKey`] a model is stored under, the borrowed [`KeyRef`] it is
//! looked up by (no allocation per lookup: a recommendation looks up to four levels), the
//! same for the similar-case rings ([`CaseKey`]), and
//! [`NoModel`], why no level had enough data, put into words only when someone reads it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::{Hash, Hasher};

/// Which model: `job_type/error_class[/tenant][@HHh]`, with job type `*` for the class-wide
/// model.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ModelKey {
    pub job_type: String,
    pub error_class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Hour of the day (UTC) the episodes began, for the hour-of-day model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
}

impl ModelKey {
    #[cfg(test)]
    pub fn new(job_type: &str, error_class: &str, tenant: Option<&str>) -> Self {
        KeyRef::new(job_type, error_class, tenant).owned()
    }

    /// The key by reference.
    pub fn borrowed(&self) -> KeyRef<'_> {
        KeyRef {
            job_type: &self.job_type,
            error_class: &self.error_class,
            tenant: self.tenant.as_deref(),
            hour: self.hour,
        }
    }

    pub fn label(&self) -> String {
        self.borrowed().to_string()
    }
}

/// Hashed as its [`KeyRef`], so a map of `ModelKey`s is searched with either.
impl Hash for ModelKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.borrowed().hash(state);
    }
}

/// A [`ModelKey`] by reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyRef<'a> {
    pub job_type: &'a str,
    pub error_class: &'a str,
    pub tenant: Option<&'a str>,
    pub hour: Option<u8>,
}

impl<'a> KeyRef<'a> {
    pub fn new(job_type: &'a str, error_class: &'a str, tenant: Option<&'a str>) -> Self {
        Self {
            job_type,
            error_class,
            tenant,
            hour: None,
        }
    }

    pub fn at_hour(job_type: &'a str, error_class: &'a str, hour: u8) -> Self {
        Self {
            hour: Some(hour),
            ..Self::new(job_type, error_class, None)
        }
    }

    pub fn owned(&self) -> ModelKey {
        ModelKey {
            job_type: self.job_type.to_string(),
            error_class: self.error_class.to_string(),
            tenant: self.tenant.map(str::to_string),
            hour: self.hour,
        }
    }
}

impl hashbrown::Equivalent<ModelKey> for KeyRef<'_> {
    fn equivalent(&self, key: &ModelKey) -> bool {
        *self == key.borrowed()
    }
}

/// The label: `job_type/error_class[/tenant][@HHh]`.
impl fmt::Display for KeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.job_type, self.error_class)?;
        if let Some(tenant) = self.tenant {
            write!(f, "/{tenant}")?;
        }
        match self.hour {
            Some(h) => write!(f, "@{h:02}h"),
            None => Ok(()),
        }
    }
}

/// A (job type, error class) pair by reference, to look up what is stored under the owned
/// `(String, String)`: hashed as that tuple is (each part in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaseKey<'a>(pub &'a str, pub &'a str);

impl hashbrown::Equivalent<(String, String)> for CaseKey<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// Most levels a selection tries (tenant, hour, job type + class, class).
pub const LEVELS: usize = 4;

/// A level passed over: its model has fewer samples than the level needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Passed<'a> {
    pub key: KeyRef<'a>,
    pub samples: u64,
    pub needed: u64,
}

/// No level had a model with enough data: the levels tried, most specific first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoModel<'a> {
    tried: [Option<Passed<'a>>; LEVELS],
}

impl<'a> NoModel<'a> {
    pub fn pass(&mut self, level: usize, why: Passed<'a>) {
        self.tried[level] = Some(why);
    }
}

impl fmt::Display for NoModel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no model has enough data yet (")?;
        for (i, why) in self.tried.iter().flatten().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let Passed {
                key,
                samples,
                needed,
            } = why;
            write!(f, "{key} has {samples} of {needed} samples")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn a_key_and_its_reference_hash_and_compare_alike() {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let keys = [
            ModelKey::new("email", "timeout", None),
            ModelKey::new("email", "timeout", Some("acme")),
            KeyRef::at_hour("email", "timeout", 7).owned(),
            ModelKey::new("*", "timeout", None),
        ];
        for key in &keys {
            let borrowed = key.borrowed();
            assert_eq!(hasher.hash_one(key), hasher.hash_one(borrowed));
            assert!(hashbrown::Equivalent::equivalent(&borrowed, key));
            for other in keys.iter().filter(|o| *o != key) {
                assert!(!hashbrown::Equivalent::equivalent(&borrowed, other));
            }
        }
    }

    #[test]
    fn a_case_key_hashes_and_compares_as_the_owned_pair() {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let owned = ("email".to_string(), "timeout".to_string());
        let borrowed = CaseKey("email", "timeout");
        assert_eq!(hasher.hash_one(&owned), hasher.hash_one(borrowed));
        assert!(hashbrown::Equivalent::equivalent(&borrowed, &owned));
        let swapped = CaseKey("timeout", "email");
        assert!(!hashbrown::Equivalent::equivalent(&swapped, &owned));
    }

    #[test]
    fn labels_name_tenant_and_hour() {
        assert_eq!(ModelKey::new("a", "b", None).label(), "a/b");
        assert_eq!(ModelKey::new("a", "b", Some("t")).label(), "a/b/t");
        assert_eq!(KeyRef::at_hour("a", "b", 7).owned().label(), "a/b@07h");
    }

    #[test]
    fn no_model_lists_the_levels_tried_in_order() {
        let mut none = NoModel::default();
        none.pass(
            2,
            Passed {
                key: KeyRef::new("a", "b", None),
                samples: 3,
                needed: 10,
            },
        );
        none.pass(
            0,
            Passed {
                key: KeyRef::new("a", "b", Some("t")),
                samples: 0,
                needed: 20,
            },
        );
        assert_eq!(
            none.to_string(),
            "no model has enough data yet (a/b/t has 0 of 20 samples; a/b has 3 of 10 samples)"
        );
    }
}
