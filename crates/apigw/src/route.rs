//! Route matching with API Gateway's priority: a route whose segments are all literal beats
//! one with `{param}` segments, which beats a greedy `{proxy+}`; among equals, an exact method
//! beats `ANY`; `$default` catches what nothing else matched.

use std::cmp::Ordering;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

impl Segment {
    fn rank(&self) -> u8 {
        match self {
            Self::Literal(_) => 0,
            Self::Param(_) => 1,
            Self::Greedy(_) => 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Pattern {
    /// The route key as written (`GET /links/{code}`, `$default`).
    pub route_key: String,
    /// None for `ANY` and `$default`.
    method: Option<String>,
    /// None for `$default`.
    segments: Option<Vec<Segment>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("route key {0:?} is not `METHOD /path`, `ANY /path` or `$default`")]
pub struct BadRouteKey(pub String);

impl Pattern {
    pub fn parse(route_key: &str) -> Result<Self, BadRouteKey> {
        if route_key == "$default" {
            return Ok(Self {
                route_key: route_key.into(),
                method: None,
                segments: None,
            });
        }
        let bad = || BadRouteKey(route_key.to_owned());
        let (method, path) = route_key.split_once(' ').ok_or_else(bad)?;
        if !path.starts_with('/') {
            return Err(bad());
        }
        let parts: Vec<&str> = path[1..].split('/').filter(|s| !s.is_empty()).collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, p) in parts.iter().enumerate() {
            let seg = match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if name.ends_with('+') => {
                    if i + 1 != parts.len() {
                        return Err(bad()); // a greedy variable must be last
                    }
                    Segment::Greedy(name.trim_end_matches('+').to_owned())
                }
                Some(name) => Segment::Param(name.to_owned()),
                None => Segment::Literal((*p).to_owned()),
            };
            segments.push(seg);
        }
        let method = match method.to_ascii_uppercase().as_str() {
            "ANY" => None,
            m => Some(m.to_owned()),
        };
        Ok(Self {
            route_key: route_key.into(),
            method,
            segments: Some(segments),
        })
    }

    /// The path parameters if `path` (already split into decoded segments) matches.
    fn matches(&self, method: &str, path: &[String]) -> Option<BTreeMap<String, String>> {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return None;
        }
        let segments = self.segments.as_ref()?;
        let mut params = BTreeMap::new();
        let mut i = 0;
        for seg in segments {
            match seg {
                Segment::Literal(l) => {
                    if path.get(i)? != l {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    params.insert(name.clone(), path.get(i)?.clone());
                }
                Segment::Greedy(name) => {
                    if i >= path.len() {
                        return None; // {proxy+} needs at least one segment
                    }
                    params.insert(name.clone(), path[i..].join("/"));
                    return Some(params);
                }
            }
            i += 1;
        }
        (i == path.len()).then_some(params)
    }

    fn specificity(&self, other: &Self) -> Ordering {
        let (a, b) = (
            self.segments.as_deref().unwrap_or(&[]),
            other.segments.as_deref().unwrap_or(&[]),
        );
        for (x, y) in a.iter().zip(b) {
            match x.rank().cmp(&y.rank()) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        // Same shape so far: the longer literal prefix is more specific; then exact method.
        b.len()
            .cmp(&a.len())
            .then_with(|| self.method.is_none().cmp(&other.method.is_none()))
    }
}

/// A table of routes, tried in API Gateway's order.
#[derive(Debug, Clone)]
pub struct Routes<T> {
    routes: Vec<(Pattern, T)>,
    default: Option<(Pattern, T)>,
}

impl<T> Routes<T> {
    pub fn new(routes: Vec<(Pattern, T)>) -> Self {
        let (mut routes, mut defaults): (Vec<_>, Vec<_>) =
            routes.into_iter().partition(|(p, _)| p.segments.is_some());
        routes.sort_by(|(a, _), (b, _)| a.specificity(b));
        Self {
            routes,
            default: defaults.pop(),
        }
    }

    /// The route for `method` and the decoded path segments, with its path parameters.
    pub fn find(
        &self,
        method: &str,
        path: &[String],
    ) -> Option<(&Pattern, &T, BTreeMap<String, String>)> {
        self.routes
            .iter()
            .find_map(|(p, t)| p.matches(method, path).map(|params| (p, t, params)))
            .or_else(|| self.default.as_ref().map(|(p, t)| (p, t, BTreeMap::new())))
    }
}

/// Splits a raw path into percent-decoded segments (empty segments dropped, as API Gateway
/// collapses them).
pub fn segments(raw_path: &str) -> Vec<String> {
    raw_path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| s.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(keys: &[&str]) -> Routes<String> {
        Routes::new(
            keys.iter()
                .map(|k| (Pattern::parse(k).unwrap(), (*k).to_owned()))
                .collect(),
        )
    }

    fn route(
        t: &Routes<String>,
        method: &str,
        path: &str,
    ) -> Option<(String, BTreeMap<String, String>)> {
        t.find(method, &segments(path))
            .map(|(_, k, p)| (k.clone(), p))
    }

    #[test]
    fn priority_table() {
        let t = table(&[
            "$default",
            "ANY /{proxy+}",
            "GET /{code}",
            "GET /links",
            "POST /links",
            "GET /links/{code}",
            "ANY /links/{code}",
            "GET /links/{code}/stats",
            "GET /{a}/{b}",
            "GET /files/{path+}",
        ]);
        let cases: &[(&str, &str, &str)] = &[
            ("GET", "/links", "GET /links"),
            ("POST", "/links", "POST /links"),
            ("DELETE", "/links", "ANY /{proxy+}"),
            ("GET", "/abc1234", "GET /{code}"),
            ("GET", "/links/abc", "GET /links/{code}"),
            ("PATCH", "/links/abc", "ANY /links/{code}"),
            ("GET", "/links/abc/stats", "GET /links/{code}/stats"),
            ("GET", "/x/y", "GET /{a}/{b}"),
            ("GET", "/files/a/b/c", "GET /files/{path+}"),
            ("GET", "/x/y/z", "ANY /{proxy+}"),
            ("GET", "/", "$default"),
        ];
        for (m, p, want) in cases {
            assert_eq!(route(&t, m, p).unwrap().0, *want, "{m} {p}");
        }
        let (_, params) = route(&t, "GET", "/files/a/b%20c/d").unwrap();
        assert_eq!(params["path"], "a/b c/d");
        let (_, params) = route(&t, "GET", "/links/my%2Dcode").unwrap();
        assert_eq!(params["code"], "my-code");
    }

    #[test]
    fn without_default_nothing_matches_is_none() {
        let t = table(&["GET /a"]);
        assert!(route(&t, "GET", "/b").is_none());
        assert!(route(&t, "POST", "/a").is_none());
        assert!(route(&t, "GET", "/a/b").is_none());
    }

    #[test]
    fn bad_keys() {
        assert!(Pattern::parse("GET links").is_err());
        assert!(Pattern::parse("GET /{a+}/b").is_err());
        assert!(Pattern::parse("nonsense").is_err());
    }
}
