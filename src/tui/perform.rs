//! Performs the effects the UI asks for: API calls and exports, each in its own task, each
//! reporting one line back for the footer.

use super::app::{Call, ExportFormat};
use super::export;
use crate::client::Client;
use crate::model::{ActionRequest, BayesianUpdateRequest, RetryPreview};
use chrono::Utc;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// The result of an effect, for the UI.
#[derive(Debug)]
pub enum Done {
    Outcome { ok: bool, text: String },
    Preview(Result<Box<RetryPreview>, String>),
}

/// Reason recorded in the audit log for actions that do not ask for one.
const CONSOLE_REASON: &str = "from the retryctl console";

/// Starts `call` in a task; its result arrives on `tx`.
pub fn spawn_call(client: Client, call: Call, tx: mpsc::Sender<Done>) {
    tokio::spawn(async move {
        let label = call.label();
        let done = match call {
            Call::Preview(req) => Done::Preview(
                client
                    .preview(&req)
                    .await
                    .map(Box::new)
                    .map_err(|e| e.to_string()),
            ),
            other => match send(&client, other).await {
                Ok(text) => Done::Outcome { ok: true, text },
                Err(e) => Done::Outcome {
                    ok: false,
                    text: format!("{label}: {e}"),
                },
            },
        };
        tracing::info!(action = %label, "action finished: {done:?}");
        let _ = tx.send(done).await;
    });
}

async fn send(client: &Client, call: Call) -> Result<String, crate::client::ClientError> {
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
        Call::Kill { job_id } => {
            client.kill(&job_id, &reason).await?;
            format!("killed {job_id}")
        }
        Call::Ack { alert_id } => {
            client.ack_alert(&alert_id).await?;
            format!("acknowledged alert {alert_id}")
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
            format!("retrained {job_type}/{error_class}")
        }
        Call::Preview(_) => "preview".to_string(),
    })
}

/// Fetches the strategy and writes it to `path`; reports the absolute path written.
pub fn spawn_export(client: Client, path: PathBuf, format: ExportFormat, tx: mpsc::Sender<Done>) {
    tokio::spawn(async move {
        let done = match export_to(&client, &path, format).await {
            Ok(written) => Done::Outcome {
                ok: true,
                text: format!("exported {} to {}", format.name(), written.display()),
            },
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
) -> Result<PathBuf, String> {
    let strategy = client.strategy().await.map_err(|e| e.to_string())?;
    let doc = export::build(&strategy, client.base().as_str(), Utc::now());
    let text = export::encode(&doc, format).map_err(|e| e.to_string())?;
    export::write(path, &text).map_err(|e| e.to_string())
}
