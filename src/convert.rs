//! ONNX → NNEF, natively, ahead of time (`edgecat convert`): the worker then
//! links tract-nnef alone, without the ONNX front end (tract-onnx, tract-hir,
//! prost), and loads a graph that is already typed and decluttered.
//!
//! tract folds each `DequantizeLinear` on an int8 weight into an f32
//! constant, which would make the NNEF 4× the ONNX. Each f32 tensor that is,
//! bit for bit, `(q - zero_point) * scale` of an int8 ONNX initializer
//! (per output channel) is written back as that int8 tensor plus its f32
//! scales, and the graph rebuilds it as
//! `mul(tract_core_cast(w_q, to = "f32"), w_s)`: one f32 multiply, the same
//! rounding as tract's own dequantization, so the weights tract ends up
//! with are the same bits, and tract folds the two ops back into the
//! constant when it optimises the model.
//!
//! The tar is plain (no gzip) and deterministic: sorted entries, fixed
//! timestamps, so converting the committed ONNX always gives the committed
//! bytes (tests/core/engine.rs checks it).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tract_nnef::ast::{Argument, Assignment, Document, Identifier, Invocation, LValue, RValue, TypeName};
use tract_nnef::framework::Nnef;
use tract_nnef::internal::{bail, ensure, format_err, TractErrorContext};
use tract_nnef::prelude::*;
use tract_nnef::ser::{ident, ints, named_arg, string};
use tract_nnef::ProtoModel;
use tract_onnx::pb;
use tract_onnx::prelude::InferenceModelExt as _;

/// What the conversion did, for the CLI to print.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    /// f32 tensors written back as int8 + per-channel f32 scales.
    pub int8_tensors: Vec<String>,
    /// f32 tensors kept as they are (biases, anchors, grids, …).
    pub f32_tensors: Vec<String>,
    /// Weight elements stored as int8, and as f32.
    pub int8_params: usize,
    pub f32_params: usize,
}

/// The NNEF tar of an ONNX model: typed, decluttered, int8 weights kept int8.
pub fn onnx_to_nnef_tar(onnx_bytes: &[u8]) -> TractResult<Vec<u8>> {
    onnx_to_nnef_tar_with_report(onnx_bytes).map(|(tar, _)| tar)
}

pub fn onnx_to_nnef_tar_with_report(onnx_bytes: &[u8]) -> TractResult<(Vec<u8>, Report)> {
    let onnx = tract_onnx::onnx();
    let model = onnx
        .model_for_read(&mut &onnx_bytes[..])
        .context("reading the ONNX model")?
        .into_typed()?
        .into_decluttered()?;
    let nnef = tract_nnef::nnef();
    let mut proto = tract_nnef::ser::to_proto_model(&nnef, &model).context("translating to NNEF")?;
    let proto_onnx: pb::ModelProto = onnx.proto_model_for_read(&mut &onnx_bytes[..])?;
    let weights = dequantized_int8_weights(&proto_onnx)?;
    let report = requantize(&mut proto, &weights)?;
    let tar = write_tar(&nnef, &proto)?;
    // What the worker will do with it: read it back into a typed model, with
    // the worker's reader (only the operators it registers).
    crate::reader::nnef().model_for_read(&mut &tar[..]).context("reading the NNEF tar back with edgecat's reader")?;
    Ok((tar, report))
}

/// One int8 ONNX weight behind a `DequantizeLinear`: `q - zero_point` (when
/// that fits int8) per element, the scale per output channel (axis 0).
struct Int8Weight {
    centred: Vec<i8>,
    scales: Vec<f32>,
}

impl Int8Weight {
    /// What tract's DequantizeLinear computes: `(q - zp) as f32 * scale`.
    fn dequantized_bits(&self) -> Vec<u32> {
        let per = self.centred.len() / self.scales.len();
        self.centred.iter().enumerate().map(|(i, &q)| (q as f32 * self.scales[i / per]).to_bits()).collect()
    }
}

/// A tensor's elements in row-major order.
fn values<T: Datum + Copy>(t: &Tensor) -> TractResult<Vec<T>> {
    Ok(t.to_plain_array_view::<T>()?.iter().copied().collect())
}

fn initializer(graph: &pb::GraphProto, name: &str) -> Option<TractResult<Tensor>> {
    let t = graph.initializer.iter().find(|t| t.name == name)?;
    Some(tract_onnx::tensor::load_tensor(&tract_onnx::data_resolver::FopenDataResolver, t, None))
}

