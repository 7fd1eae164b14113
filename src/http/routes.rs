//! Which API endpoint a (method, path) pair names. Pure, so 404 vs 405 vs
//! preflight is decided (and tested) natively, not in the worker glue.

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Health,
    Models,
    Detect,
    Hipsterize,
    /// Loads the models now, so the first photo does not wait for them (the
    /// page calls it when it opens).
    Warm,
    /// This API's OpenAPI 3.1 document (src/http/openapi.json).
    OpenApi,
    /// Test-only: panics on purpose (enabled by `EDGECAT_TEST_ROUTES=1`).
    Panic,
    /// Test-only: loads the models again, from scratch, and says how long
    /// that took (`make bench`: the worker loads them at start-up, where
    /// workerd's clock stands still).
    Load,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// CORS preflight for a known endpoint.
    Preflight(Endpoint),
    Call(Endpoint),
}

impl Endpoint {
    /// Every endpoint: the routing table (`from_path` looks paths up here).
    pub const ALL: [Endpoint; 8] = [
        Endpoint::Health,
        Endpoint::Models,
        Endpoint::Detect,
        Endpoint::Hipsterize,
        Endpoint::Warm,
        Endpoint::OpenApi,
        Endpoint::Panic,
        Endpoint::Load,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Health => "/api/health",
            Endpoint::Models => "/api/models",
            Endpoint::Detect => "/api/detect",
            Endpoint::Hipsterize => "/api/hipsterize",
            Endpoint::Warm => "/api/warm",
            Endpoint::OpenApi => "/api/openapi.json",
            Endpoint::Panic => "/api/__panic",
            Endpoint::Load => "/api/__load",
        }
    }

    /// Routed only with `EDGECAT_TEST_ROUTES=1`, and not part of the API
    /// contract (src/http/openapi.json leaves them out).
    pub fn test_only(self) -> bool {
        matches!(self, Endpoint::Panic | Endpoint::Load)
    }

    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Endpoint::Health | Endpoint::Models | Endpoint::OpenApi => &["GET", "HEAD", "OPTIONS"],
            Endpoint::Detect | Endpoint::Hipsterize | Endpoint::Warm => &["POST", "OPTIONS"],
            Endpoint::Load => &["POST"],
            Endpoint::Panic => &["GET"],
        }
    }

    fn from_path(path: &str, test_routes: bool) -> Option<Endpoint> {
        // A trailing slash is forgiven: `/api/health/` is `/api/health`.
        let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
        Endpoint::ALL.into_iter().find(|e| e.path() == path && (test_routes || !e.test_only()))
    }
}

/// Resolve a request line. `test_routes` exposes test-only endpoints.
pub fn resolve(method: &str, path: &str, test_routes: bool) -> Result<Route, ApiError> {
    let endpoint = Endpoint::from_path(path, test_routes)
        .ok_or_else(|| ApiError::NotFound(format!("no API route at {path}")))?;
    let allowed = endpoint.methods();
    let method = method.to_ascii_uppercase();
    if !allowed.contains(&method.as_str()) {
        return Err(ApiError::MethodNotAllowed { allowed: allowed.to_vec() });
    }
    Ok(if method == "OPTIONS" { Route::Preflight(endpoint) } else { Route::Call(endpoint) })
}

/// The path of a URL as the runtime serializes it (absolute, WHATWG):
/// from the first `/` after the host to a `?` or `#` (which a serialized
/// path holds only percent-encoded); `/` when there is none.
pub fn path_of(url: &str) -> &str {
    let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
    match rest.find('/') {
        Some(i) => {
            let path = &rest[i..];
            &path[..path.find(['?', '#']).unwrap_or(path.len())]
        }
        None => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_routes_resolve() {
        assert_eq!(resolve("GET", "/api/health", false), Ok(Route::Call(Endpoint::Health)));
        assert_eq!(resolve("HEAD", "/api/models/", false), Ok(Route::Call(Endpoint::Models)));
        assert_eq!(resolve("post", "/api/detect", false), Ok(Route::Call(Endpoint::Detect)));
        assert_eq!(resolve("POST", "/api/warm", false), Ok(Route::Call(Endpoint::Warm)));
        assert_eq!(resolve("GET", "/api/openapi.json", false), Ok(Route::Call(Endpoint::OpenApi)));
        assert_eq!(resolve("HEAD", "/api/openapi.json/", false), Ok(Route::Call(Endpoint::OpenApi)));
        assert_eq!(
            resolve("OPTIONS", "/api/openapi.json", false),
            Ok(Route::Preflight(Endpoint::OpenApi))
        );
        assert_eq!(resolve("POST", "/api/openapi.json", false).unwrap_err().status(), 405);
        assert_eq!(resolve("GET", "/api/openapi", false).unwrap_err().status(), 404);
        assert_eq!(resolve("GET", "/api/warm", false).unwrap_err().status(), 405);
        assert_eq!(
            resolve("OPTIONS", "/api/hipsterize", false),
            Ok(Route::Preflight(Endpoint::Hipsterize))
        );
    }

    #[test]
    fn paths_are_cut_from_serialized_urls() {
        assert_eq!(path_of("http://127.0.0.1:8787/api/hipsterize?format=png"), "/api/hipsterize");
        assert_eq!(path_of("https://edgecat.example/api/health#x"), "/api/health");
        assert_eq!(path_of("https://edgecat.example"), "/");
        assert_eq!(path_of("https://edgecat.example/"), "/");
        assert_eq!(path_of("https://a.example/api/x%3Fy/"), "/api/x%3Fy/");
        assert_eq!(path_of("/api/models?x"), "/api/models");
    }

    #[test]
    fn wrong_method_is_405_with_allow_list() {
        let err = resolve("DELETE", "/api/health", false).unwrap_err();
        assert_eq!(err.status(), 405);
        assert_eq!(err, ApiError::MethodNotAllowed { allowed: vec!["GET", "HEAD", "OPTIONS"] });
        assert_eq!(resolve("GET", "/api/hipsterize", false).unwrap_err().status(), 405);
    }

    #[test]
    fn unknown_paths_are_404() {
        assert_eq!(resolve("GET", "/api/nope", false).unwrap_err().code(), "not_found");
        assert_eq!(resolve("GET", "/api", false).unwrap_err().code(), "not_found");
    }

    #[test]
    fn every_endpoint_routes_at_its_path() {
        for endpoint in Endpoint::ALL {
            let method = endpoint.methods()[0];
            assert_eq!(resolve(method, endpoint.path(), true), Ok(Route::Call(endpoint)), "{endpoint:?}");
            let public = resolve(method, endpoint.path(), false);
            if endpoint.test_only() {
                assert_eq!(public.unwrap_err().status(), 404, "{endpoint:?}");
            } else {
                assert_eq!(public, Ok(Route::Call(endpoint)), "{endpoint:?}");
            }
        }
    }

    #[test]
    fn panic_route_only_when_enabled() {
        assert_eq!(resolve("GET", "/api/__panic", false).unwrap_err().status(), 404);
        assert_eq!(resolve("GET", "/api/__panic", true), Ok(Route::Call(Endpoint::Panic)));
        assert_eq!(resolve("POST", "/api/__load", false).unwrap_err().status(), 404);
        assert_eq!(resolve("POST", "/api/__load", true), Ok(Route::Call(Endpoint::Load)));
    }
}
