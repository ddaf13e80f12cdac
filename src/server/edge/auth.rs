//! Who is calling: `Authorization: Bearer <token>` mapped to a role from the config.
//!
//! Handlers take a [`Caller`] and say what they need: `caller.require(Access::Operate)?`.
//! With no tokens configured (loopback only, see `Config::check_exposure`) every caller is an
//! operator named `local`. Every configured token is compared, each in constant time
//! (`subtle`), so the answer's timing reveals neither a prefix nor which token matched.

use super::error::ApiError;
use crate::config::{Config, Role};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// What an endpoint needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Record attempts and failures, ask for recommendations, claim due retries (worker).
    Work,
    /// Read state: stats, strategy, jobs, alerts, summary, metrics (viewer).
    Read,
    /// Harmless for every role (e.g. a preview, which consumes no budget).
    Any,
    /// Change things: policies, guardrails, strategy, overrides (operator).
    Operate,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub role: Role,
    /// The token's name from the config (`local` without tokens).
    pub name: String,
}

impl Caller {
    /// The operator every request is when no tokens are configured.
    pub fn local() -> Self {
        Self {
            role: Role::Operator,
            name: "local".into(),
        }
    }

    /// `role:name`, as written to the audit log.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role.as_str(), self.name)
    }

    /// Whether this caller's role allows `access`.
    pub fn may(&self, access: Access) -> bool {
        matches!(
            (self.role, access),
            (Role::Operator, _)
                | (_, Access::Any)
                | (Role::Worker, Access::Work)
                | (Role::Viewer, Access::Read)
        )
    }

    /// 403 unless the role allows `access`.
    pub fn require(&self, access: Access) -> Result<(), ApiError> {
        if self.may(access) {
            return Ok(());
        }
        let needed = match access {
            Access::Work => "a worker or operator token",
            Access::Read => "a viewer or operator token",
            Access::Any => "any token",
            Access::Operate => "an operator token",
        };
        Err(ApiError::forbidden(format!(
            "this endpoint needs {needed}; the token `{}` has role {}",
            self.name,
            self.role.as_str()
        )))
    }
}

/// Any router state that holds the service config (`Arc<Config>: FromRef<S>`) can identify
/// callers.
impl<S> FromRequestParts<S> for Caller
where
    Arc<Config>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let config = Arc::<Config>::from_ref(state);
        if !config.auth_required() {
            return Ok(Caller::local());
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
        let presented = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        let mut matched = None;
        for token in &config.tokens {
            if bool::from(token.token.as_bytes().ct_eq(presented.as_bytes())) {
                matched = Some(token);
            }
        }
        matched
            .map(|t| Caller {
                role: t.role,
                name: t.name.clone(),
            })
            .ok_or_else(|| ApiError::unauthorized("unknown token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_the_design_says() {
        let table = [
            (Role::Worker, [true, false, true, false]),
            (Role::Viewer, [false, true, true, false]),
            (Role::Operator, [true, true, true, true]),
        ];
        for (role, expected) in table {
            let caller = Caller {
                role,
                name: "t".into(),
            };
            let got =
                [Access::Work, Access::Read, Access::Any, Access::Operate].map(|a| caller.may(a));
            assert_eq!(got, expected, "{role:?}");
        }
    }
}