/// Every `DequantizeLinear` whose input is an int8 initializer, with its
/// scale and zero point constant per tensor or per output channel.
fn dequantized_int8_weights(proto: &pb::ModelProto) -> TractResult<Vec<Int8Weight>> {
    let graph = proto.graph.as_ref().context("ONNX model without a graph")?;
    let mut out = Vec::new();
    for node in graph.node.iter().filter(|n| n.op_type == "DequantizeLinear" && n.domain.is_empty()) {
        let Some(Ok(q)) = node.input.first().and_then(|n| initializer(graph, n)) else { continue };
        if q.datum_type() != i8::datum_type() || q.rank() == 0 {
            continue;
        }
        let Some(Ok(scale)) = node.input.get(1).and_then(|n| initializer(graph, n)) else { continue };
        let zero_point = match node.input.get(2).filter(|n| !n.is_empty()) {
            Some(n) => match initializer(graph, n) {
                Some(t) => t?,
                None => continue,
            },
            None => tensor0(0i8),
        };
        // ONNX's default axis is 1; a per-tensor scale has no axis.
        let axis = node.attribute.iter().find(|a| a.name == "axis").map(|a| a.i).unwrap_or(1);
        let channels = q.shape()[0];
        let per_channel = |t: &Tensor| t.len() == channels && (axis == 0 || axis == -(q.rank() as i64));
        if !(scale.len() == 1 || per_channel(&scale)) || !(zero_point.len() == 1 || per_channel(&zero_point)) {
            continue;
        }
        if scale.datum_type() != f32::datum_type() {
            continue;
        }
        let scale = values::<f32>(&scale)?;
        let zero_point = values::<i32>(&*zero_point.cast_to::<i32>()?)?;
        let per = q.len() / channels;
        let centred: Option<Vec<i8>> = values::<i8>(&q)?
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let zp = zero_point[if zero_point.len() == 1 { 0 } else { i / per }];
                i8::try_from(v as i32 - zp).ok()
            })
            .collect();
        let Some(centred) = centred else { continue };
        let scales = (0..channels).map(|c| scale[if scale.len() == 1 { 0 } else { c }]).collect();
        out.push(Int8Weight { centred, scales });
    }
    Ok(out)
}

/// The shape of the per-channel scales for a weight tensor `shape` with
/// `channels` output channels leading (in row-major order): the leading axes
/// that multiply up to `channels` stay, the rest become 1.
fn scale_shape(shape: &[usize], channels: usize) -> Option<Vec<usize>> {
    let mut product = 1;
    for (k, &d) in shape.iter().enumerate() {
        product *= d;
        if product == channels {
            return Some(shape.iter().enumerate().map(|(j, &d)| if j <= k { d } else { 1 }).collect());
        }
        if product > channels {
            return None;
        }
    }
    None
}

/// Rewrites, in `proto`, every f32 tensor that is exactly one of `weights`
/// dequantized as int8 + scales, and its `variable` as their product.
fn requantize(proto: &mut ProtoModel, weights: &[Int8Weight]) -> TractResult<Report> {
    ensure!(
        proto.doc.extension.iter().any(|(k, v)| k.0 == "tract_registry" && v == "tract_core"),
        "the NNEF document does not use the tract_core registry, which tract_core_cast needs"
    );
    let by_bits: HashMap<Vec<u32>, &Int8Weight> = weights.iter().map(|w| (w.dequantized_bits(), w)).collect();
    let mut taken: HashSet<String> = proto
        .doc
        .graph_def
        .body
        .iter()
        .flat_map(|a| lvalue_ids(&a.left))
        .chain(proto.doc.graph_def.parameters.iter().map(|p| p.0.clone()))
        .collect();
    let mut fresh = |base: String| {
        let mut name = base.clone();
        let mut n = 0;
        while taken.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        taken.insert(name.clone());
        name
    };
    let mut report = Report::default();
    let mut labels: Vec<Identifier> = proto.tensors.keys().cloned().collect();
    labels.sort();
    let mut new_body = std::mem::take(&mut proto.doc.graph_def.body);
    for label in labels {
        let tensor = proto.tensors[&label].clone();
        let bits = (tensor.datum_type() == f32::datum_type())
            .then(|| values::<f32>(&tensor).map(|s| s.iter().map(|f| f.to_bits()).collect::<Vec<u32>>()))
            .transpose()?;
        let found = bits.as_ref().and_then(|b| by_bits.get(b));
        let split = found.and_then(|w| Some((w, scale_shape(tensor.shape(), w.scales.len())?)));
        // The `variable` assignment that reads this tensor (exactly one).
        let at = new_body.iter().position(|a| is_variable_of(&a.right, &label.0));
        let (Some((weight, s_shape)), Some(at)) = (split, at) else {
            if tensor.datum_type() == f32::datum_type() {
                report.f32_tensors.push(label.0.clone());
                report.f32_params += tensor.len();
            }
            continue;
        };
        let q_label = Identifier(format!("{}_q", label.0));
        let s_label = Identifier(format!("{}_s", label.0));
        ensure!(
            !proto.tensors.contains_key(&q_label) && !proto.tensors.contains_key(&s_label),
            "tensor labels {q_label:?} / {s_label:?} already exist"
        );
        let q = tensor1(&weight.centred).into_shape(tensor.shape())?;
        let s = tensor1(&weight.scales).into_shape(&s_shape)?;
        // What tract will compute from them, checked here bit for bit.
        let per = q.len() / s.len();
        let rebuilt = weight.centred.iter().enumerate().all(|(i, &v)| {
            (v as f32 * weight.scales[i / per]).to_bits() == bits.as_ref().unwrap()[i]
        });
        ensure!(rebuilt, "int8 rebuild of {label:?} is not bit-exact");

        let LValue::Identifier(var) = new_body[at].left.clone() else { bail!("variable {label:?} bound to a tuple") };
        let (q_id, f_id, s_id) = (fresh(format!("{}_q", var.0)), fresh(format!("{}_qf", var.0)), fresh(format!("{}_s", var.0)));
        let variable = |label: &Identifier, shape: &[usize]| {
            RValue::Invocation(Invocation {
                id: "variable".into(),
                generic_type_name: Some(TypeName::Scalar),
                arguments: vec![named_arg("label", string(&label.0)), named_arg("shape", ints(shape))],
            })
        };
        let call = |op: &str, args: Vec<Argument>| {
            RValue::Invocation(Invocation { id: op.into(), generic_type_name: None, arguments: args })
        };
        let positional = |rv: RValue| Argument { id: None, rvalue: rv };
        let assign = |id: &str, right: RValue| Assignment { left: LValue::Identifier(id.into()), right };
        let replacement = [
            assign(&q_id, variable(&q_label, q.shape())),
            assign(&s_id, variable(&s_label, s.shape())),
            assign(&f_id, call("tract_core_cast", vec![positional(ident(&q_id)), named_arg("to", string("f32"))])),
            assign(&var.0, call("mul", vec![positional(ident(&f_id)), positional(ident(&s_id))])),
        ];
        new_body.splice(at..=at, replacement);
        proto.tensors.remove(&label);
        report.int8_tensors.push(label.0.clone());
        report.int8_params += q.len();
        report.f32_params += s.len();
        proto.tensors.insert(q_label, Arc::new(q));
        proto.tensors.insert(s_label, Arc::new(s));
    }
    proto.doc.graph_def.body = new_body;
    Ok(report)
}

