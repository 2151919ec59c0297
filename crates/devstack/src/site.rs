//! A static site on the edge under `/dashboard/` (`devstack up --site DIR`; the repository's
//! `dashboard/` by default), with `/dashboard/config.json` generated from the running stack:
//! the page learns its API, WebSocket and Cognito endpoints from it, as it would from a
//! deployed stack's outputs.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the site is served on the edge.
pub const PREFIX: &str = "/dashboard/";

pub struct Site {
    /// The directory served (canonical).
    pub dir: PathBuf,
    /// What `config.json` answers.
    pub config: Value,
}

/// The page's configuration for `stack` as devstack serves it: `apiUrl` (the HTTP API),
/// `websocketUrl` (the first WebSocket API's stage URL), and the edge as Cognito's endpoint
/// with the template's first user pool and that pool's first app client.
pub fn config_json(
    stack: &template::model::Stack,
    edge_url: &str,
    http_url: Option<&str>,
    ws_url: &str,
) -> Value {
    let websocket = stack.websocket_apis.first().map(|api| {
        if api.stage == "$default" {
            ws_url.to_owned()
        } else {
            format!("{ws_url}/{}", api.stage)
        }
    });
    let pool = stack.user_pools.first();
    let client = pool.and_then(|p| {
        stack
            .user_pool_clients
            .iter()
            .find(|c| c.user_pool_id == p.id)
    });
    json!({
        "apiUrl": http_url,
        "websocketUrl": websocket,
        "cognito": {
            "endpoint": edge_url,
            "region": stack.region,
            "userPoolId": pool.map(|p| p.id.clone()),
            "clientId": client.map(|c| c.id.clone()),
        },
        "devstack": true,
    })
}

pub fn router(site: Arc<Site>) -> Router {
    Router::new()
        .route("/dashboard", get(|| async { Redirect::permanent(PREFIX) }))
        .route("/dashboard/", get(index))
        .route("/dashboard/{*path}", get(file))
        .with_state(site)
}

async fn index(State(site): State<Arc<Site>>) -> Response {
    serve(&site, "").await
}

async fn file(State(site): State<Arc<Site>>, Path(path): Path<String>) -> Response {
    if path == "config.json" {
        let mut r = axum::Json(site.config.clone()).into_response();
        r.headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-store"));
        return r;
    }
    serve(&site, &path).await
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [("content-type", "text/plain; charset=utf-8")],
        "not found\n",
    )
        .into_response()
}

/// The file at `path` (already percent-decoded) under the site, `index.html` for a directory;
/// 404 for anything that is not a plain path below the site's directory.
async fn serve(site: &Site, path: &str) -> Response {
    let mut file = site.dir.clone();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if segment == ".."
            || segment == "."
            || segment.contains(['\\', '\0', ':'])
            || segment.starts_with('.')
        {
            return not_found();
        }
        file.push(segment);
    }
    // Symbolic links must not lead out either.
    let Ok(mut file) = tokio::fs::canonicalize(&file).await else {
        return not_found();
    };
    if !file.starts_with(&site.dir) {
        return not_found();
    }
    if file.is_dir() {
        file.push("index.html");
    }
    let Ok(bytes) = tokio::fs::read(&file).await else {
        return not_found();
    };
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut r = (StatusCode::OK, Body::from(bytes)).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type(&ext)));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn content_type(ext: &str) -> &'static str {
    match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}
