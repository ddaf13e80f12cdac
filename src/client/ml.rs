//! The ML tier's endpoints of the client: train (as a job), follow a job, list versions,
//! deploy and roll back.

use super::{Client, ClientResult};
use crate::model::{MLTrainingConfig, MlDeployRequest, MlDeployed, MlJob, MlModels};
use reqwest::Method;

impl Client {
    /// `POST /ml/train` with `async`: the training job, answered at once.
    pub async fn ml_train(&self, config: &MLTrainingConfig) -> ClientResult<MlJob> {
        let config = MLTrainingConfig {
            run_async: true,
            ..config.clone()
        };
        self.send(Method::POST, &["ml", "train"], &config).await
    }

    /// `GET /ml/jobs/{id}`.
    pub async fn ml_job(&self, id: &str) -> ClientResult<MlJob> {
        self.get(&["ml", "jobs", id], &[]).await
    }

    /// `GET /ml/models`: every stored version, newest first.
    pub async fn ml_models(&self) -> ClientResult<MlModels> {
        self.get(&["ml", "models"], &[]).await
    }

    /// `POST /ml/deploy` (our body).
    pub async fn ml_deploy(&self, req: &MlDeployRequest) -> ClientResult<MlDeployed> {
        self.send(Method::POST, &["ml", "deploy"], req).await
    }

    /// `POST /ml/rollback`.
    pub async fn ml_rollback(&self) -> ClientResult<MlDeployed> {
        self.send(Method::POST, &["ml", "rollback"], &serde_json::json!({}))
            .await
    }
}
