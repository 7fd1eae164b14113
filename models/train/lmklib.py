"""Eye-landmark data generation and evaluation helpers."""
import math
import random

import numpy as np

from common import (CROP_SCALE, LMK_SIZE, REFINE_CROP_SCALE, abspath, affine_warp, color_jitter, cutout, degrade, face_crop,
                    load_rgb, to_tensor)


def faces_with_eyes(recs):
    out = []
    for r in recs:
        for j, (b, e) in enumerate(zip(r["boxes"], r["eyes"])):
            if e is not None:
                out.append(dict(path=r["path"], box=list(b), eyes=[list(e[0]), list(e[1])], j=j))
    return out


class LmkData:
    def __init__(self, faces, seed=0, copies=8):
        self.faces = faces
        self.ims = {}
        for f in faces:
            if f["path"] not in self.ims:
                self.ims[f["path"]] = load_rgb(abspath(f["path"]))
        self.seed = seed
        self.copies = copies

    def __len__(self):
        return len(self.faces) * self.copies

    def sample(self, epoch, idx, L=LMK_SIZE):
        rng = random.Random((self.seed * 1000003 + epoch) * 100003 + idx)
        f = self.faces[idx % len(self.faces)]
        # half the time a real detector box on this face (f["dets"], from mine.py), else the labelled box
        # jittered to imitate one; with a first crop wider than the refine pass's, half of each at either
        scale = CROP_SCALE if CROP_SCALE == REFINE_CROP_SCALE or rng.random() < 0.5 else REFINE_CROP_SCALE
        if f.get("dets") and rng.random() < 0.5:
            a, fwd = warp_box(self.ims[f["path"]], rng.choice(f["dets"]), rng, L, DET_JITTER, scale)
        else:
            a, fwd = warp_box(self.ims[f["path"]], f["box"], rng, L, GT_JITTER, scale)
        eyes = fwd(f["eyes"]) / L
        eyes = eyes[np.argsort(eyes[:, 0], kind="stable")]
        return a, eyes.astype(np.float32).ravel()


def eye_error(pred, gt):
    """pred, gt: 2x2 (left, right) in photo px -> mean point error / inter-ocular distance"""
    pred = np.asarray(pred, np.float64).reshape(2, 2)
    gt = np.asarray(gt, np.float64).reshape(2, 2)
    iod = np.linalg.norm(gt[0] - gt[1])
    return float(np.linalg.norm(pred - gt, axis=1).mean() / max(iod, 1e-6))


def crops_for(faces_boxes, L=LMK_SIZE):
    """faces_boxes: list of (path, box) -> (tensor batch, list of (left, top, s))"""
    xs, geo = [], []
    cache = {}
    for p, b in faces_boxes:
        if p not in cache:
            cache[p] = load_rgb(abspath(p))
        c, g = face_crop(cache[p], b, L)
        xs.append(to_tensor(c)[0])
        geo.append(g)
    return np.stack(xs) if xs else np.zeros((0, 3, L, L), np.float32), geo


def to_photo(lmk, geo):
    """lmk (2K,) normalised -> Kx2 photo px"""
    left, top, s = geo
    p = np.asarray(lmk, np.float64).reshape(-1, 2)
    return np.stack([left + p[:, 0] * s, top + p[:, 1] * s], 1)


# ---------------------------------------------------------------- the face check (session 8)
def iou1(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / max(u, 1e-9)


def _inside(d, b):
    cx, cy = (d[0] + d[2]) / 2, (d[1] + d[3]) / 2
    return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]


