"""Evaluate the models with onnxruntime: pick the thresholds and the eyes' second pass on the internal
validation split (training photos that are not trained on), then, only with --held-out, measure the
held-out figures, and write models/manifest.json, models/fixtures/ and out/metrics.json.

The pipeline is the Rust one (pipeline::find_cats): the detector's candidates at `score_threshold`
(NMS 0.45), each checked by the landmark model's face score (`face_threshold`); a kept face's eyes come
from its crop, then from the `second_pass` (none, flip: the mirrored crop averaged in, refine: a crop
re-centred on the first pass's eyes).

A kept face matches a label at IoU >= 0.5 once its box is in the label's source's convention (session 20:
conventions.py, fitted here on each source's training photos for the detector evaluated, and written to the
manifest for tests/core/models.rs).

usage: evaluate.py [--held-out]  (expects out/detector.float.onnx, out/landmarks.float.onnx,
                                  ../detector.int8.onnx, ../landmarks.int8.onnx, out/mined.json)
"""
import argparse
import hashlib
import json
import os
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

import conventions
from common import (CROP_SCALE, REFINE_CROP_SCALE, DET_SIZE, HERE, LMK_SIZE, REPO, OUT, PAD, abspath, count_macs,
                    dog_photos, face_crop, gate_crop,
                    internal_split, letterbox, load_cat_landmarks, load_hujingyu, load_orienfish, load_rgb,
                    noncat_photos, pets_photos, rnd, to_tensor)
from detlib import Prepared, decode_faces, match_dets, nms, ort_det_outputs, run_dets
from lmklib import eye_error, faces_with_eyes, to_photo

MODELS = os.path.normpath(os.path.join(HERE, ".."))
FIX = os.path.join(MODELS, "fixtures")
NMS_IOU = 0.45
MIN_DET = 0.15  # the lowest detector threshold considered
# The tile pass (session 11): when the first pass keeps no face, the detector looks again at square tiles as
# tall as a landscape photo (as wide as a portrait one), side by side along its length, evenly spaced and
# overlapping: ceil(long / short) of them, at most TILE_MAX, and none for a photo within 5 % of square (its
# one tile would be the first pass again). A small face in a wide photo is then seen at up to TILE_MAX times
# the first pass's scale. Faces from every tile meet in one NMS. EDGECAT_TILES=0 turns it off.
TILES = os.environ.get("EDGECAT_TILES", "1") != "0"
TILE_MAX = 3
T_TILE = None  # the tile pass's score threshold, chosen below (None: no tile pass)
# The face check's score (session 16): "first", the first pass's crop alone (sessions 8-15); "refine", the mean
# of the first pass's and the refine crop's (the crop re-centred on the first pass's eyes, which a kept face
# runs anyway for its eyes); "flip", the mean with the mirrored crop's. EDGECAT_FACE_MODES lists the ones the
# threshold rule may choose from.
FACE_MODES = os.environ.get("EDGECAT_FACE_MODES", "first").split()
FACE_MODE = "first"


def face_score(c, mode=None):
    """a candidate's face check score under `mode` (default: the chosen FACE_MODE)"""
    mode = mode or FACE_MODE
    if mode == "gate_mean":  # session 19: the face check's and the gate's scores averaged
        return (c[5] + c[9]) / 2
    if mode == "det_mean":  # session 19: the face check's and the detector's scores averaged
        return (c[4] + c[5]) / 2
    if mode == "det_geo":  # and their geometric mean
        return float(np.sqrt(c[4] * c[5]))
    return c[5] if mode == "first" else (c[5] + c[7 if mode == "flip" else 8]) / 2


