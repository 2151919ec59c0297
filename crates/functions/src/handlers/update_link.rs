//! PATCH /links/{code} `{url?, expiresAt?, redirect?, disabled?}`: the owner changes a link.

use super::{LinkView, check_expiry, check_redirect, path_code};
use crate::http::{self, Failure};
use crate::metrics::{Metric, Metrics};
use crate::problem::{Kind, Problem};
use crate::publish::{Event, Publisher};
use crate::store::{Link, Store};
use domain::{LinkEvent, LinkEventKind, LinkStatus, TargetPolicy, Transition};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Deserializer};

/// Optimistic-concurrency attempts before answering 409.
const ATTEMPTS: usize = 3;

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Patch {
    #[serde(default)]
    url: Option<String>,
    /// `null` removes the expiry.
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<String>>,
    #[serde(default)]
    redirect: Option<u16>,
    #[serde(default)]
    disabled: Option<bool>,
}

pub struct UpdateLink {
    pub store: Store,
    pub publisher: Publisher,
    pub policy: TargetPolicy,
    pub short_base: String,
    pub metrics: Metrics,
}

impl UpdateLink {
    pub async fn from_env() -> Result<Self, crate::Error> {
        let sdk = crate::config::sdk().await;
        let (short_base, bases) = crate::config::short_bases()?;
        Ok(Self {
            store: Store::from_env(&sdk)?,
            publisher: Publisher::from_env(&sdk)?,
            policy: TargetPolicy::new(bases.iter().map(String::as_str)),
            short_base,
            metrics: Metrics::from_env()?,
        })
    }

    pub async fn handle(&self, req: Request) -> Result<Response<Body>, crate::Error> {
        http::finish(self.run(req).await)
    }

    async fn run(&self, req: Request) -> Result<Response<Body>, Failure> {
        let owner = http::owner(&req)?;
        let now = http::now(&req)?;
        let code = path_code(&req)?;
        let (patch, _): (Patch, _) = http::json_body(&req)?;
        if patch.url.is_none()
            && patch.expires_at.is_none()
            && patch.redirect.is_none()
            && patch.disabled.is_none()
        {
            return Err(Problem::detail(
                Kind::BadRequest,
                "nothing to change: give url, expiresAt, redirect or disabled",
            )
            .into());
        }
        let target = patch
            .url
            .as_deref()
            .map(|u| self.policy.check(u))
            .transpose()
            .map_err(|e| Problem::detail(Kind::InvalidUrl, e.to_string()))?;
        let expires_at = match &patch.expires_at {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) => Some(Some(check_expiry(raw, now)?)),
        };
        let redirect = patch.redirect.map(check_redirect).transpose()?;

        for _ in 0..ATTEMPTS {
            let old = match self.store.get_link(&code, true).await? {
                Some(l) if l.owner == owner => l,
                _ => {
                    return Err(Problem::detail(
                        Kind::NotFound,
                        format!("no link {:?}", code.as_str()),
                    )
                    .into());
                }
            };
            let mut new = old.clone();
            let transition = |s: LinkStatus, t| {
                s.apply(t).map_err(|e| {
                    Failure::from(Problem::detail(Kind::InvalidTransition, e.to_string()))
                })
            };
            if let Some(t) = &target
                && *t != old.target
            {
                new.target = t.clone();
                new.status = transition(new.status, Transition::TargetChanged)?;
                new.moderation_reason = None;
            }
            match patch.disabled {
                Some(true) => new.status = transition(new.status, Transition::Disable)?,
                Some(false) => new.status = transition(new.status, Transition::Enable)?,
                None => {}
            }
            if let Some(e) = expires_at {
                new.expires_at = e;
            }
            if let Some(r) = redirect {
                new.redirect = r;
            }
            if new == old {
                return Ok(http::json(200, &LinkView::new(&old, &self.short_base, now)));
            }
            // Moderate whenever the link becomes pending: a new target, or enabling again.
            let needs_moderation = new.status == LinkStatus::Pending
                && (old.status != LinkStatus::Pending || new.target != old.target);
            new.updated_at = now;
            new.version = old.version + 1;
            if !self.store.update_link(&new, old.version).await? {
                continue; // changed (or deleted) since we read it: read again
            }
            if let Err(e) = self.publish(&new, needs_moderation).await {
                self.metrics.count(Metric::PublishFailed, 1, now);
                tracing::error!(error = %e, code = %code, needs_moderation, "link.updated not published");
                if needs_moderation {
                    // Unmoderated, the new target would redirect unchecked: put the old link back.
                    let mut restored = old.clone();
                    restored.version = new.version + 1;
                    restored.updated_at = now;
                    self.store.update_link(&restored, new.version).await?;
                    return Err(Problem::detail(Kind::PublishFailed, e.to_string()).into());
                }
            }
            return Ok(http::json(200, &LinkView::new(&new, &self.short_base, now)));
        }
        Err(Problem::detail(Kind::Conflict, "the link kept changing; retry").into())
    }

    async fn publish(
        &self,
        link: &Link,
        needs_moderation: bool,
    ) -> Result<(), crate::publish::PublishError> {
        let event = LinkEvent {
            version: domain::events::DETAIL_VERSION,
            code: link.code.clone(),
            owner: link.owner.clone(),
            target: link.target.to_string(),
            status: link.status,
            at: link.updated_at,
            needs_moderation,
        };
        self.publisher
            .publish(&[Event {
                detail_type: LinkEventKind::Updated.detail_type(),
                detail: serde_json::to_value(&event).unwrap_or_default(),
                time: link.updated_at,
                resources: vec![],
            }])
            .await
    }
}
