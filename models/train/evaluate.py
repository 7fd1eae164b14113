"""Evaluate float + int8 models with onnxruntime, choose the score threshold on the internal
validation split (training data), measure held-out figures, write models/manifest.json,
models/fixtures/ and out/metrics.json.

usage: evaluate.py  (expects out/detector.float.onnx, out/landmarks.float.onnx,
                     ../detector.int8.onnx, ../landmarks.int8.onnx)
"""
import hashlib
import json
import os
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

from common import (CROP_SCALE, DET_SIZE, HERE, LMK_SIZE, OUT, PAD, abspath, count_macs, dog_photos, face_crop,
                    internal_split, letterbox, load_cat_landmarks, load_hujingyu, load_orienfish, load_rgb,
                    noncat_photos, to_tensor)
from detlib import Prepared, decode_faces, det_metrics, match_dets, ort_det_outputs, run_dets
from lmklib import eye_error, to_photo

MODELS = os.path.normpath(os.path.join(HERE, ".."))
FIX = os.path.join(MODELS, "fixtures")
NMS_IOU = 0.45

import argparse  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--det-float", default=os.path.join(OUT, "detector.float.onnx"))
ap.add_argument("--det-int8", default=os.path.join(MODELS, "detector.int8.onnx"))
ap.add_argument("--lmk-float", default=os.path.join(OUT, "landmarks.float.onnx"))
ap.add_argument("--lmk-int8", default=os.path.join(MODELS, "landmarks.int8.onnx"))
args = ap.parse_args()
so = ort.SessionOptions()
so.intra_op_num_threads = int(os.environ.get("EVAL_THREADS", "2"))
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
SESS = {
    ("det", "float"): ort.InferenceSession(args.det_float, so, providers=["CPUExecutionProvider"]),
    ("det", "int8"): ort.InferenceSession(args.det_int8, so, providers=["CPUExecutionProvider"]),
    ("lmk", "float"): ort.InferenceSession(args.lmk_float, so, providers=["CPUExecutionProvider"]),
    ("lmk", "int8"): ort.InferenceSession(args.lmk_int8, so, providers=["CPUExecutionProvider"]),
}


def det_raw(kind, prep):
    return ort_det_outputs(SESS[("det", kind)], prep)


def lmk_run(kind, x):
    return SESS[("lmk", kind)].run(["landmarks"], {"input": x[None] if x.ndim == 3 else x})[0][0]


def log(*a):
    s = " ".join(str(x) for x in a)
    print(s, flush=True)
    with open(os.path.join(OUT, "evaluate.log"), "a") as f:
        f.write(s + "\n")


open(os.path.join(OUT, "evaluate.log"), "w").close()
t0 = time.time()

# ------------------------------------------------------------------ threshold on internal val (training data)
_, hj_iv = internal_split(load_hujingyu("train"))
_, of_iv = internal_split(load_orienfish("train"))
_, dogs_iv = internal_split(dog_photos(0))
iv_pos = hj_iv + of_iv
prep_iv, prep_ivd = Prepared([r["path"] for r in iv_pos]), Prepared(dogs_iv)
raw_iv, raw_ivd = det_raw("int8", prep_iv), det_raw("int8", prep_ivd)
cands = []
for thr in np.round(np.arange(0.20, 0.76, 0.025), 3):
    m = det_metrics(run_dets(prep_iv, raw_iv, thr, NMS_IOU), [r["boxes"] for r in iv_pos],
                    {"dogs": run_dets(prep_ivd, raw_ivd, thr, NMS_IOU)})
    f1 = 2 * m["recall"] * m["precision"] / max(1e-9, m["recall"] + m["precision"])
    cands.append((thr, m, f1))
    log(f"internal-val int8 thr {thr:.3f}: R {m['recall']:.3f} P {m['precision']:.3f} F1 {f1:.3f} dogFP/photo {m['fp_per_photo_dogs']:.3f}")
