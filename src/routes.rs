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
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Endpoint::Health | Endpoint::Models => &["GET", "HEAD", "OPTIONS"],
            Endpoint::Detect | Endpoint::Hipsterize | Endpoint::Warm => &["POST", "OPTIONS"],
            Endpoint::Load => &["POST"],
            Endpoint::Panic => &["GET"],
        }
    }

    fn from_path(path: &str, test_routes: bool) -> Option<Endpoint> {
        // A trailing slash is forgiven: `/api/health/` is `/api/health`.
        let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
        Some(match path {
            "/api/health" => Endpoint::Health,
            "/api/models" => Endpoint::Models,
            "/api/detect" => Endpoint::Detect,
            "/api/hipsterize" => Endpoint::Hipsterize,
            "/api/warm" => Endpoint::Warm,
            "/api/__panic" if test_routes => Endpoint::Panic,
            "/api/__load" if test_routes => Endpoint::Load,
            _ => return None,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_routes_resolve() {
        assert_eq!(resolve("GET", "/api/health", false), Ok(Route::Call(Endpoint::Health)));
        assert_eq!(resolve("HEAD", "/api/models/", false), Ok(Route::Call(Endpoint::Models)));
        assert_eq!(resolve("post", "/api/detect", false), Ok(Route::Call(Endpoint::Detect)));
        assert_eq!(resolve("POST", "/api/warm", false), Ok(Route::Call(Endpoint::Warm)));
        assert_eq!(resolve("GET", "/api/warm", false).unwrap_err().status(), 405);
        assert_eq!(
            resolve("OPTIONS", "/api/hipsterize", false),
            Ok(Route::Preflight(Endpoint::Hipsterize))
        );
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
    fn panic_route_only_when_enabled() {
        assert_eq!(resolve("GET", "/api/__panic", false).unwrap_err().status(), 404);
        assert_eq!(resolve("GET", "/api/__panic", true), Ok(Route::Call(Endpoint::Panic)));
        assert_eq!(resolve("POST", "/api/__load", false).unwrap_err().status(), 404);
        assert_eq!(resolve("POST", "/api/__load", true), Ok(Route::Call(Endpoint::Load)));
    }
}
