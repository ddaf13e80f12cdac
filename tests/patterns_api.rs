//! `GET /patterns` over a real socket: failures reported through `/failures`, successes
//! through `/attempts`, and the pattern analysis they make.

use crate::common;

use chrono::{Duration, Utc};
use common::{Api, Served, TOKENS, config_with_tokens};
use retryctl::config::Role;
use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn token(role: Role) -> &'static str {
        TOKENS.iter().find(|(r, _)| *r == role).unwrap().1
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/api/v1/retry{path}", self.base);
        let response = self
            .http
            .post(url)
            .bearer_auth(Self::token(Role::Worker))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path} {body}");
        response.json().await.unwrap()
    }

    async fn patterns(&self, query: &str, role: Option<Role>) -> (u16, Value) {
        let url = format!("{}/api/v1/retry/patterns?{query}", self.base);
        let mut request = self.http.get(url);
        if let Some(role) = role {
            request = request.bearer_auth(Self::token(role));
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

async fn served() -> (Served, Client) {
    let server = Served::start(Api::with_config(config_with_tokens()).await.state).await;
    let client = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    (server, client)
}

fn failure(job: &str, class: &str, tenant: &str, at: chrono::DateTime<Utc>) -> Value {
    json!({"job_id": job, "job_type": "email", "error_class": class, "queue": "mail",
           "tenant": tenant, "timestamp": at.to_rfc3339()})
}

fn success(job: &str, attempt: u32, at: chrono::DateTime<Utc>) -> Value {
    json!({"job_id": job, "job_type": "email", "attempt_number": attempt, "queue": "mail",
           "success": true, "timestamp": at.to_rfc3339()})
}

#[tokio::test]
async fn patterns_count_recoveries_endings_and_the_peak() {
    let (server, client) = served().await;
    let t = Utc::now() - Duration::minutes(5);
    // Recovered after 2 s and after 12 s (tenant acme and tenant zen).
    client
        .post("/failures", failure("fast", "timeout", "acme", t))
        .await;
    client
        .post("/failures", failure("slow", "timeout", "zen", t))
        .await;
    let done = [
        success("fast", 2, t + Duration::seconds(2)),
        success("slow", 2, t + Duration::seconds(12)),
    ];
    client.post("/attempts", json!(done)).await;
    // Three failures of one job: the timeout policy allows three attempts.
    for attempt in 1..=3 {
        let mut report = failure("spent", "timeout", "acme", t);
        report["attempt_number"] = json!(attempt);
        client.post("/failures", report).await;
    }
    // A validation error is not retried: given up at once.
    client
        .post("/failures", failure("bad", "validation", "acme", t))
        .await;

    let (status, p) = client
        .patterns("job_type=email&error_class=timeout", Some(Role::Viewer))
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["failures"], 5, "{p}");
    assert_eq!(
        p["recovered"],
        json!({"within_5s": 1, "within_30s": 1, "later": 0})
    );
    assert_eq!(
        (p["given_up"].as_u64(), p["hit_max_attempts"].as_u64()),
        (Some(0), Some(1))
    );
    let r = &p["recovery"];
    assert_eq!(r["count"], 2);
    assert_eq!(r["mean_ms"], 7000.0);
    assert_eq!(r["sd_ms"], 5000.0);
    assert_eq!(p["peak_failures"]["failures"], 5);
    assert!(
        p["from"].as_str().unwrap() < p["to"].as_str().unwrap(),
        "{p}"
    );

    let (_, acme) = client
        .patterns(
            "job_type=email&error_class=timeout&tenant=acme&window=1h",
            Some(Role::Viewer),
        )
        .await;
    assert_eq!(
        (acme["failures"].as_u64(), acme["tenant"].as_str()),
        (Some(4), Some("acme"))
    );
    assert_eq!(acme["recovered"]["within_5s"], 1);

    let (_, bad) = client
        .patterns("job_type=email&error_class=validation", Some(Role::Viewer))
        .await;
    assert_eq!(
        (bad["given_up"].as_u64(), bad["hit_max_attempts"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(bad.get("recovery").is_none(), "{bad}");
    server.stop().await;
}

#[tokio::test]
async fn bad_patterns_parameters_are_named() {
    let (server, client) = served().await;
    for (query, field) in [
        ("error_class=timeout", "job_type"),
        ("job_type=email", "error_class"),
        ("job_type=email&error_class=", "error_class"),
        ("job_type=email&error_class=t&window=0s", "window"),
        ("job_type=email&error_class=t&window=soon", "window"),
    ] {
        let (status, body) = client.patterns(query, Some(Role::Viewer)).await;
        assert_eq!(status, 400, "{query}: {body}");
        let details = body["details"].as_str().unwrap();
        assert!(details.starts_with(field), "{query}: {details}");
    }
    let (status, _) = client.patterns("job_type=email&error_class=t", None).await;
    assert_eq!(status, 401);
    server.stop().await;
}

#[tokio::test]
async fn summary_has_queue_status_lines_and_today_at_a_glance() {
    let (server, client) = served().await;
    let t = Utc::now();
    for attempt in 1..=2 {
        let mut report = failure("q1", "timeout", "acme", t);
        report["attempt_number"] = json!(attempt);
        client.post("/failures", report).await;
    }
    let url = format!("{}/api/v1/retry/summary", client.base);
    let summary: Value = client
        .http
        .get(url)
        .bearer_auth(Client::token(Role::Viewer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lines = &summary["queue_status"];
    assert_eq!(lines["window_seconds"], 300, "{lines}");
    let mail = &lines["queues"][0];
    assert_eq!(mail["queue"], "mail");
    assert_eq!(mail["strategy"], "rules", "{mail}");
    assert_eq!(
        (mail["recommendations"].as_u64(), mail["mark"].as_str()),
        (Some(2), Some("normal"))
    );
    let today = &summary["today"];
    assert_eq!(today["retries"], 1, "{today}");
    assert_eq!(today["delays"], 2, "{today}");
    assert!(today["mean_delay_ms"].as_f64().unwrap() > 0.0, "{today}");
    assert!(today["sd_delay_ms"].as_f64().is_some(), "{today}");
    assert_eq!(today["comparison_jobs"], 1, "{today}");
    assert!(today["retries_vs_static"].is_number(), "{today}");
    assert!(today["from"].is_string(), "{today}");
    server.stop().await;
}

#[tokio::test]
async fn smart_vs_static_has_estimates_and_measured_endings_per_cohort() {
    let (server, client) = served().await;
    let t = Utc::now();
    for (job, class) in [
        ("ok", "timeout"),
        ("stop", "validation"),
        ("open", "timeout"),
    ] {
        client
            .post("/failures", failure(job, class, "acme", t))
            .await;
    }
    let done = [success("ok", 2, t + Duration::seconds(3))];
    client.post("/attempts", json!(done)).await;
    let get = |query: &'static str, role: Role| {
        let url = format!("{}/api/v1/retry/smart-vs-static?{query}", client.base);
        let request = client.http.get(url).bearer_auth(Client::token(role));
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, body) = get("window=1h", Role::Viewer).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["step_seconds"], 600);
    let steps = body["steps"].as_array().unwrap();
    // The service started moments ago: its own step (and at most the one before).
    assert!((1..=2).contains(&steps.len()), "{body}");
    let total = &body["total"];
    assert_eq!(total["jobs"], 3, "{total}");
    assert_eq!(
        (total["ended"].as_u64(), total["recovered"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(total["smart_measured"], 0.5, "{total}");
    for key in [
        "smart_estimated",
        "static_estimated",
        "smart_retries",
        "static_retries",
    ] {
        let x = total[key].as_f64().unwrap_or(-1.0);
        assert!(x >= 0.0, "{key}: {total}");
    }
    let difference = body["difference"].as_f64().unwrap();
    let expected =
        total["smart_estimated"].as_f64().unwrap() - total["static_estimated"].as_f64().unwrap();
    assert!((difference - expected).abs() < 1e-9, "{body}");
    assert_eq!(steps.last().unwrap()["jobs"], 3, "{body}");
    for query in ["window=0s", "window=", "window=soon"] {
        let (status, body) = get(query, Role::Viewer).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["details"].as_str().unwrap().starts_with("window"),
            "{body}"
        );
    }
    assert_eq!(get("", Role::Worker).await.0, 403);
    server.stop().await;
}
