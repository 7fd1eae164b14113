"""Train the landmark model from scratch: two eyes (heatmaps + soft-argmax) and, since session 8, the face
check, a "cat face or not" score for the same crop.

Eye faces: orienfish-kaggle-catface train split, faces with exactly two eye boxes. Face check (--mined,
mine.py's output): every labelled training face against the detector's own false detections on the
training photos and dogs, plus made-up off-face crops. --internal-val keeps every 10th training photo out
(evaluate.py picks thresholds on it), as mine.py marks them.
Writes out/<tag>.pt (EMA weights), out/<tag>.float.onnx, out/<tag>_train.log
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import ema_and_optimizer, optimizer_step, start_run, OUT, build_torch, export_landmarks, internal_split, load_orienfish
from lmklib import FaceCheckData, LmkData, crops_for, eye_error, faces_with_eyes, iou1, to_photo

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=40)
p.add_argument("--bs", type=int, default=32)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--copies", type=int, default=6)
p.add_argument("--tag", default="landmarks")
p.add_argument("--internal-val", action="store_true", help="hold out every 10th training image")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--mined", default="", help="mine.py output: enables the face check")
p.add_argument("--face-weight", type=float, default=0.5)
p.add_argument("--legacy", action="store_true", help="sessions 1-7's net (stem 24, wide 96, no face check)")
p.add_argument("--teachers", default="", help="teachers.py's cache: pets/ detections join the face check (session 9)")
p.add_argument("--n-pos", type=int, default=0, help="face-check positives drawn per epoch (0: all)")
p.add_argument("--n-neg", type=int, default=1300, help="face-check hard negatives drawn per epoch")
p.add_argument("--init-onnx", default="", help="warm start from a shipped landmark model's ONNX (BatchNorms frozen)")
p.add_argument("--conventions", default="", metavar="DETECTOR_ONNX",
               help="session 20: the eye faces' labelled boxes (orienfish's, tighter than the detector's) put in this "
                    "detector's box convention first (conventions.py's fit), so that crops made from them are framed "
                    "as the detector's boxes frame them at run time")
p.add_argument("--warmup", type=float, default=2)
p.add_argument("--stop-epoch", type=int, default=0, help="stop after this epoch (the schedule stays that of --epochs)")
p.add_argument("--hard-neg-frac", type=float, default=0.0,
               help="share of the face check's negative draws taken from the negatives the model scores highest "
                    "(rescored before each epoch from the second on; 0: uniform draws, as before session 14)")
p.add_argument("--hard-neg-top", type=int, default=3000, help="how many of the highest-scored negatives to draw from")
args = p.parse_args()

torch.set_num_threads(args.threads)
log = start_run(args.seed, args.tag)

recs = load_orienfish("train")
tr_recs, iv_recs = internal_split(recs) if args.internal_val else (recs, [])
tr_faces, iv_faces = faces_with_eyes(tr_recs), faces_with_eyes(iv_recs)
rows = json.load(open(args.mined)) if args.mined else []
# the detector's real boxes on each eye face (IoU >= 0.5)
dets_of = {(r["path"], j): [d[:4] for d in r["dets"] if iou1(d, g) >= 0.5]
           for r in rows for j, g in enumerate(r["boxes"])}
for f in tr_faces + iv_faces:
    f["dets"] = dets_of.get((f["path"], f["j"]), [])
if args.conventions:
    import conventions
    from common import abspath
    conv, _ = conventions.fit_file(abspath(args.conventions))
    log(f"eye faces' labelled boxes put in {args.conventions}'s convention: orienfish {conv['orienfish']}")
    for f in tr_faces + iv_faces:
        f["box"] = conventions.unapply(f["box"], conv["orienfish"])
log(f"eye faces: training {len(tr_faces)} ({sum(1 for f in tr_faces if f['dets'])} with detector boxes), "
    f"internal-val {len(iv_faces)}")
eyes_data = LmkData(tr_faces, seed=args.seed, copies=args.copies)
if rows and not args.internal_val:
    rows = [dict(r, internal=False) for r in rows]  # a final model may train on every training photo
teachers = json.load(open(args.teachers)) if args.teachers else None
face_data = FaceCheckData(rows, seed=args.seed, teachers=teachers, n_neg=args.n_neg,
                          n_pos=args.n_pos or None) if rows else None
if face_data:
    log(f"face check: {len(face_data.pos)} labelled faces, {len(face_data.neg)} hard negatives "
        f"({face_data.n_pos} positives, {face_data.n_neg} + {face_data.n_synth} made-up negatives per epoch)")
T = build_torch()


class DS(torch.utils.data.Dataset):
    epoch = 0

    def __len__(self):
        return len(eyes_data) + (len(face_data) if face_data else 0)

    def __getitem__(self, i):
        # -> crop, eyes (4), has eyes, face label, has face label
        if i < len(eyes_data):
            a, t = eyes_data.sample(self.epoch, i)
            return torch.from_numpy(a), torch.from_numpy(t), 1.0, 1.0, 1.0
        a, y = face_data.sample(self.epoch, i - len(eyes_data))
        return torch.from_numpy(a), torch.zeros(4), 0.0, y, 1.0


ds = DS()
arch = dict(stem=24, wide=96, face=False) if args.legacy else dict(face=bool(face_data))
model = T["Landmarks"](**arch)
if args.init_onnx:
    from common import abspath, freeze_bn, init_landmarks_from_onnx
    init_landmarks_from_onnx(model, abspath(args.init_onnx))
    log(f"warm start from {args.init_onnx} (BN-folded weights, BatchNorms frozen)")
model = model.to(memory_format=torch.channels_last)
ema, opt = ema_and_optimizer(model, args.lr)
steps_per_epoch = len(ds) // args.bs
total = args.epochs * steps_per_epoch
warm = int(args.warmup * steps_per_epoch)


def lr_at(it):
    if it < warm:
        return args.lr * (0.1 + 0.9 * it / warm)
    return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (it - warm) / max(1, total - warm))))


n = model.n
grid = model.grid  # HW x 2


def loss_fn(x, t, has_eyes, face, has_face):
    out = model(x)
    xy, logit = out[0], out[1]
    B = x.shape[0]
    t2 = t.view(B, -1, 2)
    iod = (t2[:, 0] - t2[:, 1]).norm(dim=1).clamp(min=0.05)
    err = (xy.view(B, -1, 2) - t2).norm(dim=2).mean(1) / iod
    # gaussian heatmap target (sigma ~ 0.8 cell) as a regulariser
    d2 = ((grid[None, None] - t2[:, :, None]) ** 2).sum(-1) * (n * n)  # in cell units^2
    tgt = torch.softmax(-d2 / (2 * 0.8 ** 2), -1)
    ce = -(tgt * F.log_softmax(logit, -1)).sum(-1).mean(1)
    ne = has_eyes.sum().clamp(min=1)
    e_mean = (err * has_eyes).sum() / ne
    loss = e_mean + 0.05 * (ce * has_eyes).sum() / ne
    bce = torch.zeros(())
    if len(out) > 2:
        bce = (F.binary_cross_entropy_with_logits(out[2], face, reduction="none") * has_face).sum() / has_face.sum().clamp(min=1)
        loss = loss + args.face_weight * bce
    return loss, e_mean.item(), bce.item()


@torch.no_grad()
def eval_faces(m, faces, use_dets=False):
    items = [(f["path"], (f["dets"][0] if use_dets and f["dets"] else f["box"])) for f in faces]
    if not items:
        return None
    m.eval()
    x, geo = crops_for(items)
    out = m(torch.from_numpy(x).contiguous(memory_format=torch.channels_last))[0]
    errs = [eye_error(to_photo(o, g), f["eyes"]) for o, g, f in zip(out.numpy(), geo, faces)]
    return float(np.mean(errs)), float(np.percentile(errs, 90))


@torch.no_grad()
def eval_face_check(m, thr=0.2):
    """internal-val photos: the face check's score on true detections (IoU >= 0.5) and false ones"""
    iv = [r for r in rows if r["internal"] and r["set"] not in ("cvd_cat", "pets_cat")]
    items, lab = [], []
    for r in iv:
        for d in r["dets"]:
            if d[4] >= thr:
                items.append((r["path"], d[:4]))
                lab.append(max((iou1(d, g) for g in r["boxes"]), default=0.0) >= 0.5)
    x, _ = crops_for(items)
    s = torch.sigmoid(m(torch.from_numpy(x))[2]).numpy()
    lab = np.array(lab)
    return {f"keep@{t}": f"TP {int((s[lab] >= t).sum())}/{int(lab.sum())} FP {int((s[~lab] >= t).sum())}/{int((~lab).sum())}"
            for t in (0.3, 0.5, 0.7)}


