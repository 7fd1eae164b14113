"""Draw every held-out miss, false face and the worst eye placements into contact sheets, from the cases
evaluate.py --held-out wrote (out/heldout_cases.json). Output: out/failures/*.png (git-ignored).

Green: labelled face / labelled eyes. Red: a face the pipeline kept that matches nothing (false face).
Orange: a detector candidate the face check rejected. Blue: the pipeline's eyes.
usage: failure_sheet.py [n_worst_eyes]
"""
import json
import os
import sys

from PIL import Image, ImageDraw

import conventions
from common import OUT, abspath, load_rgb
from detlib import match_dets
from lmklib import eye_error

TILE = 200
cases = json.load(open(os.path.join(OUT, "heldout_cases.json")))
n_worst = int(sys.argv[1]) if len(sys.argv) > 1 else 16
dst = os.path.join(OUT, "failures")
os.makedirs(dst, exist_ok=True)


def tile(path, gt=(), kept=(), rejected=(), eyes_gt=None, eyes_pred=None, caption=""):
    im = load_rgb(abspath(path))
    d = ImageDraw.Draw(im)
    w = max(2, im.size[0] // 160)
    for b in rejected:
        d.rectangle(b[:4], outline=(255, 150, 0), width=w)
    for b in gt:
        d.rectangle(b[:4], outline=(0, 220, 0), width=w)
    for b in kept:
        d.rectangle(b[:4], outline=(255, 0, 0), width=w)
    r = 2 * w
    for pts, col in ((eyes_gt, (0, 220, 0)), (eyes_pred, (0, 120, 255))):
        for x, y in pts or ():
            d.ellipse([x - r, y - r, x + r, y + r], outline=col, width=w)
    s = TILE / max(im.size)
    im = im.resize((max(1, int(im.size[0] * s)), max(1, int(im.size[1] * s))))
    t = Image.new("RGB", (TILE, TILE + 16), (30, 30, 30))
    t.paste(im, ((TILE - im.size[0]) // 2, 16))
    ImageDraw.Draw(t).text((4, 2), caption[:34], fill=(255, 255, 255))
    return t


def sheet(name, tiles, cols=5):
    if not tiles:
        print(f"{name}: nothing to draw")
        return
    rows = (len(tiles) + cols - 1) // cols
    out = Image.new("RGB", (cols * TILE, rows * (TILE + 16)), (0, 0, 0))
    for i, t in enumerate(tiles):
        out.paste(t, ((i % cols) * TILE, (i // cols) * (TILE + 16)))
    p = os.path.join(dst, f"{name}.png")
    out.save(p, optimize=True)
    print(f"{name}: {len(tiles)} -> {p}")


misses, false_cat = [], []
for c in cases["faces"]:
    # matched in the label's source's convention, as evaluate.py's figures are (cases written before session 20
    # carry none: every box as the detector gives it); the boxes drawn are the pipeline's own
    tp, fp, fn, pairs = match_dets([conventions.apply(k, c.get("convention", [0.0] * 4)) for k in c["kept"]], c["gt"])
    matched_k = {i for i, _ in pairs}
    fps = [k for i, k in enumerate(c["kept"]) if i not in matched_k]
    base = os.path.basename(c["path"])
    if fn:
        misses.append(tile(c["path"], c["gt"], fps, c["rejected"], caption=f"{fn} missed: {base}"))
    if fps:
        false_cat.append(tile(c["path"], c["gt"], fps, [], caption=f"false {' '.join(f'{k[4]:.2f}/{k[5]:.2f}' for k in fps)} {base}"))
false_neg = [tile(c["path"], (), c["kept"], c["rejected"],
                  caption=f"false {' '.join(f'{k[4]:.2f}/{k[5]:.2f}' for k in c['kept'])} {os.path.basename(c['path'])}")
             for c in cases["dogs"] + cases["noncat"] if c["kept"]]
scored = [(eye_error(e["pred"], e["gt"]) if e["pred"] else 1.0, e) for e in cases["eyes"]]
worst = sorted(scored, key=lambda x: -x[0])[:n_worst]
eye_tiles = [tile(e["path"], eyes_gt=e["gt"], eyes_pred=e["pred"], caption=f"eye err {err:.2f} {os.path.basename(e['path'])}")
             for err, e in worst]
# session 9: held-out pets/cats photos with no find (orange: candidates the face check rejected)
nofind = [tile(c["path"], (), (), c["rejected"], caption=f"no find {os.path.basename(c['path'])}")
          for c in cases.get("pets_cats", []) if not c["kept"]]
sheet("pets_cats_no_find", nofind, cols=8)
sheet("missed_faces", misses)
sheet("false_faces_in_cat_photos", false_cat)
sheet("false_faces_dogs_noncat", false_neg, cols=8)
sheet("worst_eyes", eye_tiles)
