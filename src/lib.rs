//! edgecat core: everything that does not depend on the Workers runtime, so
//! it runs and is tested natively and compiles unchanged to wasm32.

pub mod budget;
pub mod codec;
#[cfg(feature = "onnx")]
pub mod convert;
pub mod cors;
pub mod detector;
pub mod error;
pub mod info;
pub mod input;
pub mod landmarks;
pub mod models;
pub mod openapi;
pub mod overlay;
pub mod pipeline;
pub mod preprocess;
pub mod ratelimit;
pub mod reader;
pub mod routes;

pub use error::ApiError;
