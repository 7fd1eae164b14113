//! The API contract: an OpenAPI 3.1 document (src/http/openapi.json), served as
//! is at `GET /api/openapi.json`. The tests below keep it in step with the
//! routes (`routes::Endpoint`) and the errors (`ApiError`); the HTTP suites
//! check every answer against it (tests/conformance.mjs).

/// The document, byte for byte as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes::Endpoint;
    use crate::ApiError;
    use serde_json::Value;
    use std::collections::BTreeSet;

    const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    fn doc() -> Value {
        serde_json::from_str(DOCUMENT).expect("src/http/openapi.json is JSON")
    }

    /// One value of every `ApiError` variant.
    fn every_error() -> Vec<ApiError> {
        let all = vec![
            ApiError::BadRequest("x".into()),
            ApiError::MissingField("x".into()),
            ApiError::NotFound("x".into()),
            ApiError::MethodNotAllowed { allowed: vec!["GET"] },
            ApiError::PayloadTooLarge("x".into()),
            ApiError::ImageTooLarge("x".into()),
            ApiError::UnsupportedMediaType("x".into()),
            ApiError::BadImage("x".into()),
            ApiError::BadOverlay("x".into()),
            ApiError::NoCatFound,
            ApiError::RequestTimeout("x".into()),
            ApiError::RateLimited { retry_after_s: 1 },
            ApiError::Busy { detail: "x".into(), retry_after_s: 1 },
            ApiError::Internal("x".into()),
        ];
        // A new variant breaks this match: add it to the list above too
        // (`problem_codes_are_the_codes_of_every_api_error` also notices).
        for err in &all {
            match err {
                ApiError::BadRequest(_)
                | ApiError::MissingField(_)
                | ApiError::NotFound(_)
                | ApiError::MethodNotAllowed { .. }
                | ApiError::PayloadTooLarge(_)
                | ApiError::ImageTooLarge(_)
                | ApiError::UnsupportedMediaType(_)
                | ApiError::BadImage(_)
                | ApiError::BadOverlay(_)
                | ApiError::NoCatFound
                | ApiError::RequestTimeout(_)
                | ApiError::RateLimited { .. }
                | ApiError::Busy { .. }
                | ApiError::Internal(_) => {}
            }
        }
        all
    }

    /// The codes `ApiError::code` can return, read from its source: every
    /// variant needs an arm there, listed above or not.
    fn codes_in_error_rs() -> BTreeSet<String> {
        let src = include_str!("../error.rs");
        let start = src.find("pub fn code(&self)").expect("ApiError::code");
        let body = &src[start..];
        let body = &body[..body.find("\n    }\n").expect("end of code()")];
        body.split("=> \"").skip(1).map(|s| s[..s.find('"').unwrap()].to_string()).collect()
    }

    fn strings(v: &Value) -> BTreeSet<String> {
        v.as_array().expect("an array").iter().map(|s| s.as_str().expect("a string").to_string()).collect()
    }

    /// Follows a local `$ref` (`#/components/...`).
    fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
        match v["$ref"].as_str() {
            Some(r) => doc.pointer(r.strip_prefix('#').expect("a local $ref")).unwrap_or_else(|| panic!("{r} resolves")),
            None => v,
        }
    }

    /// (status const, code enum, header names) of a problem response.
    fn problem_response(doc: &Value, response: &Value) -> (u64, BTreeSet<String>, BTreeSet<String>) {
        let response = resolve(doc, response);
        let schema = &response["content"]["application/problem+json"]["schema"];
        assert_eq!(schema["allOf"][0]["$ref"], "#/components/schemas/Problem", "{response}");
        let status = schema["properties"]["status"]["const"].as_u64().expect("status const");
        let codes = strings(&schema["properties"]["code"]["enum"]);
        let headers = response["headers"].as_object().map(|h| h.keys().cloned().collect()).unwrap_or_default();
        (status, codes, headers)
    }

    #[test]
    fn document_is_openapi_3_1() {
        let doc = doc();
        let version = doc["openapi"].as_str().expect("openapi");
        assert!(version.starts_with("3.1."), "{version}");
        assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    }

    #[test]
    fn every_public_endpoint_and_method_is_documented_and_nothing_else() {
        let doc = doc();
        let paths = doc["paths"].as_object().expect("paths");
        let public: Vec<Endpoint> = Endpoint::ALL.into_iter().filter(|e| !e.test_only()).collect();
        let expected: BTreeSet<&str> = public.iter().map(|e| e.path()).collect();
        assert_eq!(paths.keys().map(String::as_str).collect::<BTreeSet<_>>(), expected);
        for endpoint in public {
            let item = paths[endpoint.path()].as_object().expect("a path item");
            let documented: BTreeSet<String> =
                item.keys().filter(|k| HTTP_METHODS.contains(&k.as_str())).cloned().collect();
            let routed: BTreeSet<String> = endpoint.methods().iter().map(|m| m.to_ascii_lowercase()).collect();
            assert_eq!(documented, routed, "{}", endpoint.path());
        }
    }

    #[test]
    fn problem_codes_are_the_codes_of_every_api_error() {
        let doc = doc();
        let documented = strings(&doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]);
        let listed: BTreeSet<String> = every_error().iter().map(|e| e.code().to_string()).collect();
        assert_eq!(listed, codes_in_error_rs(), "every_error() misses an ApiError variant");
        assert_eq!(documented, listed, "the Problem code enum of src/http/openapi.json");
        let statuses: BTreeSet<u64> = every_error().iter().map(|e| u64::from(e.status())).collect();
        let documented: BTreeSet<u64> = doc["components"]["schemas"]["Problem"]["properties"]["status"]["enum"]
            .as_array()
            .expect("status enum")
            .iter()
            .map(|s| s.as_u64().expect("a status"))
            .collect();
        assert_eq!(documented, statuses, "the Problem status enum of src/http/openapi.json");
    }

    #[test]
    fn every_error_has_a_response_with_its_status_code_and_headers() {
        let doc = doc();
        let responses = doc["components"]["responses"].as_object().expect("responses");
        let problems: Vec<_> = responses
            .values()
            .filter(|r| r["content"].get("application/problem+json").is_some())
            .map(|r| problem_response(&doc, r))
            .collect();
        for err in every_error() {
            let matching: Vec<_> = problems
                .iter()
                .filter(|(status, codes, _)| *status == u64::from(err.status()) && codes.contains(err.code()))
                .collect();
            assert!(!matching.is_empty(), "no response documents {} {}", err.status(), err.code());
            for (_, _, headers) in matching {
                for (name, _) in err.headers() {
                    assert!(headers.contains(name), "{} answers carry {name}", err.code());
                }
            }
        }
        // Each code in a response is one the status carries.
        for (status, codes, _) in &problems {
            for code in codes {
                let err = every_error().into_iter().find(|e| e.code() == code).expect("a known code");
                assert_eq!(u64::from(err.status()), *status, "{code}");
            }
        }
        // Every operation's error statuses name the matching problem.
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap().iter().filter(|(k, _)| HTTP_METHODS.contains(&k.as_str())) {
                for (status, response) in op["responses"].as_object().expect("responses") {
                    let status: u64 = status.parse().expect("a numeric status");
                    if status >= 400 {
                        assert_eq!(problem_response(&doc, response).0, status, "{method} {path} {status}");
                    }
                }
            }
        }
    }

    #[test]
    fn form_styles_are_the_built_in_ones() {
        let doc = doc();
        let styles = strings(&doc["components"]["schemas"]["PhotoForm"]["properties"]["style"]["enum"]);
        assert_eq!(styles, crate::overlay::STYLES.iter().map(|s| s.to_string()).collect());
    }
}
