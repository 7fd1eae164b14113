"""What the ImageNet teacher says about the shipped pipeline's finds on internal validation (session 18):
run the Rust CLI (target/release/edgecat, the shipped models and thresholds) over the internal-validation
dogs (cats-vs-dogs' even dogs' every 10th, pets/ dogs' internal split) and pets/ cats, then judge each
kept face's crop with EfficientNet-Lite0 (teachers.py, 1.6 x the box). If the teacher calls most false
faces on dogs "dog" and most finds on cats "cat", the crops hold what tells them apart and a check with
more capacity could learn it; if not, the crop is the limit. Diagnostic only: the teacher never ships,
and no held-out photo is read.

usage: teacher_oracle.py [EDGECAT_BIN]
"""
import json
import subprocess
import sys

import numpy as np

from common import REPO, abspath, dog_photos, internal_split, load_rgb, pets_photos
from teachers import Teachers

BIN = sys.argv[1] if len(sys.argv) > 1 else f"{REPO}/target/release/edgecat"


def finds(paths):
    out = {}
    for i in range(0, len(paths), 50):
        part = [abspath(p) for p in paths[i:i + 50]]
        res = subprocess.run([BIN, "detect", *part], capture_output=True, text=True, check=True).stdout
        for p, line in zip(paths[i:i + 50], res.strip().splitlines()):
            out[p] = [c["box"] for c in json.loads(line)["cats"]]
    return out


def judge(t, found):
    pc, pd = [], []
    for p, boxes in found.items():
        if boxes:
            c, d = t.crop_cat_dog(load_rgb(abspath(p)), boxes)
            pc += list(c)
            pd += list(d)
    return np.array(pc), np.array(pd)


_, dogs_iv = internal_split(dog_photos(0))
dogs = dogs_iv + pets_photos("dogs", "internal")
cats = pets_photos("cats", "internal")
t = Teachers()
for name, paths in (("dogs", dogs), ("pets/ cats", cats)):
    found = finds(paths)
    pc, pd = judge(t, found)
    n = len(pc)
    print(f"{name}: {len(paths)} photos, {sum(1 for b in found.values() if b)} with a find, {n} faces kept")
    if n:
        for margin in (0.0, 0.5):
            dog = int(np.sum(pd > pc + margin))
            print(f"  the teacher says dog (p_dog > p_cat + {margin}) on {dog} of {n} ({dog / n:.3f}); "
                  f"cat (p_cat > p_dog + {margin}) on {int(np.sum(pc > pd + margin))}")
        print(f"  median p_cat {np.median(pc):.3f}, p_dog {np.median(pd):.3f}")
