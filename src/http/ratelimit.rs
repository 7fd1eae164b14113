//! The abuse limit: which requests the Workers Rate Limiting binding counts,
//! under which client key, and the switch that turns it off. Pure, so these
//! choices are tested natively; `worker/src/limits.rs` asks the binding.

use std::net::{IpAddr, Ipv6Addr};

use crate::error::ApiError;
use crate::http::routes::Endpoint;

/// The binding's `name` under `[[ratelimits]]` in wrangler.toml.
pub const BINDING: &str = "PHOTO_RATE_LIMIT";

/// The var that turns the limit off: `RATE_LIMIT = "off"` (in wrangler.toml,
/// or `wrangler dev --var RATE_LIMIT:off`).
pub const SWITCH_VAR: &str = "RATE_LIMIT";

/// `Retry-After` on a 429. The worker cannot read the binding's period, and
/// the binding allows only 10 or 60 s: 60 holds whichever wrangler.toml sets.
pub const RETRY_AFTER_S: u32 = 60;

/// Key for requests without a usable client address (none on Cloudflare,
/// which always sets `CF-Connecting-IP`): they share one count.
pub const UNKNOWN_CLIENT: &str = "unknown";

impl Endpoint {
    /// Counted by the abuse limit: the routes that take a photo or run the
    /// models. Health, models and CORS preflights never are.
    pub fn rate_limited(self) -> bool {
        matches!(self, Endpoint::Detect | Endpoint::Hipsterize | Endpoint::Warm)
    }
}

/// Whether the limit is on, from the `RATE_LIMIT` var: on unless it says
/// `off` (or `false`, `0`, `no`); a missing or misspelt value keeps it on.
pub fn enabled(setting: Option<&str>) -> bool {
    let setting = setting.map(|s| s.trim().to_ascii_lowercase());
    !matches!(setting.as_deref(), Some("off" | "false" | "0" | "no"))
}

/// The client a request counts against, from `CF-Connecting-IP`: an IPv4
/// address as is; an IPv6 address by its /64, as one subscriber usually has
/// a whole /64 and could otherwise take a fresh address per request (an
/// IPv4-mapped one counts as its IPv4 address); anything else is
/// [`UNKNOWN_CLIENT`].
pub fn client_key(cf_connecting_ip: Option<&str>) -> String {
    match cf_connecting_ip.map(str::trim).and_then(|ip| ip.parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        None => UNKNOWN_CLIENT.to_string(),
    }
}

/// The answer to a client over the limit: 429 `rate_limited`, `Retry-After`.
pub fn limited() -> ApiError {
    ApiError::RateLimited { retry_after_s: RETRY_AFTER_S }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_photo_routes_are_counted() {
        for endpoint in [Endpoint::Detect, Endpoint::Hipsterize, Endpoint::Warm] {
            assert!(endpoint.rate_limited(), "{endpoint:?}");
        }
        for endpoint in [Endpoint::Health, Endpoint::Models, Endpoint::OpenApi, Endpoint::Panic, Endpoint::Load] {
            assert!(!endpoint.rate_limited(), "{endpoint:?}");
        }
    }

    #[test]
    fn on_unless_switched_off() {
        assert!(enabled(None));
        assert!(enabled(Some("on")));
        assert!(enabled(Some("")));
        assert!(enabled(Some("of")), "a misspelt value keeps the limit");
        for off in ["off", "OFF", " off ", "false", "0", "no"] {
            assert!(!enabled(Some(off)), "{off:?}");
        }
    }

    #[test]
    fn clients_are_keyed_by_address_and_ipv6_by_its_64() {
        assert_eq!(client_key(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(client_key(Some(" 203.0.113.7 ")), "203.0.113.7");
        assert_eq!(client_key(Some("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), "2001:db8:1:2::/64");
        assert_eq!(client_key(Some("2001:DB8:1:2::1")), client_key(Some("2001:db8:1:2::ffff")));
        assert_ne!(client_key(Some("2001:db8:1:2::1")), client_key(Some("2001:db8:1:3::1")));
        assert_eq!(client_key(Some("::ffff:198.51.100.4")), "198.51.100.4");
        for unusable in [None, Some(""), Some("not an address"), Some("203.0.113.7, 10.0.0.1")] {
            assert_eq!(client_key(unusable), UNKNOWN_CLIENT, "{unusable:?}");
        }
    }

    #[test]
    fn over_the_limit_is_429_with_retry_after() {
        let err = limited();
        assert_eq!((err.status(), err.code()), (429, "rate_limited"));
        assert_eq!(err.headers(), vec![("Retry-After", RETRY_AFTER_S.to_string())]);
    }

    /// `simple = { limit = N, period = P }` of the `[[ratelimits]]` entry
    /// named [`BINDING`] in a wrangler config.
    fn configured(config: &str) -> (u32, u32) {
        let entry = config
            .split("[[ratelimits]]")
            .skip(1)
            .map(|e| e.split("\n[").next().unwrap())
            .find(|e| e.contains(&format!("name = \"{BINDING}\"")))
            .unwrap_or_else(|| panic!("no [[ratelimits]] named {BINDING}"));
        let simple = entry.lines().find(|l| l.trim_start().starts_with("simple")).expect("simple = {…}");
        let number = |key: &str| -> u32 {
            let rest = simple.split(&format!("{key} =")).nth(1).unwrap_or_else(|| panic!("no {key}"));
            rest.trim_start().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
        };
        (number("limit"), number("period"))
    }

    #[test]
    fn wrangler_configs_declare_the_binding_and_the_page_says_the_limit() {
        let root = env!("CARGO_MANIFEST_DIR");
        let read = |p: &str| std::fs::read_to_string(format!("{root}/{p}")).unwrap();
        let (limit, period) = configured(&read("wrangler.toml"));
        assert!([10, 60].contains(&period), "the binding allows periods of 10 or 60 s");
        assert!(period <= RETRY_AFTER_S, "Retry-After covers the period");
        assert!(read("wrangler.toml").contains(&format!("{SWITCH_VAR} = \"on\"")));
        // The page's sentence gives the limit per minute.
        let per_minute = limit * (60 / period);
        let page = read("www/index.html");
        assert!(page.contains(&format!("up to {per_minute} photos a minute")), "www/index.html says the limit");
        // The rate-limit test's worker: the same binding, a limit a test meets.
        let (test_limit, test_period) = configured(&read("tests/http/ratelimit.wrangler.toml"));
        assert_eq!((test_limit, test_period), (3, 60), "tests/http/ratelimit.test.mjs counts on these");
    }
}
