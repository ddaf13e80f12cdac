//! Performs the effects the UI asks for: API calls and exports, each in its own task, each
//! reporting one line back for the footer.

use super::app::{Call, Export, ImportCheck};
use super::state::JobInfo;
use crate::client::{Client, ClientError};
use crate::model::{ActionRequest, BayesianUpdateRequest, BulkResult, RetryPreview};
use crate::present::export::{self, ExportError, ExportFormat};
use chrono::Utc;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// The result of an effect, for the UI.
#[derive(Debug)]
pub enum Done {
    Outcome {
        ok: bool,
        text: String,
    },
    Preview(Result<Box<RetryPreview>, String>),
    /// A job's detail for the detail view, or why it could not be read.
    JobInfo(String, Result<Box<JobInfo>, String>),
    /// The dry run of a bulk action: what it would change, or why the service refused.
    BulkCounted(Result<BulkResult, String>),
    /// The service's dry run of an import, or why the file or the service refused it.
    ImportChecked(Result<Box<ImportCheck>, String>),
    /// The export's file exists; nothing was written.
    ExportExists {
        path: PathBuf,
        format: ExportFormat,
    },
}

/// Reason recorded in the audit log for actions that do not ask for one.
const CONSOLE_REASON: &str = "from the retryctl console";

/// Starts `call` in a task; its result arrives on `tx`.
pub fn spawn_call(client: Client, call: Call, tx: mpsc::Sender<Done>) {
    tokio::spawn(async move {
        let label = call.label();
        let done = match call {
            Call::Preview(job_id) => Done::Preview(
                client
                    .job_plan(&job_id)
                    .await
                    .map(Box::new)
                    .map_err(|e| e.to_string()),
            ),
            Call::JobInfo(job_id) => {
                let info = job_info(&client, &job_id).await;
                Done::JobInfo(job_id, info.map_err(|e| failure_text(&label, &e)))
            }
            Call::ImportDryRun(path) => {
                Done::ImportChecked(import_check(&client, path).await.map(Box::new))
            }
            Call::BulkDryRun(req) => Done::BulkCounted(
                client
                    .bulk(&req)
                    .await
                    .map_err(|e| failure_text(&label, &e)),
            ),
            other => match send(&client, other).await {
                Ok(text) => Done::Outcome { ok: true, text },
                Err(e) => {
                    tracing::warn!(action = %label, error = %e, "action failed");
                    Done::Outcome {
                        ok: false,
                        text: failure_text(&label, &e),
                    }
                }
            },
        };
        tracing::info!(action = %label, "action finished: {done:?}");
        let _ = tx.send(done).await;
    });
}

/// A failed call for the footer: what went wrong first, where last, so that on a narrow
/// terminal the reason is what stays readable ("override refused: job x already succeeded
/// (409 conflict, /api/v1/retry/jobs/x/override)"). The log has the error as it came.
fn failure_text(label: &str, e: &ClientError) -> String {
    match e {
        ClientError::Api {
            path,
            status,
            error,
            details,
        } => match details {
            Some(cause) => format!("{label} refused: {cause} ({status} {error}, {path})"),
            None => format!("{label} refused: {status} {error} ({path})"),
        },
        ClientError::Unreachable { url, message } => {
            format!("{label} not sent: service unreachable: {message} ({url})")
        }
        ClientError::Decode { path, message } => {
            format!("{label}: unexpected answer: {message} ({path})")
        }
        ClientError::BadUrl { .. } => format!("{label} not sent: {e}"),
    }
}

async fn send(client: &Client, call: Call) -> Result<String, ClientError> {
    let reason = ActionRequest {
        reason: CONSOLE_REASON.into(),
        use_static: false,
    };
    Ok(match call {
        Call::Override { job_id, req } => {
            client.override_job(&job_id, &req).await?;
            format!("override {job_id} sent ({})", req.reason)
        }
        Call::Apply { job_id, use_static } => {
            client
                .apply(
                    &job_id,
                    &ActionRequest {
                        use_static,
                        ..reason
                    },
                )
                .await?;
            let what = if use_static {
                "static backoff"
            } else {
                "recommendation"
            };
            format!("applied {what} to {job_id}")
        }
        Call::RetryNow { job_id } => {
            client.retry_now(&job_id, &reason).await?;
            format!("{job_id} will retry now")
        }
        Call::Kill {
            job_id,
            reason: why,
        } => {
            client.kill(&job_id, &ActionRequest::because(&why)).await?;
            format!("killed {job_id} ({why})")
        }
        Call::Ack {
            alert_id,
            reason: why,
        } => {
            client
                .ack_alert(&alert_id, &ActionRequest::because(&why))
                .await?;
            format!("acknowledged alert {alert_id} ({why})")
        }
        Call::Retrain {
            job_type,
            error_class,
        } => {
            let req = BayesianUpdateRequest {
                job_type: job_type.clone(),
                error_class: error_class.clone(),
            };
            client.bayesian_update(&req).await?;
            let ml = match client.ml_train(&ml_defaults()).await {
                Ok(job) => format!("ML training {} started", job.job_id),
                Err(e) => format!("ML training not started: {e}"),
            };
            format!("retrained {job_type}/{error_class}; {ml}")
        }
        Call::Bulk {
            filter,
            req,
            expected,
        } => {
            let result = client.bulk(&req).await?;
            super::app::bulk_done_text(&filter, &result, expected)
        }
        Call::Pause(req) => {
            let p = client.pause(&req).await?;
            let how_long = match &req.r#for {
                Some(d) => format!("for {d}"),
                None => "until resumed".into(),
            };
            format!(
                "paused {} {how_long} ({}; {})",
                p.scope.label(),
                p.id,
                p.reason
            )
        }
        Call::Resume {
            pause_id,
            scope,
            reason: why,
        } => {
            client.resume(&pause_id, &why).await?;
            format!("resumed {scope} ({pause_id}; {why})")
        }
        Call::Import(check) => {
            client.put_strategy(&check.strategy).await?;
            super::app::import_done_text(&check)
        }
        other @ (Call::Preview(_)
        | Call::BulkDryRun(_)
        | Call::JobInfo(_)
        | Call::ImportDryRun(_)) => other.label(),
    })
}

