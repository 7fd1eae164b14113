"""Run a detector over every training photo at a low score threshold and store what it found, for the
face check (verifier) and the landmark crops: real detector boxes, hard negatives, recall headroom.

Nothing held out is read. Output rows: path, set (hujingyu / orienfish / dog / cvd_cat), internal (every 10th of
each sorted training list, as evaluate.py), gt boxes, gt eyes, dets [x0,y0,x1,y1,score].
usage: mine.py detector.onnx out.json [threshold]
"""
import json
import sys

import onnxruntime as ort

from common import dog_photos, internal_split, load_hujingyu, load_orienfish, unlabelled_cat_photos
from detlib import Prepared, ort_det_outputs, run_dets

src, dst = sys.argv[1:3]
thr = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
so = ort.SessionOptions()
so.intra_op_num_threads = 2
sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
rows = []
for name, recs in (("hujingyu", load_hujingyu("train")), ("orienfish", load_orienfish("train")),
                   ("dog", [dict(path=p, boxes=[], eyes=[]) for p in dog_photos(0)]),
                   # unlabelled cats: their confident detections are pseudo-labelled faces for the face check
                   ("cvd_cat", [dict(path=p, boxes=[], eyes=[]) for p in unlabelled_cat_photos()])):
    tr, iv = internal_split(recs)
    ivp = {r["path"] for r in iv}
    prep = Prepared([r["path"] for r in recs])
    dets = run_dets(prep, ort_det_outputs(sess, prep), thr, 0.45)
    for r, d in zip(recs, dets):
        rows.append(dict(path=r["path"], set=name, internal=r["path"] in ivp, boxes=r["boxes"], eyes=r["eyes"],
                         dets=d))
    print(name, len(recs), "photos", sum(len(d) for d in dets), "detections >=", thr, flush=True)
json.dump(rows, open(dst, "w"))
