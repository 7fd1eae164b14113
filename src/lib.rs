//! edgecat core: everything that does not depend on the Workers runtime, so
//! it runs and is tested natively and compiles unchanged to wasm32.
//!
//! Two layers. The vision pipeline (decode, detect, landmarks, overlay,
//! encode: `pipeline` and the modules it calls) is what every build links,
//! the browser's included. `http` (routes, request bodies, CORS, OpenAPI,
//! budgets, rate limit) is only for the builds that answer HTTP requests:
//! the worker and the native CLI/tests (feature `http`, on by default).

pub mod codec;
#[cfg(feature = "onnx")]
pub mod convert;
pub mod detector;
pub mod error;
pub mod frame;
#[cfg(feature = "http")]
pub mod http;
pub mod landmarks;
pub mod models;
pub mod overlay;
pub mod pipeline;
pub mod preprocess;
pub mod reader;
pub mod sniff;
// The built-in sunglasses' shapes: build.rs draws them with `render`, the
// library reads their size and eye points, and its tests draw them again.
#[cfg_attr(not(test), allow(dead_code))]
mod styles;

pub use error::ApiError;