def tiles_of(W, H):
    """-> [(left, top, side)] of the tile pass; [] for a squarish photo (as detector.rs's `tiles`)"""
    lo, hi = min(W, H), max(W, H)
    if hi < 1.05 * lo:
        return []
    k = min(TILE_MAX, -(-hi // lo))
    offs = [rnd(i * (hi - lo) / (k - 1)) for i in range(k)]
    return [(o, 0, lo) if W >= H else (0, o, lo) for o in offs]

ap = argparse.ArgumentParser()
ap.add_argument("--det-float", default=os.path.join(OUT, "detector.float.onnx"))
ap.add_argument("--det-int8", default=os.path.join(MODELS, "detector.int8.onnx"))
ap.add_argument("--lmk-float", default=os.path.join(OUT, "landmarks.float.onnx"))
ap.add_argument("--lmk-int8", default=os.path.join(MODELS, "landmarks.int8.onnx"))
# the cat-or-dog gate (session 19): used when its int8 file exists; its threshold joins the rule's grid
ap.add_argument("--gate-float", default=os.path.join(OUT, "gate.float.onnx"))
ap.add_argument("--gate-int8", default=os.path.join(MODELS, "gate.int8.onnx"))
ap.add_argument("--held-out", action="store_true", help="also measure the held-out splits and write the manifest")
args = ap.parse_args()
if not os.path.exists(args.det_float):
    # The shipped detector's float export is a training output (out/, not committed): without a detector
    # run in this checkout, "float" below means the int8 detector with the float landmark model.
    print(f"{args.det_float} is missing: the float figures use the int8 detector")
    args.det_float = args.det_int8
so = ort.SessionOptions()
so.intra_op_num_threads = int(os.environ.get("EVAL_THREADS", "2"))
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
SESS = {
    ("det", "float"): ort.InferenceSession(args.det_float, so, providers=["CPUExecutionProvider"]),
    ("det", "int8"): ort.InferenceSession(args.det_int8, so, providers=["CPUExecutionProvider"]),
    ("lmk", "float"): ort.InferenceSession(args.lmk_float, so, providers=["CPUExecutionProvider"]),
    ("lmk", "int8"): ort.InferenceSession(args.lmk_int8, so, providers=["CPUExecutionProvider"]),
}
HAS_FACE = len(SESS[("lmk", "int8")].get_outputs()) > 1
HAS_GATE = os.path.exists(args.gate_int8)
if HAS_GATE:
    if not os.path.exists(args.gate_float):
        args.gate_float = args.gate_int8
    for kind, path in (("float", args.gate_float), ("int8", args.gate_int8)):
        SESS[("gate", kind)] = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
T_GATE = None  # the gate's threshold, chosen below (None: no gate)
TILE_FACE = 0.0  # the tile pass's face check threshold less the first pass's (session 19), chosen below


def gate_run(kind, im, box):
    """the gate's "cat" probability for the face in `box` (1.0 without a gate)"""
    if not HAS_GATE:
        return 1.0
    c, _ = gate_crop(im, box)
    return float(SESS[("gate", kind)].run(None, {"input": to_tensor(c)})[0].ravel()[0])


def log(*a):
    s = " ".join(str(x) for x in a)
    print(s, flush=True)
    with open(os.path.join(OUT, "evaluate.log"), "a") as f:
        f.write(s + "\n")


def lmk_run(kind, x):
    """-> (4 normalised eye coordinates, face score; 1.0 for a model without the face check)"""
    out = SESS[("lmk", kind)].run(None, {"input": x[None] if x.ndim == 3 else x})
    return out[0][0], (float(out[1].ravel()[0]) if HAS_FACE else 1.0)


def mirror(lmk):
    """landmarks of a mirrored crop -> the crop's own (x -> 1 - x, and the eyes swap)"""
    p = np.asarray(lmk, np.float64).reshape(2, 2)[::-1].copy()
    p[:, 0] = 1 - p[:, 0]
    return p.ravel()


# The refine pass's box, from the first pass's eyes: a square of side SIDE * IOD centred OFFSET * IOD
# below the eyes' midpoint (perpendicular to the eye line). Fitted (medians) on the training eye faces.
def fit_refine_box():
    tr, _ = internal_split(load_orienfish("train"))
    off, side = [], []
    for f in faces_with_eyes(tr):
        (lx, ly), (rx, ry) = f["eyes"]
        iod = np.hypot(rx - lx, ry - ly)
        if iod < 2:
            continue
        n = np.array([-(ry - ly), rx - lx]) / iod  # perpendicular, pointing down for an upright face
        b = f["box"]
        c = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
        off.append(float((c - [(lx + rx) / 2, (ly + ry) / 2]) @ n) / iod)
        side.append(max(b[2] - b[0], b[3] - b[1]) / iod)
    return float(np.median(off)), float(np.median(side))


REFINE_OFFSET, REFINE_SIDE = fit_refine_box()
# The refine crop is cut as every crop is, CROP_SCALE x its box: its box is sized so that the crop stays
# REFINE_CROP_SCALE x a face box when the first crop is wider (EDGECAT_CROP_SCALE)
REFINE_SIDE *= REFINE_CROP_SCALE / CROP_SCALE


def refine_box(eyes):
    (lx, ly), (rx, ry) = np.asarray(eyes, np.float64).reshape(2, 2)
    iod = max(np.hypot(rx - lx, ry - ly), 1.0)
    n = np.array([-(ry - ly), rx - lx]) / iod
    c = np.array([(lx + rx) / 2, (ly + ry) / 2]) + REFINE_OFFSET * iod * n
    h = REFINE_SIDE * iod / 2
    return [c[0] - h, c[1] - h, c[0] + h, c[1] + h]


def eyes_for(kind, im, box, second_pass, first=None):
    """photo-pixel eyes (2x2) of the face in `box`, as the Rust pipeline computes them"""
    c, g = face_crop(im, box)
    lmk = first if first is not None else lmk_run(kind, to_tensor(c))[0]
    if second_pass == "flip":
        lmk2 = mirror(lmk_run(kind, to_tensor(c.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))[0])
        return to_photo((np.asarray(lmk, np.float64) + lmk2) / 2, g)
    eyes = to_photo(lmk, g)
    if second_pass in ("refine", "refine_mean"):
        c2, g2 = face_crop(im, refine_box(eyes))
        refined = to_photo(lmk_run(kind, to_tensor(c2))[0], g2)
        return refined if second_pass == "refine" else (eyes + refined) / 2
    return eyes


class Candidates:
    """Every photo's detector candidates at MIN_DET after NMS, each with its face check score and first
    landmark pass: [x0, y0, x1, y1, det score, face score, lmk (4,), flip face, refine face, gate]."""

    def __init__(self, kind, paths):
        self.kind, self.paths = kind, paths
        prep = Prepared(paths)
        self.sizes = [it[4] for it in prep.items]  # (W, H) as loaded (EXIF-turned)
        dets = run_dets(prep, ort_det_outputs(SESS[("det", kind)], prep), MIN_DET, NMS_IOU)
        self.cands = []
        for p, ds in zip(paths, dets):
            im = load_rgb(abspath(p)) if ds else None
            row = []
            for d in ds:
                row.append(d[:5] + self._checked(im, d[:4]))
            self.cands.append(row)
        # the tile pass's candidates, same layout, for every photo (used only when the first pass keeps none)
        self.tiles = [self._tiles(p) if TILES else [] for p in paths]

    def _tiles(self, path):
        im = load_rgb(abspath(path))
        W, H = im.size
        found = []
        for left, top, side in tiles_of(W, H):
            canvas, _ = face_crop(im, (left, top, left + side, top + side), L=DET_SIZE, crop_scale=1.0)
            sc_, bx_ = SESS[("det", self.kind)].run(["scores", "boxes"], {"input": to_tensor(canvas)})
            scale = DET_SIZE / side  # canvas = (photo - left) * scale
            found += decode_faces(sc_[0], bx_[0], scale, -left * scale, -top * scale, W, H, MIN_DET, NMS_IOU)
        found = [d for d in found if d[2] - d[0] >= 1 and d[3] - d[1] >= 1]  # what Rust drops after clipping
        if not found:
            return []
        keep = nms(np.array([d[:4] for d in found], np.float64), np.array([d[4] for d in found]), NMS_IOU)
        return [d[:5] + self._checked(im, d[:4]) for d in (found[i] for i in keep)]

    def _checked(self, im, box):
        """-> [face score, first-pass landmarks, mirrored crop's face score, refine crop's face score, gate]"""
        c, g = face_crop(im, box)
        lmk, face = lmk_run(self.kind, to_tensor(c))
        gate = gate_run(self.kind, im, box)
        if not {"flip", "refine"} & set(FACE_MODES):  # no mode reads the second crops' scores
            return [face, lmk, face, face, gate]
        _, face_flip = lmk_run(self.kind, to_tensor(c.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
        c2, _ = face_crop(im, refine_box(to_photo(lmk, g)))
        _, face_refine = lmk_run(self.kind, to_tensor(c2))
        return [face, lmk, face_flip, face_refine, gate]

    def faces(self, t_det, t_face, t_tile="chosen", mode=None, t_gate="chosen", tile_face="chosen"):
        t_tile = T_TILE if t_tile == "chosen" else t_tile
        tg = (T_GATE if t_gate == "chosen" else t_gate) or 0.0
        tf = round(t_face + (TILE_FACE if tile_face == "chosen" else tile_face), 4)
        ok = lambda c, t, f: c[4] >= t and face_score(c, mode) >= f and c[9] >= tg  # noqa: E731
        first = [[c for c in row if ok(c, t_det, t_face)] for row in self.cands]
        if t_tile is None:
            return first
        return [f or [c for c in z if ok(c, t_tile, tf)] for f, z in zip(first, self.tiles)]


def metrics(faces_pos, gts, negs=None, iou_thr=0.5):
    TP = FP = FN = 0
    for d, g in zip(faces_pos, gts):
        tp, fp, fn, _ = match_dets(d, g, iou_thr)
        TP, FP, FN = TP + tp, FP + fp, FN + fn
    r = dict(recall=TP / max(1, TP + FN), precision=TP / max(1, TP + FP), tp=TP, fp=FP, fn=FN)
    for name, dn in (negs or {}).items():
        r["fp_per_photo_" + name] = sum(len(d) for d in dn) / max(1, len(dn))
        r["photos_with_fp_" + name] = sum(1 for d in dn if d)
    return r


def eye_faces_orienfish(recs):
    return [(r["path"], r["boxes"], r["eyes"]) for r in recs if any(e is not None for e in r["eyes"])]


def eye_scores(kind, cands, items, t_det, t_face, second_pass, cat_landmarks=()):
    """Eye error per labelled face through the pipeline, a missed face counted as None.
    items: orienfish-style (path, boxes, eyes) - the kept face matched at IoU >= 0.5 in orienfish's box
    convention (its eyes come from the pipeline's own box); cat_landmarks:
    (path, eyes) - the highest-scoring kept face containing both eyes."""
    out = []
    idx = {p: i for i, p in enumerate(cands.paths)}
    for path, boxes, eyes in items:
        faces = cands.faces(t_det, t_face)[idx[path]]
        _, _, _, pairs = match_dets([conventions.apply(f, CONV["orienfish"]) for f in faces], boxes)
        matched = {j: i for i, j in pairs}
        im = load_rgb(abspath(path))
        for j, e in enumerate(eyes):
            if e is None:
                continue
            if j in matched:
                f = faces[matched[j]]
                out.append((path, e, eyes_for(kind, im, f[:4], second_pass, f[6]).tolist()))
            else:
                out.append((path, e, None))
    for path, e in cat_landmarks:
        faces = cands.faces(t_det, t_face)[idx[path]]
        ok = [f for f in faces if all(f[0] <= x <= f[2] and f[1] <= y <= f[3] for x, y in e)]
        if ok:
            f = max(ok, key=lambda f: f[4])
            out.append((path, e, eyes_for(kind, load_rgb(abspath(path)), f[:4], second_pass, f[6]).tolist()))
        else:
            out.append((path, e, None))
    return out


def eye_summary(scored):
    found = [eye_error(p, e) for _, e, p in scored if p is not None]
    allv = np.sort(np.asarray(found + [1.0] * (len(scored) - len(found))))
    f = np.sort(np.asarray(found)) if found else np.array([1.0])
    nr = lambda a, q: float(a[min(len(a), int(np.ceil(q * len(a)))) - 1])  # nearest rank, like the Rust test
    return dict(n=len(scored), found=len(found), missed=len(scored) - len(found),
                mean=float(allv.mean()), p90=nr(allv, 0.9), mean_found=float(f.mean()), p90_found=nr(f, 0.9),
                median_found=float(np.median(f)), frac_found_over_0_25=float(np.mean(f > 0.25)))


open(os.path.join(OUT, "evaluate.log"), "w").close()
t0 = time.time()
log(f"refine box: side {REFINE_SIDE:.3f} x IOD, centre {REFINE_OFFSET:.3f} x IOD below the eyes")
# Each labelled source's box convention, fitted on its training photos for this detector (conventions.py): a
# box is put in its label's convention before the IoU >= 0.5 match, here and in tests/core/models.rs.
# EDGECAT_CONVENTIONS=0: every box as the detector gives it (sessions 1-19).
CONV, CONV_PAIRS = conventions.fit(SESS[("det", "int8")])
if os.environ.get("EDGECAT_CONVENTIONS") == "0":
    CONV = {k: [0.0] * 4 for k in CONV}
log(f"label conventions [dx, dy, log w, log h] per source: {json.dumps(CONV)} (pairs fitted: {json.dumps(CONV_PAIRS)})")

# ------------------------------------------------------------------ choices on internal val (training data)
_, hj_iv = internal_split(load_hujingyu("train"))
_, of_iv = internal_split(load_orienfish("train"))
_, dogs_iv = internal_split(dog_photos(0))
iv_pos = hj_iv + of_iv
iv_src = ["hujingyu"] * len(hj_iv) + ["orienfish"] * len(of_iv)
civ = Candidates("int8", [r["path"] for r in iv_pos])
# session 9: pets/'s internal-validation split joins: its dogs (with cats-vs-dogs' 19) and its cats (the share
# of cat photos with a find)
civd = Candidates("int8", dogs_iv + pets_photos("dogs", "internal"))
civc = Candidates("int8", pets_photos("cats", "internal"))
log(f"internal val: {len(iv_pos)} labelled photos, {len(civd.paths)} dogs, {len(civc.paths)} pets/ cats")


def found_share(c, t_det, t_face, t_tile="chosen", mode=None, t_gate="chosen", tile_face="chosen"):
    return float(np.mean([bool(f) for f in c.faces(t_det, t_face, t_tile, mode, t_gate, tile_face)]))


grid = []
TILE_GRID = [None] + ([float(z) for z in np.round(np.arange(0.3, 0.851, 0.05), 3)] if TILES else [])
# the gate's threshold (session 19): none, or 0.05-0.6
GATE_GRID = [None] + ([0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6] if HAS_GATE else [])
if os.environ.get("EDGECAT_GATE_GRID"):  # e.g. "none" with face mode gate_mean
    GATE_GRID = [None if v == "none" else float(v) for v in os.environ["EDGECAT_GATE_GRID"].split()]
# the tile pass's own face check threshold, as an offset over the first pass's (session 19; EDGECAT_TILE_FACE,
# e.g. "0 0.1 0.2 0.3 0.4 0.5"; off by default): a photo whose first pass kept nothing is more often not a cat.
# Tried in session 19 and not kept (models/README.md): the Rust pipeline has no field for it.
TILE_FACE_GRID = [float(v) for v in os.environ.get("EDGECAT_TILE_FACE", "0").split()]
for mode in FACE_MODES:
    for t_det in np.round(np.arange(0.15, 0.826, 0.025), 3):
        for t_face in (np.round(np.arange(0.1, 0.951, 0.05), 3) if HAS_FACE else [0.0]):
            for t_tile in TILE_GRID:
                for t_gate in GATE_GRID:
                    for tf in (TILE_FACE_GRID if t_tile is not None else [0.0]):
                        if tf and t_face + tf > 0.951:
                            continue
                        m = metrics(conventions.in_conventions(civ.faces(t_det, t_face, t_tile, mode, t_gate, tf), iv_src, CONV),
                                    [r["boxes"] for r in iv_pos],
                                    {"dogs": civd.faces(t_det, t_face, t_tile, mode, t_gate, tf)})
                        m["pets_cats_found"] = found_share(civc, t_det, t_face, t_tile, mode, t_gate, tf)
                        m["face_mode"] = mode
                        m["gate_threshold"] = t_gate
                        m["tile_face_offset"] = tf
                        grid.append((float(t_det), float(t_face), m, t_tile))
# Rule (session 8, written down before any held-out figure of the face-checked pipeline existed): among
# (score_threshold, face_threshold) with no false face on the 19 internal-val dogs and internal-val
# precision >= 0.97 (the targets, as far as 19 dogs can show them), the highest internal-val
# recall; ties -> the higher face threshold, then the higher detector threshold (fewer landmark passes).
# If no pair meets both: among those with no false face on the dogs, the highest recall + precision.
# Nothing held out is looked at to choose them.
# Session 8, before the second held-out look: a product constraint joins the rule. Every curated
# in-the-wild cat of tests/http/hipsterize.test.mjs (cat-photos/, never trained on) must keep a face.
# The list tests/http/hipsterize.test.mjs and tests/core/models.rs read (the rule is written there).
CURATED = [f"../shared/data/cat-photos/{p}" for p in
           json.load(open(os.path.join(REPO, "tests", "curated-cats.json")))["photos"]]
ccur = Candidates("int8", CURATED)
grid = [g for g in grid if all(row for row in ccur.faces(g[0], g[1], g[3], g[2]["face_mode"], g[2]["gate_threshold"],
                                                          g[2]["tile_face_offset"]))]
# Session 9's rule (written before the first held-out look of session 9): with 613 internal dogs, at most 4
# false faces on them (0.0065 per photo, under issue 25's 0.01) and internal precision >= 0.97; among those
# the highest mean of internal recall and the internal pets/ cats' found share; ties -> the higher face
# threshold, then the higher detector threshold. If none (session 9: none, with the curated cats kept): the
# same objective with at most 0.02 false faces per internal dog (twice the target) and precision >= 0.96, then
# 0.03 / 0.95. (A first fallback, "the fewest dog false faces", was replaced before its held-out look: it gave
# recall 0.835 and a pets/ cat find rate of 0.83 on internal validation for 0.015 dog false faces.)
if not grid:
    raise SystemExit("no thresholds keep every curated cat: this detector cannot ship (the product constraint above)")
DOG_FP_MAX = 4 / 613
# Session 19 tried a tier between the first two (EDGECAT_MID_TIER=1: at most 0.015 false faces per internal dog,
# 9 of 613, precision >= 0.97) with the tile pass's own face threshold; held out, what it chose let through more
# dogs, not fewer (models/README.md, session 19). Off by default.
MID_TIER = [(0.015, 0.97)] if os.environ.get("EDGECAT_MID_TIER") == "1" else []
# session 16: ties prefer the first pass's face check alone (a rejected face costs one pass, not two)
# session 19: then the higher gate threshold (no gate lowest)
key = lambda g: (round(g[2]["recall"] + g[2]["pets_cats_found"], 6), g[2]["face_mode"] == "first", g[1], g[0],  # noqa: E731
                 g[2]["gate_threshold"] or 0.0, -g[2]["tile_face_offset"])
for fp_max, p_min in [(DOG_FP_MAX, 0.97)] + MID_TIER + [(0.02, 0.96), (0.03, 0.95), (1.0, 0.0)]:
    ok = [g for g in grid if g[2]["fp_per_photo_dogs"] <= fp_max + 1e-9 and g[2]["precision"] >= p_min]
    if ok:
        best = max(ok, key=key)
        log(f"threshold rule: dog false faces <= {fp_max:.4f} per internal dog, precision >= {p_min}")
        break
T_DET, T_FACE, T_TILE = best[0], best[1], best[3]
T_GATE = best[2]["gate_threshold"]
TILE_FACE = best[2]["tile_face_offset"]
if TILE_FACE and args.held_out:
    raise SystemExit("the rule chose a tile-pass face threshold of its own: the Rust pipeline and the manifest have no "
                     "field for it (session 19 had one, and reverted it); implement it there before shipping")
FACE_MODE = best[2]["face_mode"]
if FACE_MODE != "first" and args.held_out:
    # The manifest has no field for it: landmarks.rs scores the first crop alone.
    raise SystemExit(f"the rule chose face mode {FACE_MODE}: the Rust pipeline scores the first crop only; "
                     "implement it there (and in the manifest) before shipping")
for mode in FACE_MODES:  # each mode's best under the tier the rule used, for the model card
    ok_m = [g for g in ok if g[2]["face_mode"] == mode]
    if ok_m:
        b = max(ok_m, key=key)
        log(f"face mode {mode}: best det {b[0]:.3f} face {b[1]:.2f} tiles {b[3]}: {json.dumps(b[2])}")
for mode in FACE_MODES:  # and at a few dog false-face caps (precision >= 0.96), to compare the modes
    for cap in (4 / 613, 0.01, 0.0131, 0.0196):
        ok_m = [g for g in grid if g[2]["face_mode"] == mode and g[2]["fp_per_photo_dogs"] <= cap + 1e-9
                and g[2]["precision"] >= 0.96]
        if ok_m:
            b = max(ok_m, key=key)
            log(f"face mode {mode}, dog FP <= {cap:.4f}: det {b[0]:.3f} face {b[1]:.2f} tiles {b[3]} gate {b[2]['gate_threshold']}: R {b[2]['recall']:.3f} "
                f"P {b[2]['precision']:.3f} dogFP {b[2]['fp_per_photo_dogs']:.4f} pets cats found {b[2]['pets_cats_found']:.3f}")
for g in grid:
    if (g[1] in (T_FACE, 0.1) or g[0] == T_DET) and g[3] == T_TILE and g[2]["face_mode"] == FACE_MODE \
            and g[2]["gate_threshold"] == T_GATE and g[2]["tile_face_offset"] == TILE_FACE:
        log(f"internal-val det {g[0]:.3f} face {g[1]:.2f} tiles {g[3]}: R {g[2]['recall']:.3f} P {g[2]['precision']:.3f} "
            f"dogFP {g[2]['fp_per_photo_dogs']:.4f} pets cats found {g[2]['pets_cats_found']:.3f}")
log(f"internal-val rule gives score_threshold {T_DET}, face_threshold {T_FACE}, tile pass {T_TILE} (face check "
    f"+{TILE_FACE}), face mode {FACE_MODE}, gate {T_GATE}: {json.dumps(best[2])}")
json.dump([dict(score_threshold=g[0], face_threshold=g[1], tile_threshold=g[3], **g[2]) for g in grid],
          open(os.path.join(OUT, "internal_grid.json"), "w"), indent=0)

# The second pass: the lowest internal-val mean eye error (orienfish internal-val eye faces; a miss counts
# 1.0); "none" unless another is better by more than 0.002.
iv_eye_items = eye_faces_orienfish(of_iv)
PASSES = ("none", "flip", "refine", "refine_mean")
pass_scores = {sp: eye_summary(eye_scores("int8", civ, iv_eye_items, T_DET, T_FACE, sp)) for sp in PASSES}
for sp, s in pass_scores.items():
    log(f"internal-val eyes, second pass {sp}: {json.dumps(s)}")


# Stability (session 8, before the second held-out look): the eyes may move at most 0.06 IOD when a photo
# is stored transformed and JPEG-encoded again (what tests/http/hipsterize.test.mjs's EXIF test allows
# 0.08 for), on that test's three photos; "refine" alone moved kairess_002's by 0.128.
def exif_shift(sp):
    import io
    T = Image.Transpose
    ops = [(T.FLIP_LEFT_RIGHT, T.FLIP_LEFT_RIGHT), (T.ROTATE_180, T.ROTATE_180), (T.FLIP_TOP_BOTTOM, T.FLIP_TOP_BOTTOM),
           (T.TRANSPOSE, T.TRANSPOSE), (T.ROTATE_90, T.ROTATE_270), (T.TRANSVERSE, T.TRANSVERSE), (T.ROTATE_270, T.ROTATE_90)]

    def jpeg(im):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=95)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    def first_face(im):
        c, sc, ox, oy = letterbox(im)
        s_, b_ = SESS[("det", "int8")].run(["scores", "boxes"], {"input": to_tensor(c)})
        return decode_faces(s_[0], b_[0], sc, ox, oy, im.size[0], im.size[1], T_DET, NMS_IOU)[0][:4]

    worst = 0.0
    for n in ("001", "002", "027"):
        im = load_rgb(abspath(f"../shared/data/cat-photos/kairess_{n}.jpg"))
        im = jpeg(im.crop((0, 0, im.size[0] - im.size[0] % 8, im.size[1] - im.size[1] % 8)))
        base = eyes_for("int8", im, first_face(im), sp)
        iod = np.linalg.norm(base[0] - base[1])
        for fwd, back in ops:
            t = jpeg(im.transpose(fwd)).transpose(back)
            worst = max(worst, float(np.linalg.norm(eyes_for("int8", t, first_face(t), sp) - base, axis=1).max() / iod))
    return worst


shifts = {sp: exif_shift(sp) for sp in PASSES}
log(f"EXIF re-encoding eye shift / IOD, per second pass: {json.dumps(shifts)}")
# EDGECAT_SECOND_PASSES: the passes the rule may choose from (session 18: "none" keeps a 128 px landmark net
# inside the compute budget, one pass a face); all of them by default.
allowed = os.environ.get("EDGECAT_SECOND_PASSES", " ".join(PASSES)).split()
stable = [sp for sp in PASSES if shifts[sp] <= 0.06 and sp in allowed] or ["none"]
SECOND = min(stable, key=lambda sp: pass_scores[sp]["mean"] + (0 if sp == "none" else 0.002))
log(f"internal-val rule gives second_pass {SECOND}")
results = {"internal_val": {"score_threshold": T_DET, "face_threshold": T_FACE, "tile_threshold": T_TILE,
                            "tile_face_threshold": round(T_FACE + TILE_FACE, 4),
                            "gate_threshold": T_GATE, "detection": best[2],
                            "eyes": pass_scores, "second_pass": SECOND, "label_conventions": CONV}}
if not args.held_out:
    json.dump(results, open(os.path.join(OUT, "metrics_internal.json"), "w"), indent=2)
    raise SystemExit(0)

# ------------------------------------------------------------------ held out
BAD_LANDMARK_FILES = {"00000003_015.jpg"}  # its .cat points are at half scale (models/README.md)
held_pos = load_hujingyu("val") + load_orienfish("test")
n_hj = len(load_hujingyu("val"))
held_src = ["hujingyu"] * n_hj + ["orienfish"] * (len(held_pos) - n_hj)
# session 9: held-out dogs = cats-vs-dogs' odd-index dogs + pets/'s held-out dogs; pets/'s held-out cats
n_cvd_dogs = len(dog_photos(1))
dog_paths, non_paths = dog_photos(1) + pets_photos("dogs", "held"), noncat_photos()
petcat_paths = pets_photos("cats", "held")
cl_items = [(r["path"], r["eyes"]) for r in load_cat_landmarks() if os.path.basename(r["path"]) not in BAD_LANDMARK_FILES]
cases = {}
# EVAL_KINDS="int8": the shipped files only (session 9, for time); the float figures are information only
for kind in os.environ.get("EVAL_KINDS", "float int8").split():
    cp = Candidates(kind, [r["path"] for r in held_pos])
    cd, cn = Candidates(kind, dog_paths), Candidates(kind, non_paths)
    ccl = Candidates(kind, [p for p, _ in cl_items])
    fp_, fd, fn_ = cp.faces(T_DET, T_FACE), cd.faces(T_DET, T_FACE), cn.faces(T_DET, T_FACE)
    gts = [r["boxes"] for r in held_pos]
    conv = lambda faces: conventions.in_conventions(faces, held_src, CONV)  # noqa: E731
    fp_conv = conv(fp_)
    m = metrics(fp_conv, gts, {"dogs": fd, "noncat": fn_})
    m["recall_hujingyu_val"] = metrics(fp_conv[:n_hj], gts[:n_hj])["recall"]
    m["recall_orienfish_test"] = metrics(fp_conv[n_hj:], gts[n_hj:])["recall"]
    # information only: every box as the detector gives it (how sessions 1-19 measured)
    m["without_conventions"] = metrics(fp_, gts)
    m["without_face_check"] = metrics(conv(cp.faces(T_DET, 0.0)), gts, {"dogs": cd.faces(T_DET, 0.0)})
    m["without_tiles"] = metrics(conv(cp.faces(T_DET, T_FACE, None)), gts, {"dogs": cd.faces(T_DET, T_FACE, None)})
    # photos that ran the tile pass (no face kept by the first pass, not squarish), and its passes
    m["tile_photos"] = {n: sum(1 for f, size in zip(c.faces(T_DET, T_FACE, None), c.sizes) if T_TILE is not None and not f
                               and tiles_of(*size)) for n, c in (("faces", cp), ("dogs", cd))}
    cpc = Candidates(kind, petcat_paths)
    m["pets_cats_found"] = found_share(cpc, T_DET, T_FACE)
    m["pets_cats"] = len(petcat_paths)
    m["dogs"] = len(dog_paths)
    m["false_faces_dogs_cvd"] = sum(len(f) for f in fd[:n_cvd_dogs])
    m["false_faces_dogs_pets"] = sum(len(f) for f in fd[n_cvd_dogs:])
    for sub in ("breed", "kaggle"):
        ix = [i for i, p in enumerate(petcat_paths) if f"/{sub}/" in p]
        m[f"pets_cats_found_{sub}"] = float(np.mean([bool(cpc.faces(T_DET, T_FACE)[i]) for i in ix]))
        ix = [i for i, p in enumerate(dog_paths) if f"/pets/dogs/{sub}/" in p]
        m[f"false_faces_dogs_pets_{sub}"] = sum(len(fd[i]) for i in ix)
    results[kind] = {"detection": m}
    log(kind, "held-out detection", json.dumps(m))
    eyes = {}
    for sp in PASSES:
        of_sc = eye_scores(kind, cp, eye_faces_orienfish(held_pos[n_hj:]), T_DET, T_FACE, sp)
        cl_sc = eye_scores(kind, ccl, [], T_DET, T_FACE, sp, cl_items)
        eyes[sp] = {"all": eye_summary(of_sc + cl_sc), "orienfish_test": eye_summary(of_sc),
                    "cat_landmarks": eye_summary(cl_sc)}
        if sp == SECOND:
            eye_cases = of_sc + cl_sc
    results[kind]["eyes"] = eyes
    log(kind, "held-out eyes (shipped second pass:", SECOND, ")", json.dumps(eyes[SECOND]["all"]))
    log(kind, "held-out eyes, each second pass (information only):",
        json.dumps({sp: round(e["all"]["mean"], 4) for sp, e in eyes.items()}))
    if kind == "int8":
        # for failure_sheet.py: every held-out photo's kept faces and rejected candidates
        def rows(c, gts_of):
            return [dict(path=p, gt=g, kept=[x[:6] for x in k], rejected=[x[:6] for x in row if x not in k])
                    for p, g, k, row in zip(c.paths, gts_of, c.faces(T_DET, T_FACE), c.cands)]
        # each labelled photo's convention, so that the sheet matches as the figures do
        cases = dict(faces=[dict(r, convention=CONV[s]) for r, s in zip(rows(cp, gts), held_src)],
                     dogs=rows(cd, [[]] * len(dog_paths)),
                     noncat=rows(cn, [[]] * len(non_paths)), pets_cats=rows(cpc, [[]] * len(petcat_paths)),
                     eyes=[dict(path=p, gt=e, pred=q) for p, e, q in eye_cases])
json.dump(cases, open(os.path.join(OUT, "heldout_cases.json"), "w"))

# ------------------------------------------------------------------ sizes / flops / timing
info = {}
for key, p, fl in (("detector", args.det_int8, args.det_float), ("landmarks", args.lmk_int8, args.lmk_float)):
    macs, params = count_macs(fl)
    x = np.random.default_rng(0).random((1, 3) + ((DET_SIZE,) * 2 if key == "detector" else (LMK_SIZE,) * 2)).astype(np.float32)
    sess = SESS[("det" if key == "detector" else "lmk", "int8")]
    for _ in range(3):
        sess.run(None, {"input": x})
    t = time.time()
    for _ in range(20):
        sess.run(None, {"input": x})
    info[key] = dict(file=os.path.basename(p), bytes=os.path.getsize(p), sha256=hashlib.sha256(open(p, "rb").read()).hexdigest(),
                     float_bytes=os.path.getsize(fl), params=params, macs=macs, mflops=2 * macs / 1e6,
                     ort_int8_ms=(time.time() - t) / 20 * 1000)
passes = 1 if SECOND == "none" else 2
info["total_bytes"] = info["detector"]["bytes"] + info["landmarks"]["bytes"]
info["landmark_passes_per_cat"] = passes
info["total_mflops_one_cat"] = info["detector"]["mflops"] + passes * info["landmarks"]["mflops"]
results["models"] = info
log("models", json.dumps(info))

# ------------------------------------------------------------------ manifest
m8 = results["int8"]
e8 = m8["eyes"][SECOND]["all"]
manifest = {
    # "nnef": the tar the worker embeds, converted from "file" by `make nnef`.
    "detector": {"file": "detector.int8.onnx", "nnef": "detector.nnef.tar", "input_size": DET_SIZE,
                 "score_threshold": T_DET, "nms_iou": NMS_IOU, "pad_value": PAD,
                 **({"tiles": {"max": TILE_MAX, "score_threshold": T_TILE}} if T_TILE is not None else {})},
    "landmarks": {"file": "landmarks.int8.onnx", "nnef": "landmarks.nnef.tar", "input_size": LMK_SIZE,
                  "crop_scale": CROP_SCALE, "pad_value": PAD, "points": ["left_eye", "right_eye"],
                  "face_threshold": T_FACE, "second_pass": SECOND,
                  "refine_box": {"side_iod": round(REFINE_SIDE, 4), "offset_iod": round(REFINE_OFFSET, 4)}},
    "metrics": {
        "face_recall_iou50": round(m8["detection"]["recall"], 4),
        "face_precision_iou50": round(m8["detection"]["precision"], 4),
        "false_faces_per_dog_photo": round(m8["detection"]["fp_per_photo_dogs"], 4),
        "false_faces_per_noncat_photo": round(m8["detection"]["fp_per_photo_noncat"], 4),
        "held_out_dogs": m8["detection"]["dogs"],
        "pets_cats_found": round(m8["detection"]["pets_cats_found"], 4),
        "held_out_pets_cats": m8["detection"]["pets_cats"],
        "eye_error_iod_mean": round(e8["mean"], 4),
        "eye_error_iod_p90": round(e8["p90"], 4),
        "eye_faces_found": e8["found"],
        "eye_faces": e8["n"],
        "label_conventions": CONV,
        "measured_with": (
            f"onnxruntime {ort.__version__} int8 on held-out splits: faces = hujingyu val ({n_hj} photos) "
            f"+ orienfish test ({len(held_pos) - n_hj} photos), {m8['detection']['tp'] + m8['detection']['fn']} boxes; "
            f"dogs = cats-vs-dogs/dog odd sorted index ({n_cvd_dogs} photos) + pets/dogs held out by models/README.md's rule "
            f"({len(dog_paths) - n_cvd_dogs}); pets cats = pets/cats held out ({len(petcat_paths)}), found = at least one face; non-cat = non-cat-photos "
            f"({len(non_paths)}); a face = a detector candidate >= score_threshold (NMS) whose face check >= "
            f"face_threshold, matched to a label at IoU >= 0.5 once its box is in the label's source's convention "
            f"(label_conventions: centre shift [dx, dy] per side, log scale [lw, lh] of each side, fitted on the "
            f"sources' training photos; models/train/conventions.py); eyes = full pipeline on orienfish test faces with 2 eye boxes (the face matched at "
            f"IoU >= 0.5) + cat-landmarks except 00000003_015 (the highest-scoring face containing both eyes); "
            f"error = mean of the two eye distances / inter-ocular distance, a missed face counted as 1.0; "
            f"p90 = nearest rank"),
    },
}
json.dump(manifest, open(os.path.join(MODELS, "manifest.json"), "w"), indent=2)
open(os.path.join(MODELS, "manifest.json"), "a").write("\n")

# ------------------------------------------------------------------ fixtures
os.makedirs(FIX, exist_ok=True)
for f in os.listdir(FIX):
    os.remove(os.path.join(FIX, f))


# First held-out photo (sorted) of each cat set with exactly one labelled face, found by the int8 pipeline
# and matched; robust: no raw detector score within 0.05 of score_threshold and every candidate's face
# score at least 0.05 from face_threshold, so that rounding differences cannot flip the fixture.
def first_good(lo, hi):
    kept = cp.faces(T_DET, T_FACE, None)  # found by the first pass (the tile pass has its own fixture)
    for k in range(lo, hi):
        r, d = held_pos[k], kept[k]
        if len(d) == 1 and len(r["boxes"]) == 1 and match_dets(d, r["boxes"])[0] == 1 and d[0][4] >= T_DET + 0.1 \
                and all(abs(c[5] - T_FACE) >= 0.05 for c in cp.cands[k]):
            c, *_ = letterbox(load_rgb(abspath(r["path"])))
            s = SESS[("det", "int8")].run(["scores"], {"input": to_tensor(c)})[0][0]
            if not np.any(np.abs(s - T_DET) < 0.05):
                return r["path"]
    return held_pos[lo]["path"]


FIXTURE_PHOTOS = [("hj_val", first_good(0, n_hj)), ("of_test", first_good(n_hj, len(held_pos))),
                  ("noncat", "../shared/data/non-cat-photos/tract_grace_hopper.jpg")]


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
    faces = decode_faces(s8[0], b8[0], sc, ox, oy, im.size[0], im.size[1], T_DET, NMS_IOU)
    e["faces_after_nms"] = faces
    if faces:
        box = faces[0][:4]
        c, g = face_crop(im, box)
        c.save(os.path.join(FIX, f"lmk_{name}.png"), optimize=True)
        xl = to_tensor(Image.open(os.path.join(FIX, f"lmk_{name}.png")).convert("RGB"))
        e["lmk_canvas"] = f"lmk_{name}.png"
        e["lmk_box"] = box
        e["lmk_crop_left_top_side"] = list(g)
        l8, f8 = lmk_run("int8", xl)
        lf, ff = lmk_run("float", xl)
        e["lmk_int8_ort"], e["lmk_float"] = [float(v) for v in l8], [float(v) for v in lf]
        e["face_int8_ort"], e["face_float"] = f8, ff
        e["eyes_photo_px_int8"] = to_photo(e["lmk_int8_ort"], g).tolist()
        # what the shipped pipeline answers (second pass included), in photo pixels
        e["eyes_pipeline_int8"] = eyes_for("int8", im, box, SECOND).tolist()
    else:
        e.update({"lmk_canvas": None, "lmk_box": None, "lmk_int8_ort": None, "lmk_float": None})
    parity.append(e)
    log("fixture", name, path, "faces", faces)
json.dump(parity, open(os.path.join(FIX, "parity.json"), "w"), indent=1)


# The tile pass's fixture: the first curated cat, else held-out labelled photo, that only the tile pass finds,
# robustly (every score at least 0.05 from the threshold it meets), with its tiles' canvases and what the
# pipeline answers.
def tile_fixture():
    far = lambda v, t: abs(v - t) >= 0.05  # noqa: E731
    tf = round(T_FACE + TILE_FACE, 4)  # the tile pass's face threshold
    for c in (ccur, cp):
        for path, row, trow in zip(c.paths, c.cands, c.tiles):
            if not trow or not all(far(x[4], T_DET) and far(x[5], T_FACE) for x in row):
                continue
            if any(x[4] >= T_DET and x[5] >= T_FACE for x in row):
                continue
            if not all(far(x[4], T_TILE) and far(x[5], tf) for x in trow):
                continue
            kept = [x for x in trow if x[4] >= T_TILE and x[5] >= tf]
            if not kept:
                continue
            im = load_rgb(abspath(path))
            names = []
            for i, (left, top, side) in enumerate(tiles_of(*im.size)):
                canvas, _ = face_crop(im, (left, top, left + side, top + side), L=DET_SIZE, crop_scale=1.0)
                canvas.save(os.path.join(FIX, f"tile_{i}.png"), optimize=True)
                names.append(f"tile_{i}.png")
            return {"photo": path, "tiles": [list(t) for t in tiles_of(*im.size)], "tile_canvases": names,
                    "first_pass": [x[:6] for x in row], "faces": [x[:6] for x in kept],
                    "eyes_pipeline_int8": [eyes_for("int8", im, x[:4], SECOND, x[6]).tolist() for x in kept]}
    return None


if T_TILE is not None:
    tf = tile_fixture()
    log("tile fixture", json.dumps(tf))
    if tf:
        json.dump(tf, open(os.path.join(FIX, "tiles.json"), "w"), indent=1)

results["fixtures"] = [p["photo"] for p in parity]
results["eval_seconds"] = time.time() - t0
json.dump(results, open(os.path.join(OUT, "metrics.json"), "w"), indent=2)
log("wrote manifest, fixtures, metrics in", round(time.time() - t0), "s")
