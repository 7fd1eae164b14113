"""Each labelled source's box convention (session 20; issue 25: "learn that in training, so that the metric can
stay at IoU 0.5").

hujingyu's face boxes take in the forehead and the ears; orienfish's are tighter and sit lower. The detector
reports one box, in the convention it learned (hujingyu's: most of its labelled faces). To be measured against
a source's labels, a box is first put in that source's convention: its centre moved by (dx * width, dy * height)
and its sides scaled by (e^lw, e^lh). The four numbers per source are the medians, over the source's training
photos (internal validation left out; nothing held out is read), of what takes each of the detector's boxes to
the label it overlaps most (IoU >= 0.3; the detector at score >= 0.3, its first pass). evaluate.py fits them for
the detector it evaluates and writes them to the manifest (metrics.label_conventions), from which
tests/core/models.rs reads them. The product's boxes are not changed: this is how a box is compared with a
label, not what the worker answers.
"""
import numpy as np

from common import internal_split, load_hujingyu, load_orienfish
from detlib import Prepared, iou_matrix, ort_det_outputs, run_dets

FIT_SCORE = 0.3  # the detector's boxes that are fitted: more than the operating point keeps, same convention
FIT_IOU = 0.3  # a box and a label pair up from this overlap (a box in the other convention is often under 0.5)
NMS_IOU = 0.45
SOURCES = {"hujingyu": lambda: load_hujingyu("train"), "orienfish": lambda: load_orienfish("train")}


def relative(box, label):
    """-> [dx, dy, lw, lh]: what puts `box` on `label` (centre shift per side, log scale of each side)"""
    bw, bh = box[2] - box[0], box[3] - box[1]
    lw, lh = label[2] - label[0], label[3] - label[1]
    return [((label[0] + label[2]) - (box[0] + box[2])) / 2 / bw, ((label[1] + label[3]) - (box[1] + box[3])) / 2 / bh,
            float(np.log(lw / bw)), float(np.log(lh / bh))]


def apply(box, p):
    """`box` ([x0, y0, x1, y1, ...]) in the convention `p`; the rest of the row is kept"""
    bw, bh = box[2] - box[0], box[3] - box[1]
    cx, cy = (box[0] + box[2]) / 2 + p[0] * bw, (box[1] + box[3]) / 2 + p[1] * bh
    w, h = bw * np.exp(p[2]), bh * np.exp(p[3])
    return [float(cx - w / 2), float(cy - h / 2), float(cx + w / 2), float(cy + h / 2)] + list(box[4:])


def unapply(label, p):
    """the box whose `apply(box, p)` is `label`: a label put in the detector's own convention"""
    lw, lh = (label[2] - label[0]) * np.exp(-p[2]), (label[3] - label[1]) * np.exp(-p[3])
    cx, cy = (label[0] + label[2]) / 2 - p[0] * lw, (label[1] + label[3]) / 2 - p[1] * lh
    return [float(cx - lw / 2), float(cy - lh / 2), float(cx + lw / 2), float(cy + lh / 2)]


def in_conventions(faces, sources, conv):
    """faces: one list of rows per photo; sources: each photo's source -> the rows in their sources' conventions"""
    return [[apply(f, conv[s]) for f in row] for row, s in zip(faces, sources)]


def fit(det_session):
    """-> ({source: [dx, dy, lw, lh]} for this detector, run at its own input size, rounded to 4 decimals (Rust
    reads the same numbers); {source: pairs fitted})"""
    out, pairs = {}, {}
    for name, load in SOURCES.items():
        train, _ = internal_split(load())
        prep = Prepared([r["path"] for r in train], det_session.get_inputs()[0].shape[2])  # its own input size
        rows = []
        for r, dets in zip(train, run_dets(prep, ort_det_outputs(det_session, prep), FIT_SCORE, NMS_IOU)):
            if not dets or not r["boxes"]:
                continue
            m = iou_matrix([d[:4] for d in dets], r["boxes"])
            for j, label in enumerate(r["boxes"]):
                i = int(np.argmax(m[:, j]))
                if m[i, j] >= FIT_IOU:
                    rows.append(relative(dets[i], label))
        out[name] = [round(float(v), 4) for v in np.median(np.asarray(rows), axis=0)]
        pairs[name] = len(rows)
    return out, pairs


def fit_file(onnx_path):
    """`fit` for the detector in this (absolute) ONNX file"""
    import onnxruntime as ort
    return fit(ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]))