t0 = time.time()
it = 0
neg_crops = face_data.neg_crops() if face_data and args.hard_neg_frac > 0 else None


@torch.no_grad()
def score_negatives(m):
    """The face check's probability on every hard negative, as cropped in the worker."""
    m.eval()
    out = []
    for i in range(0, len(neg_crops), 256):
        x = torch.from_numpy(neg_crops[i:i + 256]).permute(0, 3, 1, 2).float() / 255.0
        out.append(torch.sigmoid(m(x.contiguous(memory_format=torch.channels_last))[2]))
    return torch.cat(out).numpy()


for ep in range(args.epochs):
    ds.epoch = ep
    if neg_crops is not None and ep >= 1:
        s_neg = score_negatives(ema)
        face_data.hard = [int(i) for i in np.argsort(-s_neg)[:args.hard_neg_top]]
        face_data.hard_frac = args.hard_neg_frac
        log(f"ep {ep + 1}: hard negatives rescored: {int((s_neg >= 0.5).sum())} of {len(s_neg)} at >= 0.5, "
            f"the top {len(face_data.hard)} from {s_neg[face_data.hard[-1]]:.3f}")
    g = torch.Generator()
    g.manual_seed(args.seed * 1000 + ep)
    dl = torch.utils.data.DataLoader(ds, batch_size=args.bs, shuffle=True, num_workers=1, drop_last=True, generator=g)
    model.train()
    if args.init_onnx:
        freeze_bn(model)
    agg = np.zeros(3)
    nb = 0
    for x, t, he, fy, hf in dl:
        x = (x.permute(0, 3, 1, 2).float() / 255.0).contiguous(memory_format=torch.channels_last)
        for gp in opt.param_groups:
            gp["lr"] = lr_at(it)
        loss, e, bce = loss_fn(x, t, he.float(), fy.float(), hf.float())
        optimizer_step(model, ema, opt, loss, it)
        agg += [loss.item(), e, bce]
        nb += 1
        it += 1
    msg = f"ep {ep + 1}/{args.epochs} {time.time() - t0:.0f}s loss {agg[0] / nb:.4f} err/iod {agg[1] / nb:.4f} bce {agg[2] / nb:.3f}"
    if (ep + 1) % 5 == 0 or ep + 1 == args.epochs:
        rt = eval_faces(ema, tr_faces[::4])
        msg += f" | train-gtbox mean {rt[0]:.4f}"
        for name, use in (("gtbox", False), ("detbox", True)):
            r = eval_faces(ema, iv_faces, use)
            if r:
                msg += f" | iv-{name} mean {r[0]:.4f} p90 {r[1]:.4f}"
        if face_data and args.internal_val:
            msg += f" | iv face check {eval_face_check(ema)}"
        torch.save(ema.state_dict(), os.path.join(OUT, f"{args.tag}.pt"))
    log(msg)
    if args.stop_epoch and ep + 1 >= args.stop_epoch:
        log(f"stopped after epoch {ep + 1} (--stop-epoch)")
        break

torch.save(ema.state_dict(), os.path.join(OUT, f"{args.tag}.pt"))
export_landmarks(ema, os.path.join(OUT, f"{args.tag}.float.onnx"))
json.dump({"train_seconds": time.time() - t0, "epochs": ep + 1, "arch": arch},
          open(os.path.join(OUT, f"{args.tag}_time.json"), "w"))
log(f"done in {time.time() - t0:.0f}s")
