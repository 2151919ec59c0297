//! GET /{code}: the public redirect, and the click event it publishes.

use crate::http::{self, Failure};
use crate::metrics::{Metric, Metrics};
use crate::problem::{Kind, Problem};
use crate::publish::{Event, Publisher};
use crate::store::Store;
use domain::{ClickEvent, ShortCode};
use lambda_http::{Body, Request, Response};

pub struct ResolveLink {
    pub store: Store,
    pub publisher: Publisher,
    pub metrics: Metrics,
}

impl ResolveLink {
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
        let now = http::now(&req)?;
        let raw = http::path_param(&req, "code").unwrap_or_default();
        let not_found = || {
            Problem::detail(Kind::NotFound, format!("no link {raw:?}"))
                .with_instance(format!("/{raw}"))
        };
        let Ok(code) = ShortCode::parse(&raw) else {
            self.metrics.count(Metric::LinkNotFound, 1, now);
            return Err(not_found().into());
        };
        // An eventually consistent read: half the cost, and a link a second old is fine to miss.
        let Some(link) = self.store.get_link(&code, false).await? else {
            self.metrics.count(Metric::LinkNotFound, 1, now);
            return Err(not_found().into());
        };
        let status = link.status_at(now);
        if !status.serves() {
            return Err(
                Problem::detail(Kind::Gone, format!("link {code} is {status}"))
                    .with_instance(format!("/{code}"))
                    .into(),
            );
        }

        let click = ClickEvent {
            version: domain::events::DETAIL_VERSION,
            click_id: ClickEvent::click_id_for(&http::request_id(&req)?),
            code: code.clone(),
            link_created_at: link.created_at,
            at: now,
            referer: http::header(&req, "referer").map(str::to_owned),
            user_agent: http::header(&req, "user-agent").map(str::to_owned),
        };
        let event = Event {
            detail_type: domain::events::CLICKED,
            detail: serde_json::to_value(&click).map_err(|e| Failure::Internal(e.into()))?,
            time: now,
            resources: vec![],
        };
        // Awaited, not spawned: Lambda freezes the process once we answer, so a background
        // publish could be lost. A failure only costs a count, never the redirect.
        if let Err(e) = self.publisher.publish(&[event]).await {
            tracing::error!(error = %e, code = %code, click_id = %click.click_id, "click not published");
            self.metrics.count(Metric::PublishFailed, 1, now);
        }
        self.metrics.count(Metric::LinkResolved, 1, now);
        Ok(Response::builder()
            .status(link.redirect)
            .header("location", link.target.as_str())
            // Browsers cache a 301 with no freshness information indefinitely and then
            // redirect without asking us: every later click by that browser would be invisible
            // to the counter, and a retargeted or disabled link would keep redirecting to the
            // old target. no-store sends each click through us.
            .header("cache-control", "private, no-store")
            .body(Body::Empty)
            .expect("static headers are valid"))
    }
}
