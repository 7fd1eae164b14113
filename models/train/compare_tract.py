"""Compare tract (via a throwaway Rust binary, see README) with onnxruntime on the int8 models.

usage: compare_tract.py /path/to/tractcheck [n_extra_photos]
The binary takes: model.onnx input.bin N C H W out_prefix and writes out_prefix.<i>.bin (f32 LE).
Runs the fixture canvases plus n extra held-out photos; writes out/tract_parity.json.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from PIL import Image

from common import HERE, OUT, abspath, face_crop, letterbox, load_hujingyu, load_rgb, noncat_photos, to_tensor
from detlib import decode_faces

MODELS = os.path.normpath(os.path.join(HERE, ".."))
binary = sys.argv[1]
n_extra = int(sys.argv[2]) if len(sys.argv) > 2 else 12
man = json.load(open(os.path.join(MODELS, "manifest.json")))
THR, NMS = man["detector"]["score_threshold"], man["detector"]["nms_iou"]
det_p = os.path.join(MODELS, man["detector"]["file"])
lmk_p = os.path.join(MODELS, man["landmarks"]["file"])
sd = ort.InferenceSession(det_p, providers=["CPUExecutionProvider"])
sl = ort.InferenceSession(lmk_p, providers=["CPUExecutionProvider"])
tmp = tempfile.mkdtemp()


def tract(model, x, n_out):
    inp = os.path.join(tmp, "in.bin")
    x.astype("<f4").tofile(inp)
    r = subprocess.run([binary, model, inp, *map(str, x.shape), os.path.join(tmp, "o")], capture_output=True,
                       text=True)
    if r.returncode:
        raise RuntimeError(r.stderr)
    return [np.fromfile(os.path.join(tmp, f"o.{i}.bin"), "<f4") for i in range(n_out)], r.stderr.strip()


rows = []
worst = dict(score=0.0, box_top=0.0, box_scored=0.0, lmk=0.0)
photos = [(e["photo"], e) for e in json.load(open(os.path.join(MODELS, "fixtures", "parity.json")))]
photos += [(r["path"], None) for r in load_hujingyu("val")[1::11][:n_extra]] + [(p, None) for p in noncat_photos()[::5]]
for path, fx in photos:
    im = load_rgb(abspath(path))
    if fx is not None:
        x = to_tensor(Image.open(os.path.join(MODELS, "fixtures", fx["det_canvas"])).convert("RGB"))
    else:
        c, *_ = letterbox(im, man["detector"]["input_size"])
        x = to_tensor(c)
    c, sc, ox, oy = letterbox(im, man["detector"]["input_size"])
    s_o, b_o = sd.run(["scores", "boxes"], {"input": x})
    (s_t, b_t), timing = tract(det_p, x, 2)
    s_o, b_o = s_o.ravel(), b_o.reshape(-1, 4)
    b_t = b_t.reshape(-1, 4)
    ds = float(np.abs(s_o - s_t).max())
    top = np.argsort(-s_o)[:10]
    db_top = float(np.abs(b_o[top] - b_t[top]).max())
    m = s_o >= 0.1
    db_sc = float(np.abs(b_o[m] - b_t[m]).max()) if m.any() else 0.0
    f_o = decode_faces(s_o, b_o, sc, ox, oy, im.size[0], im.size[1], THR, NMS)
    f_t = decode_faces(s_t, b_t, sc, ox, oy, im.size[0], im.size[1], THR, NMS)
    row = dict(photo=path, max_abs_dscore=ds, max_abs_dbox_top10=db_top, max_abs_dbox_score_ge_0_1=db_sc,
               faces_ort=len(f_o), faces_tract=len(f_t), tract_timing=timing)
    if fx is not None and fx.get("lmk_canvas"):
        xl = to_tensor(Image.open(os.path.join(MODELS, "fixtures", fx["lmk_canvas"])).convert("RGB"))
    elif f_o:
        cl, _ = face_crop(im, f_o[0][:4], man["landmarks"]["input_size"], man["landmarks"]["crop_scale"])
        xl = to_tensor(cl)
    else:
        xl = None
    if xl is not None:
        l_o = sl.run(["landmarks"], {"input": xl})[0].ravel()
        (l_t,), _ = tract(lmk_p, xl, 1)
        row["max_abs_dlandmark"] = float(np.abs(l_o - l_t).max())
        worst["lmk"] = max(worst["lmk"], row["max_abs_dlandmark"])
    worst["score"] = max(worst["score"], ds)
    worst["box_top"] = max(worst["box_top"], db_top)
    worst["box_scored"] = max(worst["box_scored"], db_sc)
    rows.append(row)
    print(json.dumps(row), flush=True)
print("WORST", json.dumps(worst))
json.dump(dict(worst=worst, rows=rows), open(os.path.join(OUT, "tract_parity.json"), "w"), indent=1)