/// Reads the file to import and asks the service what applying its strategy would change.
async fn import_check(client: &Client, path: PathBuf) -> Result<ImportCheck, String> {
    let doc = export::read_for_import(&path).map_err(|e| format!("import not sent: {e}"))?;
    let check = client
        .check_strategy(&doc.strategy)
        .await
        .map_err(|e| failure_text("import", &e))?;
    Ok(ImportCheck {
        path,
        strategy: doc.strategy,
        changes: check.changes,
    })
}

/// Audit entries read per page, and the most pages read for one job detail: the log is
/// oldest first without a target filter, so a longer log shows only its oldest part.
const AUDIT_PAGE: u32 = 1000;
const AUDIT_PAGES: usize = 50;

/// `GET /jobs/{id}` and the audit entries whose target is the job.
async fn job_info(client: &Client, job_id: &str) -> Result<Box<JobInfo>, ClientError> {
    let detail = client.job(job_id).await?;
    let (mut audit, mut after, mut truncated) = (Vec::new(), 0, true);
    for _ in 0..AUDIT_PAGES {
        let page = client.audit_page(after, AUDIT_PAGE).await?;
        let Some(last) = page.last() else {
            truncated = false;
            break;
        };
        after = last.id;
        let full = page.len() == AUDIT_PAGE as usize;
        audit.extend(page.into_iter().filter(|e| e.target == job_id));
        if !full {
            truncated = false;
            break;
        }
    }
    Ok(Box::new(JobInfo::new(detail, audit, truncated)))
}

/// Fetches the strategy and writes it to `path` (replacing a file there only with `replace`);
/// reports the absolute path written, or that the file exists.
pub fn spawn_export(client: Client, export: Export, tx: mpsc::Sender<Done>) {
    tokio::spawn(async move {
        let Export {
            path,
            format,
            replace,
        } = export;
        let done = match export_to(&client, &path, format, replace).await {
            Ok(written) => Done::Outcome {
                ok: true,
                text: format!("exported {} to {}", format.name(), written.display()),
            },
            Err(ExportError::Exists { .. }) => Done::ExportExists { path, format },
            Err(e) => Done::Outcome {
                ok: false,
                text: format!("export failed: {e}"),
            },
        };
        let _ = tx.send(done).await;
    });
}

async fn export_to(
    client: &Client,
    path: &std::path::Path,
    format: ExportFormat,
    replace: bool,
) -> Result<PathBuf, ExportError> {
    let strategy = client.strategy().await.map_err(|e| ExportError::Encode {
        format,
        message: format!("cannot read the strategy: {e}"),
    })?;
    let doc = export::build(&strategy, client.base().as_str(), Utc::now());
    let text = export::encode(&doc, format)?;
    export::write(path, &text, replace)
}

/// The ML training Ctrl+R starts: gradient-boosted trees on every feature, the service's
/// defaults for the held-out share and the folds.
fn ml_defaults() -> crate::model::MLTrainingConfig {
    crate::model::MLTrainingConfig {
        model_type: "gradient_boost".into(),
        features: Vec::new(),
        training_period: None,
        validation_set: 0.0,
        cross_validation: 0,
        hyperparameters: None,
        run_async: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_cause_first() {
        let e = ClientError::Api {
            path: "/api/v1/retry/jobs/pay-1201/override".into(),
            status: 409,
            error: "conflict".into(),
            details: Some("job pay-1201 already succeeded".into()),
        };
        let text = failure_text("override", &e);
        assert_eq!(
            text,
            "override refused: job pay-1201 already succeeded \
             (409 conflict, /api/v1/retry/jobs/pay-1201/override)"
        );
        let unreachable = ClientError::Unreachable {
            url: "http://127.0.0.1:9/".into(),
            message: "connection refused".into(),
        };
        assert!(
            failure_text("kill", &unreachable)
                .starts_with("kill not sent: service unreachable: connection refused")
        );
    }
}
