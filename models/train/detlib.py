"""Detector data generation, target assignment, decoding and evaluation helpers."""
import math
import random

import numpy as np
from PIL import Image

from common import (DET_SIZE, DET_STRIDES, PAD, abspath, affine_warp, color_jitter, cutout, degrade,
                    letterbox, load_rgb, to_tensor, transform_boxes)

# level ranges on max box side (canvas px): stride 16 -> small/medium, stride 32 -> large; overlap
LEVEL_RANGE = {16: (0, 120), 32: (72, 1e9)}
CENTER_RADIUS = 1.5


def anchors(S=DET_SIZE):
    pts = []
    for st in DET_STRIDES:
        n = S // st
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        c = np.stack([(xs.ravel() + 0.5) * st, (ys.ravel() + 0.5) * st, np.full(n * n, st)], 1)
        pts.append(c)
    return np.concatenate(pts, 0).astype(np.float32)


ANCHORS = anchors()


def assign(boxes, ignore, A=None):
    """-> pos_idx_gt (N,) int (-1 = negative), ignore mask (N,) bool"""
    A = ANCHORS if A is None else A
    N = len(A)
    gt_of = np.full(N, -1, np.int64)
    best_area = np.full(N, np.inf)
    cx, cy, st = A[:, 0], A[:, 1], A[:, 2]
    for g, b in enumerate(boxes):
        x0, y0, x1, y1 = b
        m = max(x1 - x0, y1 - y0)
        area = (x1 - x0) * (y1 - y0)
        gcx, gcy = (x0 + x1) / 2, (y0 + y1) / 2
        lvl_ok = np.zeros(N, bool)
        for s, (lo, hi) in LEVEL_RANGE.items():
            if lo <= m <= hi:
                lvl_ok |= st == s
        inside = (cx > x0) & (cx < x1) & (cy > y0) & (cy < y1)
        near = (np.abs(cx - gcx) < CENTER_RADIUS * st) & (np.abs(cy - gcy) < CENTER_RADIUS * st)
        cand = lvl_ok & inside & near
        # always include the nearest anchor on each allowed level
        for s, (lo, hi) in LEVEL_RANGE.items():
            if lo <= m <= hi:
                idx = np.where(st == s)[0]
                d = (cx[idx] - gcx) ** 2 + (cy[idx] - gcy) ** 2
                cand[idx[np.argmin(d)]] = True
        upd = cand & (area < best_area)
        gt_of[upd] = g
        best_area[upd] = area
    ign = np.zeros(N, bool)
    for b in ignore:
        x0, y0, x1, y1 = b
        ign |= (cx > x0) & (cx < x1) & (cy > y0) & (cy < y1)
    ign &= gt_of < 0
    return gt_of, ign


