//! Schemas of query parameters whose rules the `IntoParams` derive cannot state by itself. Each
//! is a type for `#[param(value_type = T, inline)]`: `schema_with` would state the rule but
//! drops the parameter's description and `required`.

/// The RFC 3339 times the document promises the service reads, as a regex: exact about month
/// lengths and leap years, so every string it matches is a real date. The service also reads
/// lower-case `t`/`z`, leap seconds and offsets up to ±23:59.
pub const TIME_PATTERN: &str = concat!(
    "^([0-9]{4}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)",
    "|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29)",
    "T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])$"
);

/// Declares a schema-only type whose schema is `$schema`.
macro_rules! param_schema {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $schema.into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use param_schema;

param_schema!(
    /// A text that is not blank ([`super::non_blank_text`]).
    NonBlankParam => super::non_blank_text()
);

param_schema!(
    /// A duration above zero ([`super::positive_duration`]).
    PositiveDurationParam => super::positive_duration()
);

param_schema!(
    /// An RFC 3339 time ([`TIME_PATTERN`]), or empty for none. No `format`: an empty text is
    /// not a `date-time`.
    TimeOrEmptyParam => utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some(format!("^$|{TIME_PATTERN}")))
);