fn lvalue_ids(lv: &LValue) -> Vec<String> {
    match lv {
        LValue::Identifier(id) => vec![id.0.clone()],
        LValue::Array(items) | LValue::Tuple(items) => items.iter().flat_map(lvalue_ids).collect(),
    }
}

fn is_variable_of(rv: &RValue, label: &str) -> bool {
    let RValue::Invocation(inv) = rv else { return false };
    inv.id.0 == "variable"
        && inv.arguments.iter().any(|a| {
            a.id.as_ref().is_some_and(|id| id.0 == "label")
                && matches!(&a.rvalue, RValue::Literal(tract_nnef::ast::Literal::String(s)) if s == label)
        })
}

/// As tract's own `Nnef::write_to_tar_with_config(.., false, true)` writes
/// it: graph.nnef, then each tensor by sorted label, every
/// header with mode 0644 and the 1980-01-01 timestamp tract uses. Fragments
/// are sorted too (tract collects them from a HashMap).
pub fn write_tar(nnef: &Nnef, proto: &ProtoModel) -> TractResult<Vec<u8>> {
    const MTIME: u64 = 315_532_800;
    // Neither appears in a float model with int8 weights (tract's writer
    // would add graph.quant and sub-model tars).
    ensure!(proto.resources.is_empty(), "NNEF sub-models are not supported here");
    ensure!(proto.quantization.is_none(), "quantized activations (graph.quant) are not supported here");
    let mut doc: Document = proto.doc.clone();
    doc.fragments.sort_by(|a, b| a.decl.id.cmp(&b.decl.id));
    let mut ar = tar::Builder::new(Vec::new());
    let mut append = |path: &str, data: &[u8]| -> TractResult<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(MTIME);
        ar.append_data(&mut header, path, data).with_context(|| format!("appending {path}"))
    };
    let mut graph = Vec::new();
    tract_nnef::ast::dump::Dumper::new(nnef, &mut graph).document(&doc).context("serializing graph.nnef")?;
    append("graph.nnef", &graph)?;
    let mut labels: Vec<_> = proto.tensors.keys().collect();
    labels.sort();
    for label in labels {
        tract_nnef::framework::ensure_label_is_relative_path(&label.0)?;
        let path = format!("{}.dat", label.0.trim_start_matches('/'));
        let mut data = Vec::new();
        tract_nnef::tensors::write_tensor(&mut data, &proto.tensors[label])
            .with_context(|| format!("serializing tensor {path}"))?;
        append(&path, &data)?;
    }
    ar.into_inner().map_err(|e| format_err!("finishing the tar: {e}"))
}
