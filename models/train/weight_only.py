"""Turn a static QDQ int8 model into a weight-only int8 model (W8A32).

usage: weight_only.py model.int8.onnx   (rewritten in place)

The weights stay int8 initializers behind DequantizeLinear, so the file keeps
its int8 size; the QuantizeLinear -> DequantizeLinear pairs on activations are
removed. Why: tract 0.23.9 (the engine the worker runs) does not fuse
activation Q/DQ into integer kernels; it runs each pair as two float
element-wise passes around float convolutions ("fake quantization"). Measured
natively with tract on the session-1 models: the detector ran 2.5x faster and
the landmark model ~20x faster without them, and parsing + optimising took
~25% less. Accuracy moves towards the float model's.
"""
import sys
from collections import defaultdict

import onnx


def strip_activation_qdq(model):
    g = model.graph
    initializers = {i.name for i in g.initializer}
    consumers = defaultdict(list)
    for n in g.node:
        for name in n.input:
            consumers[name].append(n)
    drop, rename = set(), {}
    for q in g.node:
        if q.op_type != "QuantizeLinear" or q.input[0] in initializers:
            continue
        dqs = consumers[q.output[0]]
        if not dqs or any(d.op_type != "DequantizeLinear" for d in dqs):
            continue
        drop.add(q.name)
        for d in dqs:
            drop.add(d.name)
            rename[d.output[0]] = q.input[0]
    graph_outputs = {o.name for o in g.output}
    assert not graph_outputs & set(rename), "a graph output is an activation Q/DQ pair"
    kept = [n for n in g.node if n.name not in drop]
    for n in kept:
        for k, name in enumerate(n.input):
            n.input[k] = rename.get(name, name)
    del g.node[:]
    g.node.extend(kept)
    # The activation scales and zero points are now unused.
    used = {name for n in g.node for name in n.input}
    unused = [i for i in g.initializer if i.name not in used]
    for i in unused:
        g.initializer.remove(i)
    return len(drop) // 2


if __name__ == "__main__":
    path = sys.argv[1]
    model = onnx.load(path)
    pairs = strip_activation_qdq(model)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    print(f"{path}: removed {pairs} activation Q/DQ pairs (weights stay int8)")
