"""The teachers (training time only, never shipped; ../shared/reference-models, see SOURCES.md there):
- EfficientNet-Lite0 (ImageNet-1k): cat-vs-dog judgement, p_cat = softmax mass on classes 281-285,
  p_dog = on 151-268, for a whole photo or a face crop;
- YOLOX-nano (COCO): cat (15) and dog (16) boxes.

`teachers.py OUT.json` runs both once over every training and internal-validation photo of pets/, the
cats-vs-dogs cats and the even-index cats-vs-dogs dogs (never a held-out photo) and caches
{path: {"p_cat", "p_dog", "boxes": [[x0, y0, x1, y1, score, "cat"|"dog"], ...]}}.
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

from common import abspath, dog_photos, load_rgb, pets_photos, unlabelled_cat_photos

EFFNET = "../shared/reference-models/onnx/efficientnet-lite0-imagenet/efficientnet_lite0_imagenet_bnfolded.onnx"
YOLOX = "../shared/reference-models/onnx/yolox-nano-coco/yolox_nano.onnx"
CAT_CLASSES = slice(281, 286)
DOG_CLASSES = slice(151, 269)


def _session(rel):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(abspath(rel), so, providers=["CPUExecutionProvider"])


class Teachers:
    def __init__(self):
        self.eff = _session(EFFNET)
        self.yolo = _session(YOLOX)
        grids = []
        for st in (8, 16, 32):
            n = 416 // st
            ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            grids.append(np.stack([xs.ravel(), ys.ravel(), np.full(n * n, st)], 1))
        self.grid = np.concatenate(grids).astype(np.float32)

    def cat_dog(self, ims):
        """PIL images (any size; squashed to 224, as the kaggle photos already are) -> (p_cat, p_dog) arrays"""
        x = np.stack([(np.asarray(im.resize((224, 224), Image.BILINEAR), np.float32) - 127.5) / 127.5 for im in ims])
        logits = self.eff.run(["logits"], {"input": x.transpose(0, 3, 1, 2).copy()})[0].astype(np.float64)
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return p[:, CAT_CLASSES].sum(1), p[:, DOG_CLASSES].sum(1)

    def crop_cat_dog(self, im, boxes, scale=1.6):
        """the cat-vs-dog judgement on square crops around face boxes (scale x the longer side, grey pad)"""
        if not boxes:
            return np.zeros(0), np.zeros(0)
        crops = []
        for b in boxes:
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            s = max(2.0, scale * max(b[2] - b[0], b[3] - b[1]))
            c = Image.new("RGB", (int(s), int(s)), (128, 128, 128))
            c.paste(im.crop((int(cx - s / 2), int(cy - s / 2), int(cx - s / 2) + int(s), int(cy - s / 2) + int(s))), (0, 0))
            crops.append(c)
        pc, pd = [], []
        for i in range(0, len(crops), 16):
            a, b = self.cat_dog(crops[i:i + 16])
            pc.append(a)
            pd.append(b)
        return np.concatenate(pc), np.concatenate(pd)

    def boxes(self, im, thr=0.25, nms_iou=0.5):
        """YOLOX-nano cat/dog boxes in photo pixels: [[x0, y0, x1, y1, score, "cat"|"dog"]]"""
        W, H = im.size
        r = min(416 / W, 416 / H)
        nw, nh = max(1, int(round(W * r))), max(1, int(round(H * r)))
        canvas = np.full((416, 416, 3), 114, np.float32)
        canvas[:nh, :nw] = np.asarray(im.resize((nw, nh), Image.BILINEAR), np.float32)
        x = canvas[:, :, ::-1].transpose(2, 0, 1)[None].copy()  # BGR, 0..255
        o = self.yolo.run(None, {"images": x})[0][0]
        g = self.grid
        cxy = (o[:, :2] + g[:, :2]) * g[:, 2:3]
        wh = np.exp(np.clip(o[:, 2:4], -10, 10)) * g[:, 2:3]
        out = []
        for cls, name in ((15, "cat"), (16, "dog")):
            s = o[:, 4] * o[:, 5 + cls]
            m = s >= thr
            if not m.any():
                continue
            bx = np.concatenate([cxy[m] - wh[m] / 2, cxy[m] + wh[m] / 2], 1) / r
            sc = s[m]
            from detlib import nms
            for i in nms(bx, sc, nms_iou):
                b = bx[i]
                out.append([float(max(0, b[0])), float(max(0, b[1])), float(min(W, b[2])), float(min(H, b[3])),
                            float(sc[i]), name])
        return out


def teacher_photos():
    """Every photo the teachers may see: training + internal validation only."""
    ps = []
    for kind in ("cats", "dogs"):
        for split in ("train", "internal"):
            ps += pets_photos(kind, split)
    return ps + unlabelled_cat_photos() + dog_photos(0)


if __name__ == "__main__":
    dst = sys.argv[1]
    T = Teachers()
    cache = json.load(open(dst)) if os.path.exists(dst) else {}
    paths = [p for p in teacher_photos() if p not in cache]
    for k, p in enumerate(paths):
        im = load_rgb(abspath(p))
        pc, pd = T.cat_dog([im])
        cache[p] = dict(p_cat=float(pc[0]), p_dog=float(pd[0]), boxes=T.boxes(im))
        if (k + 1) % 500 == 0:
            print(k + 1, "of", len(paths), flush=True)
            json.dump(cache, open(dst + ".tmp", "w"))
            os.replace(dst + ".tmp", dst)
    json.dump(cache, open(dst + ".tmp", "w"))
    os.replace(dst + ".tmp", dst)
    cat_ps = [v for p, v in cache.items() if "/cats/" in p or "/cat/" in p]
    dog_ps = [v for p, v in cache.items() if "/dogs/" in p or "/dog/" in p]
    print(f"{len(cache)} photos; whole-photo judgement cat > dog on {sum(v['p_cat'] > v['p_dog'] for v in cat_ps)} of "
          f"{len(cat_ps)} cat photos, dog > cat on {sum(v['p_dog'] > v['p_cat'] for v in dog_ps)} of {len(dog_ps)} dog photos; "
          f"a YOLOX cat box on {sum(any(b[5] == 'cat' for b in v['boxes']) for v in cat_ps)} cat photos, "
          f"on {sum(any(b[5] == 'cat' for b in v['boxes']) for v in dog_ps)} dog photos")
