"""Pseudo-labels and negatives for the detector from pets/ and cats-vs-dogs (training photos only), from
mine.py's detections (the shipped detector) and the teachers' cache (teachers.py):
- cat photos (pets/cats training split, cats-vs-dogs cats): a detection is a face when it scores >= LABEL,
  its centre lies in a YOLOX-nano cat box and not in a higher-scoring dog box, and EfficientNet-Lite0 on
  its crop says cat more than dog; other detections >= IGNORE are ignore regions. Photos whose whole-photo
  judgement is dog are left out, and so are photos with no face.
- dog photos (pets/dogs training split): negatives unless a teacher sees a cat (whole-photo p_cat >= 0.1,
  or a YOLOX-nano cat box >= 0.3): the upstream labels are per photo and unchecked.
With --boxless (session 22), a detection whose centre lies in no YOLOX-nano box at all, cat or dog, is a face
too (the other conditions unchanged): YOLOX-nano misses close-ups, caged and hairless cats, the faces the
detector misses most. Meant for the teacher detector's detections (export_teacher.py, then mine.py).
usage: pets_pseudo.py mined.json teachers.json out.json [--boxless]
"""
import json
import sys

from common import dog_photo_has_cat

LABEL, IGNORE = 0.6, 0.25

mined, teach, dst = sys.argv[1:4]
BOXLESS = "--boxless" in sys.argv[4:]
rows = json.load(open(mined))
T = json.load(open(teach))


def inside(d, b):
    cx, cy = (d[0] + d[2]) / 2, (d[1] + d[3]) / 2
    return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]


cats, dogs, stats = [], [], dict(cat_photos=0, cat_left_out_dog=0, cat_no_face=0, faces=0, dog_photos=0, dog_with_cat=0)
for r in rows:
    if r["internal"] or r["set"] not in ("cvd_cat", "pets_cat", "pets_dog"):
        continue
    t = T[r["path"]]
    if r["set"] == "pets_dog":
        stats["dog_photos"] += 1
        if dog_photo_has_cat(t):
            stats["dog_with_cat"] += 1
        else:
            dogs.append(r["path"])
        continue
    stats["cat_photos"] += 1
    if t["p_dog"] > t["p_cat"] and t["p_dog"] >= 0.5:
        stats["cat_left_out_dog"] += 1
        continue
    boxes, ignore = [], []
    for k, d in enumerate(r["dets"]):
        if d[4] < IGNORE:
            continue
        cat_s = max((b[4] for b in t["boxes"] if b[5] == "cat" and inside(d, b)), default=0.0)
        dog_s = max((b[4] for b in t["boxes"] if b[5] == "dog" and inside(d, b)), default=0.0)
        boxed = cat_s > 0 or (BOXLESS and dog_s == 0)
        ok = d[4] >= LABEL and boxed and cat_s >= dog_s and r["crop_cat"][k] > r["crop_dog"][k]
        (boxes if ok else ignore).append(d[:4])
    if boxes:
        cats.append(dict(path=r["path"], boxes=boxes, ignore=ignore, set=r["set"]))
        stats["faces"] += len(boxes)
    else:
        stats["cat_no_face"] += 1
json.dump(dict(cats=cats, dogs=dogs, stats=stats), open(dst, "w"))
print(json.dumps(stats), "->", len(cats), "pseudo-labelled cat photos,", len(dogs), "dog photos as negatives")
