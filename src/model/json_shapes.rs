//! JSON shapes serde's defaults get wrong for us, as `deserialize_with` functions:
//! - a nested settings struct from an object only: serde's derived `Deserialize` also accepts
//!   a struct as an array of its fields in order, so with `#[serde(default)]` a body such as
//!   `"retry_budget": []` was taken as "all defaults" although the API document says object;
//! - an infinite number: JSON has none, serde_json writes it as `null`, and reading that back
//!   failed, so a stored job whose plan held an infinite cost could not be read.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};
use std::fmt;
use std::marker::PhantomData;

/// `#[serde(deserialize_with = "object_only")]`: the field's struct, from an object only; any
/// other JSON type is refused naming what was found.
pub fn object_only<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_map(ObjectVisitor(PhantomData))
}

/// A number, or `null` for an infinite one (how serde_json writes it).
pub fn infinite_when_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::INFINITY))
}

#[cfg(test)]
mod tests {
    use crate::model::PolicyGuardrails;

    #[test]
    fn a_nested_struct_given_as_an_array_is_refused_and_an_object_accepted() {
        let err = serde_json::from_str::<PolicyGuardrails>(r#"{"retry_budget": []}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected an object"), "{err}");
        let err = serde_json::from_str::<PolicyGuardrails>(r#"{"circuit_breaker": [true]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected an object"), "{err}");
        let ok: PolicyGuardrails =
            serde_json::from_str(r#"{"retry_budget": {"capacity": 7}}"#).unwrap();
        assert_eq!(ok.retry_budget.capacity, 7.0);
    }

    #[test]
    fn an_infinite_cost_in_a_stored_plan_reads_back() {
        let alternative = crate::model::Alternative {
            delay_ms: 100,
            success_probability: 0.5,
            expected_cost: f64::INFINITY,
            chosen: false,
        };
        let json = serde_json::to_string(&alternative).unwrap();
        let back: crate::model::Alternative = serde_json::from_str(&json).unwrap();
        assert_eq!(back, alternative);
    }
}
