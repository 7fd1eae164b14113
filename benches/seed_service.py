"""The seed tutorial's architecture, as a baseline for `make bench`: a minimal
Python HTTP service (Pillow + onnxruntime) that runs the same pipeline steps
on the same int8 models as edgecat — decode + EXIF orientation, letterbox,
detector, threshold + NMS, face crop, landmarks, sunglasses, JPEG q90.

    python benches/seed_service.py serve PORT     # POST an image body to /
    python benches/seed_service.py infer PHOTO N  # per-model and per-stage medians (JSON)

Preprocessing and box decoding are imported from models/train (the one
definition training and evaluation use), so only the runtime differs.
onnxruntime runs on one thread, as a Worker isolate does.
"""
import io
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "models", "train"))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from PIL import Image  # noqa: E402

from common import face_crop, letterbox, load_rgb, to_tensor  # noqa: E402
from detlib import decode_faces  # noqa: E402

MANIFEST = json.load(open(os.path.join(REPO, "models", "manifest.json")))
DET, LMK = MANIFEST["detector"], MANIFEST["landmarks"]
# The seed hipsterizer's own overlay (test-only material, never shipped).
GLASSES = os.path.join(REPO, "..", "shared", "data", "overlays", "glup-tutorial_01_shades.png")


def session(name):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(os.path.join(REPO, "models", MANIFEST[name]["file"]), opts,
                                providers=["CPUExecutionProvider"])


class Pipeline:
    def __init__(self):
        self.det = session("detector")
        self.lmk = session("landmarks")
        self.glasses = Image.open(GLASSES).convert("RGBA")
        self.model_ms = {"detector": [], "landmarks": []}

    def _run(self, name, sess, x):
        start = time.perf_counter()
        out = sess.run(None, {sess.get_inputs()[0].name: x})
        self.model_ms[name].append((time.perf_counter() - start) * 1e3)
        return out

    def detect(self, im):
        canvas, scale, ox, oy = letterbox(im, DET["input_size"])
        outs = self._run("detector", self.det, to_tensor(canvas))
        scores = next(o for o in outs if o.ndim == 2)[0]
        boxes = next(o for o in outs if o.ndim == 3)[0]
        return decode_faces(scores, boxes, scale, ox, oy, im.width, im.height,
                            DET["score_threshold"], DET["nms_iou"])

    def landmarks(self, im, face):
        crop, (left, top, s) = face_crop(im, face[:4], LMK["input_size"], LMK["crop_scale"])
        pts = self._run("landmarks", self.lmk, to_tensor(crop))[0].reshape(-1, 2)
        return [(left + u * s, top + v * s) for u, v in pts[:2]]

    def overlay(self, im, eyes):
        (lx, ly), (rx, ry) = eyes
        dist = math.hypot(rx - lx, ry - ly)
        width = max(1, int(dist * 2.2))
        height = max(1, int(width * self.glasses.height / self.glasses.width))
        g = self.glasses.resize((width, height), Image.BILINEAR)
        g = g.rotate(-math.degrees(math.atan2(ry - ly, rx - lx)), resample=Image.BILINEAR, expand=True)
        cx, cy = (lx + rx) / 2, (ly + ry) / 2
        im.paste(g, (int(cx - g.width / 2), int(cy - g.height / 2)), g)

    def hipsterize(self, body):
        t = {}
        start = time.perf_counter()
        im = load_rgb(io.BytesIO(body))
        t["decode"] = time.perf_counter()
        faces = self.detect(im)
        t["detect"] = time.perf_counter()
        eyes = [self.landmarks(im, f) for f in faces]
        t["landmarks"] = time.perf_counter()
        for e in eyes:
            self.overlay(im, e)
        t["overlay"] = time.perf_counter()
        out = io.BytesIO()
        im.save(out, "JPEG", quality=90)
        t["encode"] = time.perf_counter()
        stages, prev = {}, start
        for k, v in t.items():
            stages[k] = (v - prev) * 1e3
            prev = v
        stages["total"] = (prev - start) * 1e3
        return out.getvalue(), len(faces), stages


def serve(port):
    from http.server import BaseHTTPRequestHandler, HTTPServer

    pipeline = Pipeline()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            jpeg, cats, _ = pipeline.hipsterize(body)
            self.send_response(200 if cats else 422)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.send_header("X-Cats-Found", str(cats))
            self.end_headers()
            self.wfile.write(jpeg)

        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


def infer(photo, runs):
    pipeline = Pipeline()
    body = open(photo, "rb").read()
    stages = [pipeline.hipsterize(body)[2] for _ in range(runs + 1)][1:]
    # The first call (session warm-up) is left out of every median.
    med = lambda v: float(np.median(v))  # noqa: E731
    print(json.dumps({
        "runs": runs,
        "onnxruntime": ort.__version__,
        "model_ms": {k: med(v[1:]) for k, v in pipeline.model_ms.items()},
        "median_ms": {k: med([s[k] for s in stages]) for k in stages[0]},
    }))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "infer":
        infer(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
