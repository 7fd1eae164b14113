"""Run a detector over every training photo at a low score threshold and store what it found, for the
face check (verifier), the landmark crops and the detector's pseudo-labels: real detector boxes, hard
negatives, recall headroom.

Nothing held out is read. Output rows: path, set (hujingyu / orienfish / dog / cvd_cat / pets_cat / pets_dog),
internal (every 10th of each sorted training list, as evaluate.py; for pets/, its internal-validation split),
gt boxes, gt eyes, dets [x0,y0,x1,y1,score] and, with --teachers (teachers.py's cache), for pets/ and
cats-vs-dogs cat photos each detection's EfficientNet-Lite0 judgement on its crop, crop_cat / crop_dog.
usage: mine.py detector.onnx out.json [threshold] [--teachers teachers.json]
"""
import argparse
import json

import onnxruntime as ort

from common import (abspath, dog_photos, internal_split, load_hujingyu, load_orienfish, load_rgb, pets_photos,
                    unlabelled_cat_photos)
from detlib import Prepared, ort_det_outputs, run_dets

ap = argparse.ArgumentParser()
ap.add_argument("src")
ap.add_argument("dst")
ap.add_argument("thr", type=float, nargs="?", default=0.1)
ap.add_argument("--teachers", default="")
ap.add_argument("--sets", default="hujingyu,orienfish,dog,cvd_cat,pets_cat,pets_dog")
args = ap.parse_args()
so = ort.SessionOptions()
so.intra_op_num_threads = 2
sess = ort.InferenceSession(args.src, so, providers=["CPUExecutionProvider"])
S = sess.get_inputs()[0].shape[2]  # the detector's own input side
T = None
if args.teachers:
    from teachers import Teachers
    T = Teachers()
rows = []


def pets(kind):
    tr, iv = pets_photos(kind, "train"), pets_photos(kind, "internal")
    return [dict(path=p, boxes=[], eyes=[]) for p in tr + iv], set(iv)


for name in args.sets.split(","):
    if name in ("pets_cat", "pets_dog"):
        recs, ivp = pets("cats" if name == "pets_cat" else "dogs")
    else:
        recs = {"hujingyu": lambda: load_hujingyu("train"), "orienfish": lambda: load_orienfish("train"),
                "dog": lambda: [dict(path=p, boxes=[], eyes=[]) for p in dog_photos(0)],
                # unlabelled cats: their confident detections are pseudo-labelled faces
                "cvd_cat": lambda: [dict(path=p, boxes=[], eyes=[]) for p in unlabelled_cat_photos()]}[name]()
        tr, iv = internal_split(recs)
        ivp = {r["path"] for r in iv}
    dets = []
    for i in range(0, len(recs), 500):  # in chunks: pets/ is 7,000 photos
        prep = Prepared([r["path"] for r in recs[i:i + 500]], S)
        dets += run_dets(prep, ort_det_outputs(sess, prep), args.thr, 0.45)
    for r, d in zip(recs, dets):
        row = dict(path=r["path"], set=name, internal=r["path"] in ivp, boxes=r["boxes"], eyes=r["eyes"], dets=d)
        if T is not None and name in ("cvd_cat", "pets_cat"):  # the rules read it on cat photos only
            pc, pd = T.crop_cat_dog(load_rgb(abspath(r["path"])), [x[:4] for x in d])
            row["crop_cat"], row["crop_dog"] = [float(v) for v in pc], [float(v) for v in pd]
        rows.append(row)
    print(name, len(recs), "photos", sum(len(d) for d in dets), "detections >=", args.thr, flush=True)
json.dump(rows, open(args.dst, "w"))
