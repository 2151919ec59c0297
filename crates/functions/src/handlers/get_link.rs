//! GET /links/{code}: one of the caller's links with its daily clicks for the last 30 days.

use super::{LinkView, path_code};
use crate::http::{self, Failure};
use crate::problem::{Kind, Problem};
use crate::store::Store;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

pub const STAT_DAYS: i64 = 30;

#[derive(Serialize)]
struct DayCount {
    day: String,
    clicks: u64,
}

#[derive(Serialize)]
struct Detail {
    #[serde(flatten)]
    link: LinkView,
    /// One entry per day, oldest first, ending today (the request's day); zero-filled.
    daily: Vec<DayCount>,
}

pub struct GetLink {
    pub store: Store,
    pub short_base: String,
}

impl GetLink {
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
        let code = path_code(&req)?;
        let link = match self.store.get_link(&code, true).await? {
            // "Not yours" answers exactly like "missing": no existence leak across tenants.
            Some(l) if l.owner == owner => l,
            _ => {
                return Err(Problem::detail(
                    Kind::NotFound,
                    format!("no link {:?}", code.as_str()),
                )
                .into());
            }
        };
        let today = now.day();
        let from = today.minus_days(STAT_DAYS - 1);
        let stats = self.store.daily_stats(&code, from, today).await?;
        let daily = (0..STAT_DAYS)
            .rev()
            .map(|back| {
                let day = today.minus_days(back);
                let clicks = stats.iter().find(|(d, _)| *d == day).map_or(0, |(_, c)| *c);
                DayCount {
                    day: day.to_string(),
                    clicks,
                }
            })
            .collect();
        Ok(http::json(
            200,
            &Detail {
                link: LinkView::new(&link, &self.short_base, now),
                daily,
            },
        ))
    }
}
