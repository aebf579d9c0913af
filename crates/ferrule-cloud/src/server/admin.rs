//! The admin HTTP API (axum), for operators and their tools. It has no authentication of its
//! own, so it only ever listens on a loopback address.
//!
//! | request | answer |
//! |---|---|
//! | `GET /devices` | 200, a JSON array: `name`, `kid` (hex), `suite`, `method`, `status`, `created_at`, `last_seen`, `revoked_at`, `session` (`null` or `{"peer", "last_seen"}`) |
//! | `POST /devices/{name}/revoke` | 200 `{"device", "revoked": true, "was_active", "session_dropped"}`; 404 if unknown. The device's session is dropped before the answer. |
//! | `POST /devices/{name}/commands` | 201 `{"device", "id"}`; the body is the command payload; its Content-Format is the `content_format` query parameter, else a `Content-Format` header, else taken from `Content-Type` (`application/cbor` 60, `application/json` 50, `text/plain` 0), else none. 404 unknown device, 409 revoked, 413 over [`MAX_COMMAND_LEN`] bytes. |
//! | `GET /metrics` | 200, Prometheus text ([`Metrics::render`]) |
//!
//! Errors are JSON `{"error": "..."}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::registry::{hex, Registry, RegistryError};
use crate::timestamp;

use super::control::{Control, SessionSummary};
use super::metrics::Metrics;
use super::payload::{CONTENT_FORMAT_CBOR, CONTENT_FORMAT_JSON, CONTENT_FORMAT_TEXT};

/// Largest command payload accepted: it must fit, protected, in one CoAP response.
pub const MAX_COMMAND_LEN: usize = 1024;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) registry: Arc<Mutex<Registry>>,
    pub(crate) control: mpsc::UnboundedSender<Control>,
    pub(crate) metrics: Arc<Metrics>,
}

/// The API's routes.
pub(crate) fn router(state: AdminState) -> Router {
    Router::new()
        .route("/devices", get(list_devices))
        .route("/devices/{name}/revoke", post(revoke))
        .route("/devices/{name}/commands", post(queue_command))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_COMMAND_LEN + 1))
        .with_state(state)
}

/// An error answer: `{"error": message}` with a status.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

/// The status for a registry error.
fn registry_error(e: &RegistryError) -> ApiError {
    let status = match e {
        RegistryError::UnknownDevice { .. } => StatusCode::NOT_FOUND,
        RegistryError::Revoked { .. } => StatusCode::CONFLICT,
        RegistryError::InvalidName { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

/// Runs `f` with the registry on a blocking thread (SQLite calls block).
async fn with_registry<T: Send + 'static>(
    state: &AdminState,
    f: impl FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, ApiError> {
    let registry = state.registry.clone();
    let result = tokio::task::spawn_blocking(move || {
        let guard = registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard)
    })
    .await;
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(registry_error(&e)),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// Asks the endpoint something; `None` if it does not answer within a second (stopped).
async fn ask<T>(state: &AdminState, make: impl FnOnce(oneshot::Sender<T>) -> Control) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    state.control.send(make(tx)).ok()?;
    tokio::time::timeout(core::time::Duration::from_secs(1), rx)
        .await
        .ok()?
        .ok()
}

fn time(t: Option<SystemTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(timestamp::format_millis(t)))
}

async fn list_devices(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let devices = with_registry(&state, |r| r.list_devices()).await?;
    let sessions: HashMap<String, SessionSummary> = ask(&state, Control::Sessions)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.device.clone(), s))
        .collect();
    let list: Vec<Value> = devices
        .iter()
        .map(|d| {
            let session = sessions.get(&d.name).map_or(
                Value::Null,
                |s| json!({ "peer": s.peer.to_string(), "last_seen": time(Some(s.last_seen)) }),
            );
            json!({
                "name": d.name,
                "kid": hex(&d.kid),
                "suite": d.suite.id(),
                "method": d.method.id(),
                "status": d.status.as_str(),
                "created_at": time(Some(d.created_at)),
                "last_seen": time(d.last_seen),
                "revoked_at": time(d.revoked_at),
                "session": session,
            })
        })
        .collect();
    Ok(Json(Value::Array(list)).into_response())
}

async fn revoke(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let device = name.clone();
    let was_active = with_registry(&state, move |r| r.revoke(&device)).await?;
    // Drop the session at once (the endpoint would also notice the registry change before
    // the device's next request).
    let dropped = ask(&state, |tx| Control::DropDevice(name.clone(), tx)).await;
    tracing::info!(device = name, "device revoked through the admin API");
    Ok(Json(json!({
        "device": name,
        "revoked": true,
        "was_active": was_active,
        "session_dropped": dropped.unwrap_or(false),
    }))
    .into_response())
}

/// How the command's Content-Format is given.
#[derive(Debug, serde::Deserialize)]
struct CommandQuery {
    content_format: Option<u16>,
}

fn content_format(query: &CommandQuery, headers: &HeaderMap) -> Result<Option<u16>, ApiError> {
    if let Some(cf) = query.content_format {
        return Ok(Some(cf));
    }
    if let Some(value) = headers.get("content-format") {
        return value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "Content-Format header must be a number from 0 to 65535",
                )
            });
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    Ok(match media.as_deref() {
        Some("application/cbor") => Some(CONTENT_FORMAT_CBOR),
        Some("application/json") => Some(CONTENT_FORMAT_JSON),
        Some("text/plain") => Some(CONTENT_FORMAT_TEXT),
        _ => None,
    })
}

async fn queue_command(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(query): Query<CommandQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if body.len() > MAX_COMMAND_LEN {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a command is at most {MAX_COMMAND_LEN} bytes"),
        ));
    }
    let cf = content_format(&query, &headers)?;
    let device = name.clone();
    let id = with_registry(&state, move |r| r.queue_command(&device, &body, cf)).await?;
    tracing::info!(device = name, id, "command queued");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "device": name, "id": id })),
    )
        .into_response())
}

async fn metrics(State(state): State<AdminState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
