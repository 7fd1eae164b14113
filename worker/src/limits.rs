//! The abuse limit: asks the Workers Rate Limiting binding about a photo
//! request before its body is read. What is counted, under which key, and the
//! switch are the core's (`edgecat::http::ratelimit`).

use edgecat::http::ratelimit;
use edgecat::http::routes::Endpoint;
use edgecat::ApiError;
use worker::{console_error, Env, Headers};

use crate::header;

/// `Err(429 rate_limited)` when this client is over the limit. Serves
/// without a limit when it is switched off (`enabled`: `RATE_LIMIT = "off"`,
/// read once per isolate), when the binding is gone from wrangler.toml, or
/// when the binding fails.
pub async fn check(env: &Env, enabled: bool, endpoint: Endpoint, headers: &Headers) -> Result<(), ApiError> {
    if !endpoint.rate_limited() || !enabled {
        return Ok(());
    }
    let Ok(limiter) = env.rate_limiter(ratelimit::BINDING) else {
        return Ok(());
    };
    let key = ratelimit::client_key(header(headers, "CF-Connecting-IP").as_deref());
    match limiter.limit(key).await {
        Ok(outcome) if outcome.success => Ok(()),
        Ok(_) => Err(ratelimit::limited()),
        Err(e) => {
            console_error!("the rate limiter failed, served without it: {e}");
            Ok(())
        }
    }
}
