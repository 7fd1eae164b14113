//! The NNEF reader the engine loads the models with: only the operators
//! edgecat's graphs contain. `tract_nnef::nnef()` registers every NNEF and
//! tract-core operator (FFT, STFT, LSTM, GRU, scans, resize, …), and the
//! linker keeps all that a registry names, so the Wasm carried code (and
//! rustfft) for operators the models never use. The converter checks each
//! tar it writes with this reader, so a model needing more fails there, at
//! `make nnef`, not in the worker.

use tract_nnef::framework::{stdlib, Nnef};
use tract_nnef::internal::*;
use tract_nnef::ops::nnef::deser;
use tract_nnef::resource::{DatLoader, GraphNnefLoader};

/// The operators our graphs use (`make nnef` lists them): the standard ones
/// under tract_nnef's registry id, and tract_core's cast, which the int8
/// weights go through.
pub fn nnef() -> Nnef {
    let stdlib = stdlib();
    let mut std_ops = Registry::new("tract_nnef");
    let primitives: [(&str, ToTract); 10] = [
        ("external", deser::external),
        ("variable", deser::variable),
        ("reshape", deser::reshape),
        ("transpose", deser::transpose),
        ("concat", deser::concat),
        ("squeeze", deser::squeeze),
        ("unsqueeze", deser::unsqueeze),
        ("matmul", deser::matmul),
        ("conv", deser::conv),
        ("softmax", deser::softmax),
    ];
    for (id, load) in primitives {
        // Declared in the stdlib, as tract_nnef's own registry does.
        if let Some(f) = stdlib.iter().find(|f| f.decl.id.0 == id) {
            std_ops.register_primitive(id, &f.decl.parameters, &f.decl.results, load);
        }
    }
    std_ops.register_binary("add", &tract_core::ops::math::Add {});
    std_ops.register_binary("mul", &tract_core::ops::math::Mul {});
    std_ops.register_binary("max", &tract_core::ops::math::Max {});
    std_ops.register_unit_element_wise("exp", &tract_core::ops::math::Exp {});
    std_ops.register_unit_element_wise("sigmoid", &tract_core::ops::nn::Sigmoid {});

    let mut core_ops = Registry::new("tract_core");
    core_ops.register_primitive(
        "tract_core_cast",
        &[TypeName::Scalar.tensor().named("input"), TypeName::String.named("to")],
        &[("output", TypeName::Scalar.tensor())],
        cast,
    );

    Nnef {
        stdlib,
        registries: vec![std_ops, core_ops],
        resource_loaders: vec![GraphNnefLoader.into_boxed(), DatLoader.into_boxed()],
        allow_extended_identifier_syntax: false,
        extern_all_constants: false,
    }
}

/// `tract_core_cast(x, to = "f32")`: the one tract_core operator our graphs
/// use (int8 weights → f32, then the scale).
fn cast(builder: &mut ModelBuilder, invocation: &ResolvedInvocation) -> TractResult<Value> {
    let input = invocation.named_arg_as(builder, "input")?;
    let to: DatumType = invocation.named_arg_as::<String>(builder, "to")?.parse()?;
    builder.wire(tract_core::ops::cast::Cast { to }, &[input])
}