# Rule (session 4, written down before the UltraFace-initialised detector's figures existed): the
# highest internal-val recall among thresholds >= 0.4 with at most one false face on the 19
# internal-val dogs (<= 0.053 per photo, the target is 0.1) and precision >= 0.9; ties ->
# higher threshold. The threshold is this rule's output: nothing held out is looked at to choose it.
# (Sessions 1-3 used "no false face on the 19 dogs" and then kept 0.6 after seeing held-out
# figures; models/README.md records that.)
ok = [c for c in cands if c[0] >= 0.4 and c[1]["fp_per_photo_dogs"] <= 1 / 19 + 1e-9 and c[1]["precision"] >= 0.9]
ok = ok or cands
best = max((c[1]["recall"], c[0]) for c in ok)
THR = float(best[1])
log(f"internal-val rule (recall, at most 1 false face on the 19 dogs, precision >= 0.9) gives {THR}")
log(f"score_threshold {THR}")

# ------------------------------------------------------------------ held-out detection
held_pos = load_hujingyu("val") + load_orienfish("test")
prep_pos = Prepared([r["path"] for r in held_pos])
prep_dog = Prepared(dog_photos(1))
prep_non = Prepared(noncat_photos())
results = {}
dets_cache = {}
for kind in ("float", "int8"):
    rp, rd, rn = det_raw(kind, prep_pos), det_raw(kind, prep_dog), det_raw(kind, prep_non)
    dp = run_dets(prep_pos, rp, THR, NMS_IOU)
    dd, dn = run_dets(prep_dog, rd, THR, NMS_IOU), run_dets(prep_non, rn, THR, NMS_IOU)
    dets_cache[kind] = (dp, dd, dn)
    m = det_metrics(dp, [r["boxes"] for r in held_pos], {"dogs": dd, "noncat": dn})
    n_hj = len(load_hujingyu("val"))
    m_hj = det_metrics(dp[:n_hj], [r["boxes"] for r in held_pos[:n_hj]])
    m_of = det_metrics(dp[n_hj:], [r["boxes"] for r in held_pos[n_hj:]])
    m["recall_hujingyu_val"], m["precision_hujingyu_val"] = m_hj["recall"], m_hj["precision"]
    m["recall_orienfish_test"], m["precision_orienfish_test"] = m_of["recall"], m_of["precision"]
    # recall at IoU 0.3 too (box-convention mismatch diagnostics)
    m["recall_iou30"] = det_metrics(dp, [r["boxes"] for r in held_pos], iou_thr=0.3)["recall"]
    results[kind] = {"detection": m}
    log(kind, "held-out detection", json.dumps(m))
    noncat_hits = {p: len(d) for p, d in zip(prep_non.paths, dn) if d}
    results[kind]["noncat_photos_with_false_faces"] = noncat_hits
    results[kind]["dog_photos_with_false_faces"] = {p: len(d) for p, d in zip(prep_dog.paths, dd) if d}


# informational only (NOT used to choose anything): held-out int8 figures over a range of thresholds
sweep = []
rp8, rd8, rn8 = det_raw("int8", prep_pos), det_raw("int8", prep_dog), det_raw("int8", prep_non)
for t in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7):
    m = det_metrics(run_dets(prep_pos, rp8, t, NMS_IOU), [r["boxes"] for r in held_pos],
                    {"dogs": run_dets(prep_dog, rd8, t, NMS_IOU), "noncat": run_dets(prep_non, rn8, t, NMS_IOU)})
    sweep.append(dict(threshold=t, recall=m["recall"], precision=m["precision"], dog_fp=m["fp_per_photo_dogs"],
                      noncat_fp=m["fp_per_photo_noncat"]))
    log(f"held-out int8 sweep thr {t}: R {m['recall']:.3f} P {m['precision']:.3f} dogFP {m['fp_per_photo_dogs']:.3f} noncatFP {m['fp_per_photo_noncat']:.3f}")
results["held_out_threshold_sweep_int8"] = sweep

