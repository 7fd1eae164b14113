//! CORS policy for calling the API from a static site on another origin.
//! `ALLOWED_ORIGINS` is `*` (any origin) or a comma-separated list of exact
//! origins; with a list, only a listed request Origin is reflected.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsPolicy {
    Any,
    List(Vec<String>),
}

pub const ALLOW_HEADERS: &str = "Content-Type, Accept";
/// Retry-After: a page on another origin reads it from a 429 (and a 503).
pub const EXPOSE_HEADERS: &str = "Server-Timing, X-Cats-Found, Content-Length, Retry-After";
pub const MAX_AGE: &str = "86400";

impl CorsPolicy {
    /// Parse the `ALLOWED_ORIGINS` var; empty or missing means `*`.
    pub fn parse(var: Option<&str>) -> CorsPolicy {
        let var = var.unwrap_or("*").trim();
        if var.is_empty() || var == "*" {
            return CorsPolicy::Any;
        }
        let list = var
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect();
        CorsPolicy::List(list)
    }

    /// The `Access-Control-Allow-Origin` value for a request's Origin, if any.
    pub fn allow_origin(&self, origin: Option<&str>) -> Option<String> {
        match self {
            CorsPolicy::Any => Some("*".to_string()),
            CorsPolicy::List(list) => {
                let origin = origin?;
                list.iter().any(|o| o == origin).then(|| origin.to_string())
            }
        }
    }

    /// Headers for an actual (non-preflight) response.
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        if let Some(allow) = self.allow_origin(origin) {
            headers.push(("Access-Control-Allow-Origin", allow));
            headers.push(("Access-Control-Expose-Headers", EXPOSE_HEADERS.to_string()));
        }
        if matches!(self, CorsPolicy::List(_)) {
            // The answer depends on Origin: caches must key on it.
            headers.push(("Vary", "Origin".to_string()));
        }
        headers
    }

    /// What a preflight answer adds to `response_headers` for an endpoint
    /// accepting `methods` (nothing for a foreign origin).
    pub fn preflight_headers(
        &self,
        origin: Option<&str>,
        methods: &[&str],
    ) -> Vec<(&'static str, String)> {
        if self.allow_origin(origin).is_none() {
            return Vec::new();
        }
        vec![
            ("Access-Control-Allow-Methods", methods.join(", ")),
            ("Access-Control-Allow-Headers", ALLOW_HEADERS.to_string()),
            ("Access-Control-Max-Age", MAX_AGE.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_allows_everyone() {
        let p = CorsPolicy::parse(None);
        assert_eq!(p, CorsPolicy::Any);
        assert_eq!(p.allow_origin(Some("https://x.test")).as_deref(), Some("*"));
        assert_eq!(p.allow_origin(None).as_deref(), Some("*"));
        assert_eq!(CorsPolicy::parse(Some(" * ")), CorsPolicy::Any);
    }

    #[test]
    fn list_reflects_only_listed_origins() {
        let p = CorsPolicy::parse(Some("https://a.test, http://127.0.0.1:9000/"));
        assert_eq!(p.allow_origin(Some("https://a.test")).as_deref(), Some("https://a.test"));
        assert_eq!(
            p.allow_origin(Some("http://127.0.0.1:9000")).as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(p.allow_origin(Some("https://evil.test")), None);
        assert_eq!(p.allow_origin(None), None);
        let h = p.response_headers(Some("https://evil.test"));
        assert_eq!(h, vec![("Vary", "Origin".to_string())]);
    }

    #[test]
    fn preflight_carries_methods_and_headers() {
        let p = CorsPolicy::Any;
        let h = p.preflight_headers(Some("https://a.test"), &["POST", "OPTIONS"]);
        let get = |k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("Access-Control-Allow-Methods"), Some("POST, OPTIONS"));
        assert_eq!(get("Access-Control-Allow-Headers"), Some(ALLOW_HEADERS));
        assert_eq!(get("Access-Control-Max-Age"), Some(MAX_AGE));
        let list = CorsPolicy::parse(Some("https://a.test"));
        assert!(list.preflight_headers(Some("https://b.test"), &["POST"]).is_empty());
    }
}