class DetData:
    """Holds decoded images (in RAM) and makes augmented training samples."""

    # augmentation recipes: "heavy" (first attempt; the net underfitted) and "light" (used)
    AUG = {"heavy": dict(exact=0.25, zoom=(0.45, 2.2), rot30=0.45, rot8=0.30, mosaic=0.3, cutout=0.3, degrade=0.25),
           "light": dict(exact=0.35, zoom=(0.5, 1.8), rot30=0.25, rot8=0.30, mosaic=0.2, cutout=0.15, degrade=0.15)}

    def __init__(self, recs, neg_paths, seed=0, unlabelled_cats=(), neg_repeat=2, unl_per_epoch=120, aug="light"):
        self.aug = self.AUG[aug]
        # (image, boxes, kind, ignore boxes) kind: 1 = cat photo with face boxes, 0 = dog (negative);
        # ignore boxes: regions neither positive nor negative (uncertain pseudo-labels)
        self.items = []
        for r in recs:
            self.items.append((load_rgb(abspath(r["path"])), [list(b) for b in r["boxes"]], 1,
                               [list(b) for b in r.get("ignore", [])]))
        self.n_lab = len(self.items)
        for p in neg_paths:
            self.items.append((load_rgb(abspath(p)), [], 0, []))
        self.n_box = len(self.items)
        # unlabelled cat photos: only used for the auxiliary image-level cat/dog loss
        self.unl = [load_rgb(abspath(p)) for p in unlabelled_cats]
        self.seed = seed
        self.index = list(range(self.n_lab)) + list(range(self.n_lab, self.n_box)) * neg_repeat
        self.unl_per_epoch = min(unl_per_epoch, len(self.unl))
        self.pools = []  # (first item, count, drawn per epoch): pets/ pseudo-labelled cats and dogs (session 9)
        self.fixed = len(self.index)

    def add_pool(self, recs, kind, per_epoch):
        """photos of which `per_epoch` (a fresh random draw each epoch) join every epoch; kind 1: cat photos
        with (pseudo-)labelled boxes and ignore regions, 0: negatives"""
        first = len(self.items)
        for r in recs:
            self.items.append((load_rgb(abspath(r["path"])), [list(b) for b in r.get("boxes", [])], kind,
                               [list(b) for b in r.get("ignore", [])]))
        self.pools.append((first, len(recs), min(per_epoch, len(recs))))
        self.n_box = len(self.items)  # mosaics may draw from the pools too

    def epoch_index(self, epoch):
        if getattr(self, "_ep", None) != epoch:
            idx = list(self.index)
            rng = random.Random(self.seed * 104729 + epoch)
            for first, n, k in self.pools:
                idx += [first + j for j in rng.sample(range(n), k)]
            self._ep, self._idx = epoch, idx
        return self._idx

    def __len__(self):
        return self.fixed + sum(k for _, _, k in self.pools) + self.unl_per_epoch

    def place(self, rng, im, boxes, S, exact_prob=None, max_zoom=None, ignore=()):
        A = self.aug
        exact_prob = A["exact"] if exact_prob is None else exact_prob
        max_zoom = A["zoom"][1] if max_zoom is None else max_zoom
        W, H = im.size
        fit = S / max(W, H)
        flip = rng.random() < 0.5
        if rng.random() < exact_prob:
            scale, angle = fit, 0.0
            csrc = (W / 2, H / 2)
            cdst = (S / 2, S / 2)
        else:
            scale = fit * math.exp(rng.uniform(math.log(A["zoom"][0]), math.log(max_zoom)))
            r = rng.random()
            angle = rng.uniform(-30, 30) if r < A["rot30"] else (rng.uniform(-8, 8) if r < A["rot30"] + A["rot8"] else 0.0)
            Ws, Hs = W * scale, H * scale
            if boxes and (Ws > S * 1.05 or Hs > S * 1.05) and rng.random() < 0.85:
                b = rng.choice(boxes)
                csrc = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
                cdst = (S / 2 + rng.uniform(-0.35, 0.35) * S, S / 2 + rng.uniform(-0.35, 0.35) * S)
            else:
                csrc = (W / 2, H / 2)
                ax = max(0.0, (S - Ws) / 2) + 0.15 * S
                ay = max(0.0, (S - Hs) / 2) + 0.15 * S
                cdst = (S / 2 + rng.uniform(-ax, ax), S / 2 + rng.uniform(-ay, ay))
        out, fwd, A = affine_warp(im, scale, angle, csrc, cdst, (S, S), flip=flip)
        def clip(b):
            return [max(0.0, b[0]), max(0.0, b[1]), min(float(S), b[2]), min(float(S), b[3])]

        keep, ign = [], []
        for c in map(clip, transform_boxes(list(ignore), A, fwd)):
            if c[2] > c[0] and c[3] > c[1]:
                ign.append(c)
        for b in transform_boxes(boxes, A, fwd):
            c = clip(b)
            area = (b[2] - b[0]) * (b[3] - b[1])
            vis = max(0.0, c[2] - c[0]) * max(0.0, c[3] - c[1])
            if vis <= 0:
                continue
            if vis >= 0.6 * area and min(c[2] - c[0], c[3] - c[1]) >= 6:
                keep.append(c)
            else:
                ign.append(c)
        return out, keep, ign

    def sample(self, epoch, idx, S=DET_SIZE):
        """-> u8 canvas, pos mask, gt boxes per anchor, ignore mask, det_valid, aux target (-1 = none)"""
        rng = random.Random((self.seed * 1000003 + epoch) * 100003 + idx)
        index = self.epoch_index(epoch)
        if idx >= len(index):  # unlabelled cat photo, whole photo visible (zoomed out / letterboxed)
            j = random.Random(self.seed * 7919 + epoch).sample(range(len(self.unl)), self.unl_per_epoch)[idx - len(index)]
            im = self.unl[j]
            canvas, _, _ = self.place(rng, im, [], S, exact_prob=0.5, max_zoom=1.0)
            a = self._photometric(canvas, rng)
            N = len(ANCHORS)
            return a, np.zeros(N, bool), np.zeros((N, 4), np.float32), np.ones(N, bool), 0.0, 1.0
        idx = index[idx]
        im, boxes, kind, extra_ign = self.items[idx]
        aux = -1.0
        if rng.random() < self.aug["mosaic"]:
            canvas = Image.new("RGB", (S, S), (PAD, PAD, PAD))
            keep, ign = [], []
            h = S // 2
            picks = [idx] + [rng.randrange(self.n_box) for _ in range(3)]
            rng.shuffle(picks)
            kinds = []
            for k, j in enumerate(picks):
                im_j, b_j, kind_j, i_j = self.items[j]
                kinds.append(kind_j)
                t, kb, ib = self.place(rng, im_j, b_j, h, ignore=i_j)
                ox, oy = (k % 2) * h, (k // 2) * h
                canvas.paste(t, (ox, oy))
                keep += [[b[0] + ox, b[1] + oy, b[2] + ox, b[3] + oy] for b in kb]
                ign += [[b[0] + ox, b[1] + oy, b[2] + ox, b[3] + oy] for b in ib]
            if keep or ign:
                aux = 1.0
            elif max(kinds) == 0:
                aux = 0.0
        else:
            canvas, keep, ign = self.place(rng, im, boxes, S, ignore=extra_ign)
            if kind == 0:
                aux = 0.0
            elif keep or ign:
                aux = 1.0
        a = self._photometric(canvas, rng)
        gt_of, ignm = assign(keep, ign)
        gtb = np.zeros((len(ANCHORS), 4), np.float32)
        if keep:
            kb = np.asarray(keep, np.float32)
            gtb[gt_of >= 0] = kb[gt_of[gt_of >= 0]]
        return a, gt_of >= 0, gtb, ignm, 1.0, aux

    def _photometric(self, canvas, rng):
        canvas = degrade(canvas, rng, self.aug["degrade"])
        a = np.asarray(canvas, dtype=np.float32)
        a = color_jitter(a, rng)
        if rng.random() < self.aug["cutout"]:
            a = cutout(a, rng, n_max=3, size=(0.05, 0.25))
        return np.round(a).astype(np.uint8)  # like a real u8 canvas


# ------------------------------------------------------------------ decode / NMS / eval
def iou_matrix(a, b):
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    aa = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    ab = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(aa[:, None] + ab[None, :] - inter, 1e-9)


def nms(boxes, scores, thr):
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        ious = iou_matrix(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= thr]
    return keep


def decode_faces(scores, boxes, scale, ox, oy, W, H, thr, nms_iou):
    """scores (N,), boxes (N,4) canvas px -> list [x0,y0,x1,y1,score] in photo px (what Rust does)."""
    m = scores >= thr
    s, b = scores[m], boxes[m]
    if len(s) == 0:
        return []
    keep = nms(b, s, nms_iou)
    out = []
    for i in keep:
        x0, y0, x1, y1 = b[i]
        x0 = min(max((x0 - ox) / scale, 0.0), W)
        x1 = min(max((x1 - ox) / scale, 0.0), W)
        y0 = min(max((y0 - oy) / scale, 0.0), H)
        y1 = min(max((y1 - oy) / scale, 0.0), H)
        out.append([float(x0), float(y0), float(x1), float(y1), float(s[i])])
    return out


def match_dets(dets, gts, iou_thr=0.5):
    order = sorted(range(len(dets)), key=lambda i: -dets[i][4])
    used, pairs = set(), []
    if len(gts) and len(dets):
        M = iou_matrix([d[:4] for d in dets], gts)
    for i in order:
        bj, best = -1, iou_thr
        for j in range(len(gts)):
            if j not in used and M[i, j] >= best:
                best, bj = M[i, j], j
        if bj >= 0:
            used.add(bj)
            pairs.append((i, bj))
    tp = len(pairs)
    return tp, len(dets) - tp, len(gts) - tp, pairs


class Prepared:
    """letterboxed canvases for a list of photos (cached)."""

    def __init__(self, paths, S=DET_SIZE):
        self.paths = paths
        self.items = []
        for p in paths:
            im = load_rgb(abspath(p))
            c, sc, ox, oy = letterbox(im, S)
            self.items.append((to_tensor(c)[0], sc, ox, oy, im.size))

    def batch(self):
        return np.stack([it[0] for it in self.items])


def ort_det_outputs(sess, prep):
    """Run an onnxruntime detector session on every canvas of `prep` -> (scores [B,N], boxes [B,N,4])."""
    sc, bx = [], []
    for x, *_ in prep.items:
        a, b = sess.run(["scores", "boxes"], {"input": x[None]})
        sc.append(a[0])
        bx.append(b[0])
    return np.stack(sc), np.stack(bx)


def run_dets(prep, raw_outputs, thr, nms_iou):
    """raw_outputs: (scores [B,N], boxes [B,N,4]) for prep.items -> list of det lists"""
    sc, bx = raw_outputs
    out = []
    for k, (_, s, ox, oy, (W, H)) in enumerate(prep.items):
        out.append(decode_faces(sc[k], bx[k], s, ox, oy, W, H, thr, nms_iou))
    return out


def det_metrics(dets_pos, gts_pos, dets_negs=None, iou_thr=0.5):
    TP = FP = FN = 0
    for d, g in zip(dets_pos, gts_pos):
        tp, fp, fn, _ = match_dets(d, g, iou_thr)
        TP += tp
        FP += fp
        FN += fn
    r = dict(recall=TP / max(1, TP + FN), precision=TP / max(1, TP + FP), tp=TP, fp=FP, fn=FN)
    for name, dn in (dets_negs or {}).items():
        r["fp_per_photo_" + name] = sum(len(d) for d in dn) / max(1, len(dn))
        r["photos_with_fp_" + name] = sum(1 for d in dn if d) / max(1, len(dn))
    return r