def mined_sets(rows, cat_neg_max_score=0.3, pseudo_min_score=0.7, teachers=None):
    """From mine.py's rows (training photos only; internal-validation rows are skipped):
    - det_for: {(path, gt index): [detector boxes with IoU >= 0.5]}, the detector's real box errors;
    - positives: [(path, box)] for every labelled face, and the unlabelled cats' detections scoring at
      least pseudo_min_score (pseudo-labels, as the detector's stage B used them);
    - negatives: [(path, det box)]: detections with IoU < 0.3 to every labelled face in cat photos (below
      cat_neg_max_score: a confident detection there is more often an unlabelled second cat than a
      mistake), and every detection in the dog photos."""
    det_for, pos, neg = {}, [], []
    for r in rows:
        if r["internal"]:
            continue
        if r["set"] in ("cvd_cat", "pets_cat", "pets_dog") and teachers is not None:
            # session 9: pets/ and cats-vs-dogs photos, with the teachers as the guide (pets_pseudo.py's rule)
            t = teachers[r["path"]]
            cat_boxes = [b for b in t["boxes"] if b[5] == "cat"]
            dog_boxes = [b for b in t["boxes"] if b[5] == "dog"]
            if r["set"] == "pets_dog":
                if t["p_cat"] < 0.1 and not any(b[4] >= 0.3 for b in cat_boxes):
                    neg += [(r["path"], d[:4]) for d in r["dets"]]
                continue
            if t["p_dog"] > t["p_cat"] and t["p_dog"] >= 0.5:
                continue
            for k, d in enumerate(r["dets"]):
                cat_s = max((b[4] for b in cat_boxes if _inside(d, b)), default=0.0)
                dog_s = max((b[4] for b in dog_boxes if _inside(d, b)), default=0.0)
                cc, cd = r["crop_cat"][k], r["crop_dog"][k]
                if d[4] >= 0.6 and cat_s > 0 and cat_s >= dog_s and cc > cd:
                    pos.append((r["path"], d[:4]))
                elif (cat_boxes and cat_s == 0) or dog_s > cat_s or (cd >= 0.5 and cd > cc):
                    # outside every cat box (where the teacher saw one), inside a dog box, or a dog to the teacher
                    neg.append((r["path"], d[:4]))
            continue
        if r["set"] == "cvd_cat":
            pos += [(r["path"], d[:4]) for d in r["dets"] if d[4] >= pseudo_min_score]
            continue
        for j, g in enumerate(r["boxes"]):
            pos.append((r["path"], g))
            m = [d[:4] for d in r["dets"] if iou1(d, g) >= 0.5]
            if m:
                det_for[(r["path"], j)] = m
        for d in r["dets"]:
            best = max((iou1(d, g) for g in r["boxes"]), default=0.0)
            if r["set"] == "dog" or (best < 0.3 and d[4] < cat_neg_max_score):
                neg.append((r["path"], d[:4]))
    return det_for, pos, neg


def warp_box(im, box, rng, L, jitter, crop_scale=CROP_SCALE):
    """The augmented crop around `box` (what Landmarker::locate would crop, with jitter, rotation, flip,
    colour and degradation): -> (uint8 LxLx3, forward point map)."""
    x0, y0, x1, y1 = box
    w, h = max(1.0, x1 - x0), max(1.0, y1 - y0)
    lo, hi, sh = jitter
    sc = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    asp = math.exp(rng.gauss(0, 0.08 if sh > 0.05 else 0.04))
    cx = (x0 + x1) / 2 + rng.gauss(0, sh) * w
    cy = (y0 + y1) / 2 + rng.gauss(0, sh) * h
    bw, bh = w * sc * asp, h * sc / asp
    side = crop_scale * max(bw, bh)
    r = rng.random()
    angle = rng.uniform(-30, 30) if r < 0.5 else (rng.uniform(-8, 8) if r < 0.8 else 0.0)
    flip = rng.random() < 0.5
    out, fwd, _ = affine_warp(im, L / side, angle, (cx, cy), (L / 2, L / 2), (L, L), flip=flip)
    out = degrade(out, rng)
    a = color_jitter(np.asarray(out, dtype=np.float32), rng)
    if rng.random() < 0.2:
        a = cutout(a, rng, n_max=2, size=(0.1, 0.3))
    return np.round(a).astype(np.uint8), fwd


