"""Static int8 quantization with onnxruntime (Conv only, QDQ, per-channel weights).

Calibration inputs are preprocessed exactly like the Rust side does it (letterbox / face crop).
usage: quantize.py det|lmk|gate float.onnx out.int8.onnx [minmax|percentile|entropy]
"""
import os
import sys

import numpy as np
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)

from common import abspath, dog_photos, face_crop, gate_crop, letterbox, load_hujingyu, load_orienfish, load_rgb, to_tensor

kind, src, dst = sys.argv[1:4]
method = sys.argv[4] if len(sys.argv) > 4 else "minmax"


def det_inputs(n=240):
    # training images only: hujingyu train, orienfish train, even-index dogs
    paths = [r["path"] for r in load_hujingyu("train")][::4] + [r["path"] for r in load_orienfish("train")][::4] + \
        dog_photos(0)[::4]
    paths = paths[:n]
    for p in paths:
        c, *_ = letterbox(load_rgb(abspath(p)))
        yield to_tensor(c)


def crop_inputs(crop):
    """the labelled training faces, cut as the model sees them (`crop`: face_crop or gate_crop)"""
    recs = load_orienfish("train") + load_hujingyu("train")[::3]
    for r in recs:
        im = load_rgb(abspath(r["path"]))
        for b in r["boxes"]:
            c, _ = crop(im, b)
            yield to_tensor(c)


class Reader(CalibrationDataReader):
    def __init__(self, gen):
        self.it = iter([{"input": x} for x in gen])

    def get_next(self):
        return next(self.it, None)


gen = {"det": det_inputs, "lmk": lambda: crop_inputs(face_crop), "gate": lambda: crop_inputs(gate_crop)}[kind]()
cm = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
      "entropy": CalibrationMethod.Entropy}[method]
extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
if method == "percentile":
    extra["CalibPercentile"] = 99.999
# the output heads (the 1x1 convs feeding Reshape: score / box / heatmap logits, < 1k weights) stay float
import onnx  # noqa: E402

g = onnx.load(src).graph
feeds_reshape = {n.input[0] for n in g.node if n.op_type == "Reshape"}
exclude = [n.name for n in g.node if n.op_type == "Conv" and n.output[0] in feeds_reshape]
if os.environ.get("QUANT_HEADS"):
    exclude = []
print("float heads:", exclude)
quantize_static(src, dst, Reader(gen), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=cm, extra_options=extra, nodes_to_exclude=exclude)
print("wrote", dst)