# ------------------------------------------------------------------ eyes
# 00000003_015.jpg (976x1024): its .cat points are at half scale (they land on the left ear of a
# 2x-size copy of the CAT image), so it cannot be scored; reported separately
BAD_LANDMARK_FILES = {"00000003_015.jpg"}


def eye_eval(kind):
    out = {}
    # (a) ground-truth face boxes, orienfish test faces with exactly 2 eye boxes
    errs = []
    for r in load_orienfish("test"):
        im = None
        for b, e in zip(r["boxes"], r["eyes"]):
            if e is None:
                continue
            im = im or load_rgb(abspath(r["path"]))
            c, g = face_crop(im, b)
            errs.append(eye_error(to_photo(lmk_run(kind, to_tensor(c)), g), e))
    out["gtbox_orienfish_test"] = dict(n=len(errs), mean=float(np.mean(errs)), p90=float(np.percentile(errs, 90)),
                                       median=float(np.median(errs)))
    # (b) full pipeline: detector -> crop -> landmarks, scored like tests/core/models.rs does it:
    #     orienfish test faces with 2 eye boxes: the detection matched to the face (greedy in score
    #     order, IoU >= 0.5); CAT photos: the highest-scoring detection containing both eyes.
    def detect(im):
        c, sc, ox, oy = letterbox(im)
        s, bx = SESS[("det", kind)].run(["scores", "boxes"], {"input": to_tensor(c)})
        return decode_faces(s[0], bx[0], sc, ox, oy, im.size[0], im.size[1], THR, NMS_IOU)

    def err_for(im, box, eyes):
        cc, g = face_crop(im, box[:4])
        return eye_error(to_photo(lmk_run(kind, to_tensor(cc)), g), eyes)

    def summary(errs, n, miss):
        e = np.sort(np.asarray(errs))
        p90 = float(e[min(len(e), int(np.ceil(0.9 * len(e)))) - 1])  # nearest rank, like the Rust test
        return dict(n=n, detected=len(errs), missed=miss, mean=float(e.mean()), p90=p90, median=float(np.median(e)),
                    frac_over_0_25=float(np.mean(e > 0.25)))

    of_errs, of_n, of_miss = [], 0, 0
    for r in load_orienfish("test"):
        if not any(e is not None for e in r["eyes"]):
            continue
        im = load_rgb(abspath(r["path"]))
        dets = detect(im)
        _, _, _, pairs = match_dets(dets, r["boxes"])
        matched = {j: i for i, j in pairs}
        for j, e in enumerate(r["eyes"]):
            if e is None:
                continue
            of_n += 1
            if j in matched:
                of_errs.append(err_for(im, dets[matched[j]], e))
            else:
                of_miss += 1

    def cat_lmk(items):
        errs, miss = [], 0
        for path, eyes in items:
            im = load_rgb(abspath(path))
            ok = [d for d in detect(im) if all(d[0] <= x <= d[2] and d[1] <= y <= d[3] for x, y in eyes)]
            if not ok:
                miss += 1
                continue
            errs.append(err_for(im, max(ok, key=lambda d: d[4]), eyes))
        return errs, miss

    cl_all = [(r["path"], r["eyes"]) for r in load_cat_landmarks()]
    cl_items = [it for it in cl_all if os.path.basename(it[0]) not in BAD_LANDMARK_FILES]
    cl_errs, cl_miss = cat_lmk(cl_items)
    bad_errs, bad_miss = cat_lmk([it for it in cl_all if os.path.basename(it[0]) in BAD_LANDMARK_FILES])
    out["pipeline_orienfish_test"] = summary(of_errs, of_n, of_miss)
    out["pipeline_cat_landmarks"] = summary(cl_errs, len(cl_items), cl_miss)
    out["pipeline_all"] = summary(of_errs + cl_errs, of_n + len(cl_items), of_miss + cl_miss)
    out["pipeline_all_incl_bad_annotation"] = summary(of_errs + cl_errs + bad_errs, of_n + len(cl_all),
                                                      of_miss + cl_miss + bad_miss)
    return out


