//! POST /links `{url, alias?, expiresAt?, redirect?}`: a new link owned by the caller.

use super::{LinkView, check_expiry, check_redirect};
use crate::http::{self, Failure};
use crate::metrics::{Metric, Metrics};
use crate::problem::{Kind, Problem};
use crate::publish::{Event, Publisher};
use crate::store::{CreateOutcome, IdempotencyRecord, Link, Store};
use domain::idempotency::{self, RETENTION_SECS};
use domain::{LinkEvent, LinkEventKind, LinkStatus, ShortCode, TargetPolicy};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

/// Tries at a free generated code. With 62^7 codes a second try is already rare; five
/// consecutive collisions mean something is wrong (or the table is astronomically full).
const GENERATED_ATTEMPTS: usize = 5;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateBody {
    url: String,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    redirect: Option<u16>,
}

pub struct CreateLink {
    pub store: Store,
    pub publisher: Publisher,
    pub policy: TargetPolicy,
    pub short_base: String,
    pub metrics: Metrics,
}

impl CreateLink {
    pub async fn from_env() -> Result<Self, crate::Error> {
        let sdk = crate::config::sdk().await;
        let (short_base, bases) = crate::config::short_bases()?;
        Ok(Self {
            store: crate::store::Store::from_env(&sdk)?,
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
        let (body, raw): (CreateBody, _) = http::json_body(&req)?;
        let target = self
            .policy
            .check(&body.url)
            .map_err(|e| Problem::detail(Kind::InvalidUrl, e.to_string()))?;
        let alias = body
            .alias
            .as_deref()
            .map(ShortCode::alias)
            .transpose()
            .map_err(|e| Problem::detail(Kind::InvalidAlias, e.to_string()))?;
        let expires_at = body
            .expires_at
            .as_deref()
            .map(|e| check_expiry(e, now))
            .transpose()?;
        let redirect = check_redirect(body.redirect.unwrap_or(301))?;

        let idem_key = match http::header(&req, "idempotency-key") {
            Some(k) => Some(
                idempotency::validate_key(k)
                    .map_err(|e| Problem::detail(Kind::InvalidIdempotencyKey, e.to_string()))?
                    .to_owned(),
            ),
            None => None,
        };
        let fingerprint = idempotency::fingerprint(&raw);
        if let Some(key) = &idem_key
            && let Some(done) = self.store.get_idempotency(&owner, key, now).await?
        {
            return replay(&done, &fingerprint);
        }

        let attempts = if alias.is_some() {
            1
        } else {
            GENERATED_ATTEMPTS
        };
        for _ in 0..attempts {
            let code = match &alias {
                Some(a) => a.clone(),
                None => ShortCode::generate().map_err(|e| Failure::Internal(e.into()))?,
            };
            let link = Link {
                code: code.clone(),
                owner: owner.clone(),
                target: target.clone(),
                status: LinkStatus::Pending,
                redirect,
                clicks: 0,
                created_at: now,
                updated_at: now,
                expires_at,
                version: 1,
                moderation_reason: None,
            };
            let view = LinkView::new(&link, &self.short_base, now);
            let response_body =
                serde_json::to_string(&view).map_err(|e| Failure::Internal(e.into()))?;
            let record = idem_key.as_ref().map(|key| IdempotencyRecord {
                owner: owner.clone(),
                key: key.clone(),
                fingerprint: fingerprint.clone(),
                code: code.clone(),
                response: response_body.clone(),
                expires_at: now.plus_secs(RETENTION_SECS),
            });
            match self.store.create_link(&link, record.as_ref()).await? {
                CreateOutcome::Created => {}
                CreateOutcome::CodeTaken if alias.is_some() => {
                    return Err(Problem::detail(
                        Kind::AliasTaken,
                        format!("alias {} is taken", code.as_str()),
                    )
                    .into());
                }
                CreateOutcome::CodeTaken => continue,
                CreateOutcome::IdempotencyKeyTaken => {
                    // A concurrent request with the same key committed first: answer as it did.
                    let key = idem_key.as_deref().unwrap_or_default();
                    return match self.store.get_idempotency(&owner, key, now).await? {
                        Some(done) => replay(&done, &fingerprint),
                        None => Err(Problem::new(Kind::Conflict).into()),
                    };
                }
            }
            let event = LinkEvent {
                version: domain::events::DETAIL_VERSION,
                code: code.clone(),
                owner: owner.clone(),
                target: target.to_string(),
                status: link.status,
                at: now,
                needs_moderation: true,
            };
            if let Err(e) = self.publish(&event).await {
                // Without link.created, moderation never runs and the link would redirect,
                // unchecked, for good. Undo it; the client's retry (same idempotency key) is safe.
                tracing::error!(error = %e, code = %code, "link.created not published; removing the link");
                self.metrics.count(Metric::PublishFailed, 1, now);
                self.store.remove_created(&link, record.as_ref()).await?;
                return Err(Problem::detail(Kind::PublishFailed, e.to_string()).into());
            }
            self.metrics.count(Metric::LinkCreated, 1, now);
            tracing::info!(code = %code, "link created");
            return Ok(created(&code, response_body, false));
        }
        Err(Problem::detail(
            Kind::CodeSpaceExhausted,
            format!("{GENERATED_ATTEMPTS} generated codes in a row were taken"),
        )
        .into())
    }

    async fn publish(&self, event: &LinkEvent) -> Result<(), crate::publish::PublishError> {
        self.publisher
            .publish(&[Event {
                detail_type: LinkEventKind::Created.detail_type(),
                detail: serde_json::to_value(event).unwrap_or_default(),
                time: event.at,
                resources: vec![],
            }])
            .await
    }
}

fn replay(done: &IdempotencyRecord, fingerprint: &str) -> Result<Response<Body>, Failure> {
    if done.fingerprint != fingerprint {
        return Err(Problem::detail(
            Kind::IdempotencyKeyReused,
            "this Idempotency-Key was first used with a different request body",
        )
        .into());
    }
    Ok(created(&done.code, done.response.clone(), true))
}

fn created(code: &ShortCode, body: String, replayed: bool) -> Response<Body> {
    let mut b = Response::builder()
        .status(201)
        .header("content-type", "application/json")
        .header("location", format!("/links/{code}"));
    if replayed {
        b = b.header("idempotent-replayed", "true");
    }
    b.body(Body::Text(body)).expect("static headers are valid")
}