GT_JITTER = (0.82, 1.35, 0.07)  # imitates detector boxes around a labelled box
DET_JITTER = (0.93, 1.08, 0.03)  # a real detector box, lightly


class FaceCheckData:
    """Crops labelled "cat face" (1) or not (0) for the face check: every labelled face (its box jittered,
    or a real detector box on it), the detector's own false detections (hard negatives), and two kinds of
    made-up negatives: the face box moved off the face, and random boxes away from every face (fur,
    floors, cages)."""

    def __init__(self, rows, seed=0, n_neg=1300, n_synth=300, teachers=None, n_pos=None):
        self.det_for, self.pos, self.neg = mined_sets(rows, teachers=teachers)
        # n_pos: positives drawn per epoch (None: every one, each epoch)
        self.n_pos = len(self.pos) if n_pos is None else min(n_pos, len(self.pos))
        self.faces_of = {}
        for r in rows:
            if not r["internal"] and r["set"] in ("hujingyu", "orienfish"):
                self.faces_of[r["path"]] = r["boxes"]
        paths = {p for p, _ in self.pos} | {p for p, _ in self.neg}
        self.ims = {p: load_rgb(abspath(p)) for p in sorted(paths)}
        self.seed, self.n_neg, self.n_synth = seed, n_neg, n_synth
        # Hard-negative mining (session 14): indices into self.neg that the current model scores highest,
        # and the share of negative draws taken from them (set between epochs by train_landmarks.py).
        self.hard, self.hard_frac = [], 0.0

    def neg_crops(self, L=LMK_SIZE):
        """Every hard negative as the worker would crop it (no jitter), uint8 N x L x L x 3, to score."""
        return np.stack([np.asarray(face_crop(self.ims[p], b, L)[0], dtype=np.uint8) for p, b in self.neg])

    def __len__(self):
        return self.n_pos + self.n_neg + self.n_synth

    def synthetic(self, rng):
        path = rng.choice(sorted(self.faces_of))
        im, faces = self.ims[path], self.faces_of[path]
        W, H = im.size
        for _ in range(20):
            if faces and rng.random() < 0.5:
                g = rng.choice(faces)
                w, h = g[2] - g[0], g[3] - g[1]
                dx, dy = rng.choice([(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1)])
                k = rng.uniform(0.8, 1.3)
                b = [g[0] + dx * k * w, g[1] + dy * k * h, g[2] + dx * k * w, g[3] + dy * k * h]
            else:
                s = rng.uniform(0.12, 0.5) * min(W, H)
                x, y = rng.uniform(0, W - s), rng.uniform(0, H - s)
                b = [x, y, x + s, y + s]
            if max((iou1(b, g) for g in faces), default=0.0) < 0.1:
                return im, b
        return im, b

    def sample(self, epoch, idx, L=LMK_SIZE):
        rng = random.Random((self.seed * 1000003 + epoch) * 100003 + idx + 7)
        if idx < self.n_pos:
            if self.n_pos < len(self.pos):
                idx = random.Random(self.seed * 15485863 + epoch).sample(range(len(self.pos)), self.n_pos)[idx]
            path, g = self.pos[idx]
            j = self.faces_of[path].index(g) if path in self.faces_of else -1
            dets = self.det_for.get((path, j))
            if dets and rng.random() < 0.5:
                a, _ = warp_box(self.ims[path], rng.choice(dets), rng, L, DET_JITTER)
            else:
                a, _ = warp_box(self.ims[path], g, rng, L, GT_JITTER)
            return a, 1.0
        if idx < self.n_pos + self.n_neg:
            if self.hard and rng.random() < self.hard_frac:
                path, b = self.neg[self.hard[rng.randrange(len(self.hard))]]
            else:
                path, b = self.neg[rng.randrange(len(self.neg))]
            a, _ = warp_box(self.ims[path], b, rng, L, DET_JITTER)
            return a, 0.0
        im, b = self.synthetic(rng)
        a, _ = warp_box(im, b, rng, L, DET_JITTER)
        return a, 0.0
