"""Crops for the cat-or-dog gate (session 19, issue 25): a small network of its own that sees a wider crop
than the face check (GATE_SCALE x the box, as the teacher's judgement does) and says "cat" or "dog".

From mine.py's rows (session 8's detector at score 0.1 on every training and internal photo; nothing held
out is read):
- cat: a labelled face box (hujingyu, orienfish), or a detection on a cat photo (pets/cats, cats-vs-dogs
  cats) whose crop EfficientNet-Lite0 calls cat more than dog, on a photo the whole-photo judgement does
  not call dog (most are faces; the rest are cat ears, fur and bodies, still "cat");
- dog: every detection on a dog photo (pets/dogs, cats-vs-dogs' even dogs) that no teacher sees a cat in
  (pets_pseudo.py's rule: whole-photo p_cat < 0.1, no YOLOX-nano cat box >= 0.3).
Each crop is stored at STORE_SCALE x the box (wider than the gate's, so training can jitter scale and
shift), STORE px square, grey-padded, with its label, its detector score, its row's split, its source, and
the teacher's judgement on the gate's own crop (teachers.py, GATE_SCALE x the box): p_cat and p_dog, the
soft target train_gate.py distils.

usage: gate_data.py mined.json teachers.json out.npz
"""
import json
import sys

import numpy as np

from common import GATE_SCALE, abspath, dog_photo_has_cat, face_crop, load_rgb
from teachers import Teachers

STORE, STORE_SCALE = 96, 2.2


def crop(im, b):
    """the stored crop: the worker's square crop (common.face_crop) at STORE_SCALE x the box, STORE px"""
    return np.asarray(face_crop(im, b, STORE, STORE_SCALE)[0], np.uint8)


def main():
    mined, teach, dst = sys.argv[1:4]
    rows = json.load(open(mined))
    T = json.load(open(teach))
    X, Y, S, I, SRC, PC, PD = [], [], [], [], [], [], []
    teacher = Teachers()
    for k, r in enumerate(rows):
        t = T.get(r["path"])
        items = []
        if r["set"] in ("hujingyu", "orienfish"):
            items = [(b, 1, 1.0) for b in r["boxes"]]
        elif r["set"] in ("pets_cat", "cvd_cat"):
            if t and t["p_dog"] > t["p_cat"] and t["p_dog"] >= 0.5:
                continue
            items = [(d[:4], 1, d[4]) for j, d in enumerate(r["dets"])
                     if r["crop_cat"][j] > r["crop_dog"][j]]
        elif r["set"] in ("pets_dog", "dog"):
            if t is None or dog_photo_has_cat(t):
                continue
            items = [(d[:4], 0, d[4]) for d in r["dets"]]
        if not items:
            continue
        im = load_rgb(abspath(r["path"]))
        pc, pd = teacher.crop_cat_dog(im, [b for b, _, _ in items], GATE_SCALE)
        PC += list(pc)
        PD += list(pd)
        for b, y, s in items:
            X.append(crop(im, b))
            Y.append(y)
            S.append(s)
            I.append(r["internal"])
            SRC.append(r["set"])
        if (k + 1) % 1000 == 0:
            print(k + 1, "of", len(rows), "rows,", len(X), "crops", flush=True)
    Y, I = np.array(Y, np.uint8), np.array(I, bool)
    np.savez(dst, x=np.stack(X), y=Y, score=np.array(S, np.float32), internal=I, src=np.array(SRC),
             p_cat=np.array(PC, np.float32), p_dog=np.array(PD, np.float32))
    for part, m in (("training", ~I), ("internal", I)):
        print(f"{part}: {int((Y[m] == 1).sum())} cat crops, {int((Y[m] == 0).sum())} dog crops")


if __name__ == "__main__":
    main()
