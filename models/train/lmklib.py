"""Eye-landmark data generation and evaluation helpers."""
import math
import random

import numpy as np

from common import (CROP_SCALE, LMK_SIZE, abspath, affine_warp, color_jitter, cutout, degrade, face_crop,
                    load_rgb, to_tensor)


def faces_with_eyes(recs):
    out = []
    for r in recs:
        for b, e in zip(r["boxes"], r["eyes"]):
            if e is not None:
                out.append(dict(path=r["path"], box=list(b), eyes=[list(e[0]), list(e[1])]))
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
        im = self.ims[f["path"]]
        x0, y0, x1, y1 = f["box"]
        w, h = x1 - x0, y1 - y0
        # simulate detector boxes: shift, scale, aspect
        sc = math.exp(rng.uniform(math.log(0.82), math.log(1.35)))
        asp = math.exp(rng.gauss(0, 0.08))
        cx = (x0 + x1) / 2 + rng.gauss(0, 0.07) * w
        cy = (y0 + y1) / 2 + rng.gauss(0, 0.07) * h
        bw, bh = w * sc * asp, h * sc / asp
        side = CROP_SCALE * max(bw, bh)
        r = rng.random()
        angle = rng.uniform(-30, 30) if r < 0.5 else (rng.uniform(-8, 8) if r < 0.8 else 0.0)
        flip = rng.random() < 0.5
        out, fwd, A = affine_warp(im, L / side, angle, (cx, cy), (L / 2, L / 2), (L, L), flip=flip)
        eyes = fwd(f["eyes"]) / L
        eyes = eyes[np.argsort(eyes[:, 0], kind="stable")]
        out = degrade(out, rng)
        a = np.asarray(out, dtype=np.float32)
        a = color_jitter(a, rng)
        if rng.random() < 0.2:
            a = cutout(a, rng, n_max=2, size=(0.1, 0.3))
        a = np.round(a).astype(np.uint8)
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
