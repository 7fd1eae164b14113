"""Train the 2-point eye-landmark model (heatmap + soft-argmax) from scratch.

Training faces: orienfish-kaggle-catface train split, faces with exactly two eye boxes.
Writes out/<tag>.pt (EMA weights), out/<tag>.float.onnx, out/<tag>_train.log
"""
import argparse
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import ema_and_optimizer, optimizer_step, start_run, LMK_SIZE, OUT, build_torch, export_landmarks, internal_split, load_hujingyu, load_orienfish
from lmklib import LmkData, crops_for, eye_error, faces_with_eyes, to_photo

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=60)
p.add_argument("--bs", type=int, default=32)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--copies", type=int, default=8)
p.add_argument("--tag", default="landmarks")
p.add_argument("--internal-val", action="store_true", help="hold out every 10th training image for monitoring")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--teacher", default="", help="checkpoint used to pseudo-label hujingyu train faces (round 2)")
p.add_argument("--real-repeat", type=int, default=3)
p.add_argument("--pseudo-tol", type=float, default=0.06, help="max flip/jitter disagreement (fraction of IOD)")
args = p.parse_args()

torch.set_num_threads(args.threads)
log = start_run(args.seed, args.tag)


recs = load_orienfish("train")
if args.internal_val:
    tr_recs, iv_recs = internal_split(recs)
else:
    tr_recs, iv_recs = recs, []
tr_faces = faces_with_eyes(tr_recs)
iv_faces = faces_with_eyes(iv_recs)
log(f"training faces {len(tr_faces)}, internal-val faces {len(iv_faces)}")
T = build_torch()


@torch.no_grad()
def pseudo_label(teacher_path):
    """Label hujingyu train faces (training split only) with a teacher: predictions on the crop, its mirror
    and two re-scaled crops must agree within pseudo_tol * IOD; the mean is the pseudo label."""
    from PIL import Image
    from common import abspath, face_crop, load_rgb, to_tensor
    from lmklib import to_photo
    t = T["Landmarks"]()
    t.load_state_dict(torch.load(teacher_path))
    t.eval()
    faces, n_all = [], 0
    for r in load_hujingyu("train"):
        im = None
        for b in r["boxes"]:
            n_all += 1
            im = im or load_rgb(abspath(r["path"]))
            preds = []
            for sc, flip in ((1.0, False), (1.0, True), (0.9, False), (1.12, True)):
                cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
                w, h = (b[2] - b[0]) * sc, (b[3] - b[1]) * sc
                bb = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
                c, g = face_crop(im, bb)
                x = to_tensor(c.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else c)
                o = t(torch.from_numpy(x))[0][0].numpy().reshape(2, 2)
                if flip:
                    o = o[::-1].copy()
                    o[:, 0] = 1 - o[:, 0]
                preds.append(to_photo(o.ravel(), g))
            P = np.stack(preds)
            m = P.mean(0)
            iod = np.linalg.norm(m[0] - m[1])
            spread = np.linalg.norm(P - m[None], axis=2).max()
            if iod > 4 and spread / iod < args.pseudo_tol and m[0, 0] < m[1, 0]:
                faces.append(dict(path=r["path"], box=list(b), eyes=m.tolist(), pseudo=True))
    log(f"pseudo-labelled {len(faces)} of {n_all} hujingyu train faces (tol {args.pseudo_tol})")
    return faces


if args.teacher:
    # real labels are repeated so they still dominate
    tr_faces = tr_faces * args.real_repeat + pseudo_label(args.teacher)
data = LmkData(tr_faces, seed=args.seed, copies=args.copies)


class DS(torch.utils.data.Dataset):
    epoch = 0

    def __len__(self):
        return len(data)

    def __getitem__(self, i):
        a, t = data.sample(self.epoch, i)
        return torch.from_numpy(a), torch.from_numpy(t)


ds = DS()
model = T["Landmarks"]().to(memory_format=torch.channels_last)
ema, opt = ema_and_optimizer(model, args.lr)
steps_per_epoch = len(ds) // args.bs
total = args.epochs * steps_per_epoch
warm = 2 * steps_per_epoch


def lr_at(it):
    if it < warm:
        return args.lr * (0.1 + 0.9 * it / warm)
    return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (it - warm) / max(1, total - warm))))


n = model.n
grid = model.grid  # HW x 2


def loss_fn(x, t):
    xy, logit = model(x)  # B,2K ; B,K,HW
    B = x.shape[0]
    t2 = t.view(B, -1, 2)
    iod = (t2[:, 0] - t2[:, 1]).norm(dim=1).clamp(min=0.05)
    err = (xy.view(B, -1, 2) - t2).norm(dim=2).mean(1) / iod
    # gaussian heatmap target (sigma ~ 0.8 cell) as a regulariser
    d2 = ((grid[None, None] - t2[:, :, None]) ** 2).sum(-1) * (n * n)  # in cell units^2
    tgt = torch.softmax(-d2 / (2 * 0.8 ** 2), -1)
    ce = -(tgt * F.log_softmax(logit, -1)).sum(-1).mean()
    return err.mean() + 0.05 * ce, err.mean().item(), ce.item()


@torch.no_grad()
def eval_faces(m, faces):
    if not faces:
        return None
    m.eval()
    x, geo = crops_for([(f["path"], f["box"]) for f in faces])
    out, _ = m(torch.from_numpy(x).contiguous(memory_format=torch.channels_last))
    errs = [eye_error(to_photo(o, g), f["eyes"]) for o, g, f in zip(out.numpy(), geo, faces)]
    return float(np.mean(errs)), float(np.percentile(errs, 90))


t0 = time.time()
it = 0
for ep in range(args.epochs):
    ds.epoch = ep
    g = torch.Generator()
    g.manual_seed(args.seed * 1000 + ep)
    dl = torch.utils.data.DataLoader(ds, batch_size=args.bs, shuffle=True, num_workers=1, drop_last=True, generator=g)
    model.train()
    agg = np.zeros(3)
    nb = 0
    for x, t in dl:
        x = (x.permute(0, 3, 1, 2).float() / 255.0).contiguous(memory_format=torch.channels_last)
        for gp in opt.param_groups:
            gp["lr"] = lr_at(it)
        loss, e, ce = loss_fn(x, t)
        optimizer_step(model, ema, opt, loss, it)
        agg += [loss.item(), e, ce]
        nb += 1
        it += 1
    msg = f"ep {ep + 1}/{args.epochs} {time.time() - t0:.0f}s loss {agg[0] / nb:.4f} err/iod {agg[1] / nb:.4f} ce {agg[2] / nb:.3f}"
    if (ep + 1) % 5 == 0 or ep + 1 == args.epochs:
        r = eval_faces(ema, iv_faces)
        rt = eval_faces(ema, tr_faces[::4])
        msg += f" | train-gtbox mean {rt[0]:.4f}"
        if r:
            msg += f" | iv-gtbox mean {r[0]:.4f} p90 {r[1]:.4f}"
        torch.save(ema.state_dict(), os.path.join(OUT, f"{args.tag}.pt"))
    log(msg)

torch.save(ema.state_dict(), os.path.join(OUT, f"{args.tag}.pt"))
export_landmarks(ema, os.path.join(OUT, f"{args.tag}.float.onnx"))
json.dump({"train_seconds": time.time() - t0, "epochs": args.epochs}, open(os.path.join(OUT, f"{args.tag}_time.json"), "w"))
log(f"done in {time.time() - t0:.0f}s")