for kind in ("float", "int8"):
    results[kind]["eyes"] = eye_eval(kind)
    log(kind, "eyes", json.dumps(results[kind]["eyes"]))

# ------------------------------------------------------------------ sizes / flops / timing
info = {}
for key, p, fl in (("detector", args.det_int8, args.det_float), ("landmarks", args.lmk_int8, args.lmk_float)):
    fname = os.path.basename(p)
    macs, params = count_macs(fl)
    x = np.random.default_rng(0).random((1, 3) + ((DET_SIZE,) * 2 if key == "detector" else (LMK_SIZE,) * 2)).astype(np.float32)
    sess = SESS[("det" if key == "detector" else "lmk", "int8")]
    for _ in range(3):
        sess.run(None, {"input": x})
    t = time.time()
    for _ in range(20):
        sess.run(None, {"input": x})
    info[key] = dict(file=fname, bytes=os.path.getsize(p), sha256=hashlib.sha256(open(p, "rb").read()).hexdigest(),
                     float_bytes=os.path.getsize(fl), params=params, macs=macs, mflops=2 * macs / 1e6,
                     ort_int8_ms=(time.time() - t) / 20 * 1000)
info["total_bytes"] = info["detector"]["bytes"] + info["landmarks"]["bytes"]
info["total_mflops_one_cat"] = info["detector"]["mflops"] + info["landmarks"]["mflops"]
results["models"] = info
results["score_threshold"] = THR
results["nms_iou"] = NMS_IOU
log("models", json.dumps(info))

# ------------------------------------------------------------------ manifest
m8 = results["int8"]
manifest = {
    # "nnef": the tar the worker embeds, converted from "file" by `make nnef`.
    "detector": {"file": "detector.int8.onnx", "nnef": "detector.nnef.tar", "input_size": DET_SIZE, "score_threshold": THR, "nms_iou": NMS_IOU,
                 "pad_value": PAD},
    "landmarks": {"file": "landmarks.int8.onnx", "nnef": "landmarks.nnef.tar", "input_size": LMK_SIZE, "crop_scale": CROP_SCALE, "pad_value": PAD,
                  "points": ["left_eye", "right_eye"]},
    "metrics": {
        "face_recall_iou50": round(m8["detection"]["recall"], 4),
        "face_precision_iou50": round(m8["detection"]["precision"], 4),
        "false_faces_per_dog_photo": round(m8["detection"]["fp_per_photo_dogs"], 4),
        "false_faces_per_noncat_photo": round(m8["detection"]["fp_per_photo_noncat"], 4),
        "eye_error_iod_mean": round(m8["eyes"]["pipeline_all"]["mean"], 4),
        "eye_error_iod_p90": round(m8["eyes"]["pipeline_all"]["p90"], 4),
        "measured_with": (
            f"onnxruntime {ort.__version__} int8 on held-out splits: faces = hujingyu val ({len(load_hujingyu('val'))} photos) "
            f"+ orienfish test ({len(load_orienfish('test'))} photos), {m8['detection']['tp'] + m8['detection']['fn']} boxes; "
            f"dogs = cats-vs-dogs/dog odd sorted index ({len(prep_dog.paths)} photos); non-cat = non-cat-photos "
            f"({len(prep_non.paths)}); eyes = full pipeline (detector box -> crop -> landmarks) on orienfish test faces "
            f"with 2 eye boxes (the detection matched at IoU >= 0.5) + cat-landmarks except 00000003_015 (the "
            f"highest-scoring detection containing both eyes): {m8['eyes']['pipeline_all']['detected']} of "
            f"{m8['eyes']['pipeline_all']['n']} faces found; error = mean of the two eye distances / inter-ocular "
            f"distance; p90 = nearest rank"),
    },
}
json.dump(manifest, open(os.path.join(MODELS, "manifest.json"), "w"), indent=2)
open(os.path.join(MODELS, "manifest.json"), "a").write("\n")

