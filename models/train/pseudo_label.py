"""Pseudo-label cats-vs-dogs/cat (unlabelled cat photos) with a trained detector.

Faces scoring >= LABEL become boxes; detections in [IGNORE, LABEL) become ignore regions (neither
positive nor negative). Photos with no face >= LABEL are left out.
usage: pseudo_label.py detector.float.onnx out.json
"""
import json
import sys

import onnxruntime as ort

from common import unlabelled_cat_photos
from detlib import Prepared, ort_det_outputs, run_dets

LABEL, IGNORE, NMS_IOU = 0.7, 0.25, 0.45
src, dst = sys.argv[1:3]
paths = unlabelled_cat_photos()
so = ort.SessionOptions()
so.intra_op_num_threads = 2
sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
prep = Prepared(paths)
dets = run_dets(prep, ort_det_outputs(sess, prep), IGNORE, NMS_IOU)
out = []
for p, d in zip(paths, dets):
    boxes = [x[:4] for x in d if x[4] >= LABEL]
    if boxes:
        out.append({"path": p, "boxes": boxes, "ignore": [x[:4] for x in d if x[4] < LABEL]})
json.dump(out, open(dst, "w"))
print(f"{len(out)} of {len(paths)} photos labelled: {sum(len(r['boxes']) for r in out)} faces, "
      f"{sum(len(r['ignore']) for r in out)} ignore regions")
