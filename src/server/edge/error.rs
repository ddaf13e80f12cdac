//! The one error type of the HTTP edge, answered in the upstream shape
//! `{"error", "status", "timestamp", "details"}`.

use crate::model::{ErrorBody, FieldError};
use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

/// An error answer: status, a short summary, and details naming what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub details: Option<String>,
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            details: None,
        }
    }

    /// Adds details (for a 4xx: the field and what was wrong with it).
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// 400 with details naming the field.
    pub fn bad_request(details: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid request").with_details(details)
    }

    /// 404 for a missing resource (job, policy, alert ...).
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what)
    }

    /// 401: no or an unknown token.
    pub fn unauthorized(details: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized").with_details(details)
    }

    /// 403: a known token whose role may not do this.
    pub fn forbidden(details: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden").with_details(details)
    }

    /// 409: the request conflicts with the resource's state (e.g. a job already finished).
    pub fn conflict(details: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict").with_details(details)
    }

    /// 503: the store failed; the service is degraded.
    pub fn unavailable(details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service degraded: store unavailable",
        )
        .with_details(details)
    }

    /// 500 for a bug; details are logged, not leaked.
    pub fn internal(context: &str) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            .with_details(context.to_string())
    }

    /// The body this error is answered with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.error.clone(),
            status: self.status.as_u16(),
            timestamp: Utc::now(),
            details: self.details.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.error)?;
        if let Some(details) = &self.details {
            write!(f, ": {details}")?;
        }
        Ok(())
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::bad_request(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid { field, message } => {
                Self::bad_request(format!("{field}: {message}"))
            }
            other => Self::unavailable(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), error = %self, "request failed");
        }
        (self.status, Json(self.body())).into_response()
    }
}
