//! One module per function. HTTP handlers take a `lambda_http::Request` and answer a response;
//! the others take their typed event.

pub mod click_aggregator;
pub mod create_link;
pub mod delete_link;
pub mod get_link;
pub mod list_links;
pub mod moderate_check;
pub mod pre_traffic;
pub mod resolve_link;
pub mod update_link;
pub mod ws_connect;
pub mod ws_disconnect;

use crate::problem::{Kind, Problem};
use crate::store::Link;
use domain::{EpochMillis, ShortCode};
use serde::Serialize;

/// A link as our API shows it to its owner.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    pub code: String,
    pub short_url: String,
    pub target: String,
    /// The effective status at the request's time (`expired` once `expiresAt` has passed).
    pub status: &'static str,
    pub redirect: u16,
    pub clicks: u64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation_reason: Option<String>,
}

impl LinkView {
    pub fn new(link: &Link, short_base: &str, now: EpochMillis) -> Self {
        Self {
            code: link.code.to_string(),
            short_url: short_url(short_base, &link.code),
            target: link.target.to_string(),
            status: link.status_at(now).as_str(),
            redirect: link.redirect,
            clicks: link.clicks,
            created_at: link.created_at.to_rfc3339(),
            updated_at: link.updated_at.to_rfc3339(),
            expires_at: link.expires_at.map(EpochMillis::to_rfc3339),
            moderation_reason: link.moderation_reason.clone(),
        }
    }
}

pub fn short_url(base: &str, code: &ShortCode) -> String {
    format!("{}/{code}", base.trim_end_matches('/'))
}

/// The redirect statuses a link may use.
pub const REDIRECTS: [u16; 4] = [301, 302, 307, 308];

pub fn check_redirect(r: u16) -> Result<u16, Problem> {
    if REDIRECTS.contains(&r) {
        Ok(r)
    } else {
        Err(Problem::detail(
            Kind::InvalidRedirect,
            format!("redirect must be one of 301, 302, 307, 308, not {r}"),
        ))
    }
}

/// An `expiresAt` from a request body: RFC 3339, strictly after the request's time.
pub fn check_expiry(raw: &str, now: EpochMillis) -> Result<EpochMillis, Problem> {
    let at = EpochMillis::parse_rfc3339(raw).ok_or_else(|| {
        Problem::detail(
            Kind::InvalidExpiry,
            format!("expiresAt {raw:?} is not an RFC 3339 date-time such as 2030-01-01T00:00:00Z"),
        )
    })?;
    if at <= now {
        return Err(Problem::detail(
            Kind::InvalidExpiry,
            "expiresAt must be in the future",
        ));
    }
    Ok(at)
}

/// The `{code}` path parameter of an owner route. A malformed code cannot name any link, so it
/// is a 404 like a missing one.
pub fn path_code(req: &lambda_http::Request) -> Result<ShortCode, Problem> {
    let raw = crate::http::path_param(req, "code").unwrap_or_default();
    ShortCode::parse(&raw).map_err(|_| Problem::detail(Kind::NotFound, format!("no link {raw:?}")))
}
