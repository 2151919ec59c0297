//! A static site on the edge under `/dashboard/`, in place of the S3 bucket and CloudFront
//! distribution that serve it on AWS: the folder of the template's bucket with `Metadata.Site`
//! (or `devstack up --site DIR`), less its `Exclude`d paths, and `config.json`, which is the
//! site's `Config` output resolved to devstack's endpoints, the same output that
//! `just publish-dashboard` uploads next to the page on AWS.

use crate::DevstackError;
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
    /// Paths below `dir` that are not part of the site, as segments (`tests/` → `["tests"]`).
    exclude: Vec<Vec<String>>,
    /// What `config.json` answers, when the template names a config output.
    pub config: Option<Value>,
}

impl Site {
    /// The site in `dir`, with the exclusions and the config of the template's declaration.
    pub fn new(
        dir: &std::path::Path,
        declared: Option<&template::model::Site>,
        edge_url: &str,
    ) -> Result<Self, DevstackError> {
        let canonical = std::fs::canonicalize(dir)
            .and_then(|d| match d.is_dir() {
                true => Ok(d),
                false => Err(std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "not a directory",
                )),
            })
            .map_err(|source| DevstackError::Site {
                path: dir.display().to_string(),
                source,
            })?;
        let exclude = declared
            .map(|d| {
                d.exclude
                    .iter()
                    .map(|e| segments(e).map(str::to_owned).collect())
                    .collect()
            })
            .unwrap_or_default();
        let config =
            match declared.and_then(|d| Some((d.config_output.clone()?, d.config.clone()?))) {
                Some((output, text)) => Some(config_json(&output, &text, edge_url)?),
                None => None,
            };
        Ok(Self {
            dir: canonical,
            exclude,
            config,
        })
    }

    fn excluded(&self, path: &[&str]) -> bool {
        self.exclude.iter().any(|e| {
            !e.is_empty() && path.len() >= e.len() && path.iter().zip(e).all(|(a, b)| a == b)
        })
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// The config output's JSON object, plus what devstack adds about itself: where the codes
/// that Cognito would have emailed can be read (the page shows it on sign-up).
fn config_json(output: &str, text: &str, edge_url: &str) -> Result<Value, DevstackError> {
    let problem = |problem: String| DevstackError::SiteConfig {
        output: output.to_owned(),
        problem,
    };
    let mut value: Value = serde_json::from_str(text).map_err(|e| problem(e.to_string()))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| problem(format!("it is {text}")))?;
    object.insert(
        "devstack".into(),
        json!({ "cognitoMessages": format!("{edge_url}/_devstack/cognito/messages") }),
    );
    Ok(value)
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
    if path == "config.json"
        && let Some(config) = &site.config
    {
        let mut r = axum::Json(config.clone()).into_response();
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
    if site.excluded(&segments(path).collect::<Vec<_>>()) {
        return not_found();
    }
    for segment in segments(path) {
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