# ------------------------------------------------------------------ fixtures
os.makedirs(FIX, exist_ok=True)
for f in os.listdir(FIX):
    os.remove(os.path.join(FIX, f))
# first held-out photo (sorted) of each cat set with exactly one face found by the int8 model and
# matched to the ground truth, plus a non-cat photo
# (robust fixtures: no raw score within 0.05 of the threshold, the face scores >= threshold + 0.1)
def robust(scores):
    return not np.any(np.abs(scores - THR) < 0.05)


def first_good(recs, dets, raw):
    for k, (r, d) in enumerate(zip(recs, dets)):
        if len(d) == 1 and len(r["boxes"]) == 1 and match_dets(d, r["boxes"])[0] == 1 and d[0][4] >= THR + 0.1 \
                and robust(raw[0][k]):
            return r["path"]
    return recs[0]["path"]


n_hj = len(load_hujingyu("val"))
rp8 = det_raw("int8", prep_pos)
FIXTURE_PHOTOS = [
    ("hj_val", first_good(held_pos[:n_hj], dets_cache["int8"][0][:n_hj], (rp8[0][:n_hj],))),
    ("of_test", first_good(held_pos[n_hj:], dets_cache["int8"][0][n_hj:], (rp8[0][n_hj:],))),
    ("noncat", "../shared/data/non-cat-photos/tract_grace_hopper.jpg"),
]


def top10(s, b):
    idx = np.argsort(-s, kind="stable")[:10]
    return {"top_scores": [float(s[i]) for i in idx], "top_boxes": [[float(v) for v in b[i]] for i in idx],
            "top_indices": [int(i) for i in idx]}


parity = []
for name, path in FIXTURE_PHOTOS:
    im = load_rgb(abspath(path))
    canvas, sc, ox, oy = letterbox(im)
    canvas.save(os.path.join(FIX, f"det_{name}.png"), optimize=True)
    x = to_tensor(Image.open(os.path.join(FIX, f"det_{name}.png")).convert("RGB"))
    e = {"photo": path, "det_canvas": f"det_{name}.png", "photo_size": list(im.size), "scale": sc, "offset": [ox, oy]}
    s8, b8 = SESS[("det", "int8")].run(["scores", "boxes"], {"input": x})
    sf, bf = SESS[("det", "float")].run(["scores", "boxes"], {"input": x})
    e["det_int8_ort"] = top10(s8[0], b8[0])
    e["det_float"] = top10(sf[0], bf[0])
    faces = decode_faces(s8[0], b8[0], sc, ox, oy, im.size[0], im.size[1], THR, NMS_IOU)
    e["faces_after_nms"] = faces
    if faces:
        box = faces[0][:4]
        c, g = face_crop(im, box)
        c.save(os.path.join(FIX, f"lmk_{name}.png"), optimize=True)
        xl = to_tensor(Image.open(os.path.join(FIX, f"lmk_{name}.png")).convert("RGB"))
        e["lmk_canvas"] = f"lmk_{name}.png"
        e["lmk_box"] = box
        e["lmk_crop_left_top_side"] = list(g)
        e["lmk_int8_ort"] = [float(v) for v in lmk_run("int8", xl)]
        e["lmk_float"] = [float(v) for v in lmk_run("float", xl)]
        e["eyes_photo_px_int8"] = to_photo(e["lmk_int8_ort"], g).tolist()
    else:
        e.update({"lmk_canvas": None, "lmk_box": None, "lmk_int8_ort": None, "lmk_float": None})
    parity.append(e)
    log("fixture", name, path, "faces", faces)
json.dump(parity, open(os.path.join(FIX, "parity.json"), "w"), indent=1)
results["fixtures"] = [p["photo"] for p in parity]
results["eval_seconds"] = time.time() - t0
json.dump(results, open(os.path.join(OUT, "metrics.json"), "w"), indent=2)
log("wrote manifest, fixtures, metrics in", round(time.time() - t0), "s")
