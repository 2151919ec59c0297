//! DELETE /links/{code}: the owner deletes a link, its daily stats and its watchers.

use super::path_code;
use crate::http::{self, Failure};
use crate::metrics::{Metric, Metrics};
use crate::problem::{Kind, Problem};
use crate::publish::{Event, Publisher};
use crate::store::Store;
use domain::{LinkEvent, LinkEventKind};
use lambda_http::{Body, Request, Response};

pub struct DeleteLink {
    pub store: Store,
    pub publisher: Publisher,
    pub metrics: Metrics,
}

impl DeleteLink {
    pub async fn from_env() -> Result<Self, crate::Error> {
        let sdk = crate::config::sdk().await;
        Ok(Self {
            store: Store::from_env(&sdk)?,
            publisher: Publisher::from_env(&sdk)?,
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
        // The ownership check is the delete's own condition, so it cannot race.
        let Some(link) = self.store.delete_link(&code, &owner).await? else {
            return Err(
                Problem::detail(Kind::NotFound, format!("no link {:?}", code.as_str())).into(),
            );
        };
        let event = LinkEvent {
            version: domain::events::DETAIL_VERSION,
            code: code.clone(),
            owner,
            target: link.target.to_string(),
            status: link.status,
            at: now,
            needs_moderation: false,
        };
        let published = self
            .publisher
            .publish(&[Event {
                detail_type: LinkEventKind::Deleted.detail_type(),
                detail: serde_json::to_value(&event).unwrap_or_default(),
                time: now,
                resources: vec![],
            }])
            .await;
        if let Err(e) = published {
            // The deletion stands; the event is a notification, not part of it.
            self.metrics.count(Metric::PublishFailed, 1, now);
            tracing::error!(error = %e, code = %code, "link.deleted not published");
        }
        Ok(http::json(200, &serde_json::json!({ "deleted": code })))
    }
}
