//! GET /links?limit=&cursor=: the caller's links, newest first, a page at a time.

use super::LinkView;
use crate::http::{self, Failure};
use crate::problem::{Kind, Problem};
use crate::store::{PageKey, Store};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::keys;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

pub const DEFAULT_LIMIT: i32 = 20;
pub const MAX_LIMIT: i32 = 100;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    links: Vec<LinkView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

pub struct ListLinks {
    pub store: Store,
    pub short_base: String,
}

impl ListLinks {
    pub async fn from_env() -> Result<Self, crate::Error> {
        let sdk = crate::config::sdk().await;
        Ok(Self {
            store: Store::from_env(&sdk)?,
            short_base: crate::config::short_bases()?.0,
        })
    }

    pub async fn handle(&self, req: Request) -> Result<Response<Body>, crate::Error> {
        http::finish(self.run(req).await)
    }

    async fn run(&self, req: Request) -> Result<Response<Body>, Failure> {
        let owner = http::owner(&req)?;
        let now = http::now(&req)?;
        let limit = match http::query_param(&req, "limit") {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .parse::<i32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| {
                    Problem::detail(
                        Kind::BadRequest,
                        format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                    )
                })?,
        };
        let start = http::query_param(&req, "cursor")
            .map(|c| decode_cursor(&c, &owner))
            .transpose()?;
        let (links, next) = self
            .store
            .links_by_owner(&owner, limit, start.as_ref())
            .await?;
        let page = Page {
            links: links
                .iter()
                .map(|l| LinkView::new(l, &self.short_base, now))
                .collect(),
            next_cursor: next.as_ref().map(encode_cursor),
        };
        Ok(http::json(200, &page))
    }
}

/// Opaque to clients: the page key, base64url-encoded JSON. It is bound to its tenant by the
/// owner partition inside it, which must be the caller's: a cursor from another tenant (or one
/// edited to point elsewhere) is refused, never followed.
fn encode_cursor(k: &PageKey) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(k).unwrap_or_default())
}

fn decode_cursor(raw: &str, owner: &str) -> Result<PageKey, Problem> {
    let invalid = || {
        Problem::detail(
            Kind::InvalidCursor,
            "the cursor was not issued to you, or is damaged",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let key: PageKey = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if key.gsi1pk != keys::owner_partition(owner)
        || !key.pk.starts_with("LINK#")
        || key.sk != "META"
    {
        return Err(invalid());
    }
    Ok(key)
}
