"""Train the cat-or-dog gate (session 19, issue 25) on gate_data.py's crops.

Each step draws half cat crops and half dog crops; half of the dog draws come from the detections that
scored >= HARD on the detector (the face-like ones the pipeline must reject). A crop is cut from the stored
one at GATE_SCALE x the box, jittered in scale (x0.85-1.15) and centre (0.1 of the box), mirrored half the
time, colour-jittered, then resized to GATE_SIZE (bilinear, as the worker's crop). Internal validation (the
rows mine.py marks internal) reports, on the EMA weights after each epoch, how many dog crops the gate
rejects while it keeps 99 %, 98 % and 95 % of the cat crops scoring >= HARD.

Writes out/<tag>.pt (EMA weights), out/<tag>.float.onnx, out/<tag>_train.log.
With --distil W (default 1), the teacher's judgement on each crop (gate_data.py) is a second, soft target,
weighed by how sure the teacher is that the crop holds a cat or a dog at all.

usage: train_gate.py crops.npz [--epochs N] [--steps N] [--lr X] [--seed N] [--distil W] [--tag gate]
"""
import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import GATE_SCALE, GATE_SIZE, OUT, build_torch, ema_and_optimizer, export_gate, optimizer_step, start_run
from gate_data import STORE_SCALE

HARD = 0.3

ap = argparse.ArgumentParser()
ap.add_argument("crops")
ap.add_argument("--epochs", type=int, default=30)
ap.add_argument("--steps", type=int, default=150)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--lr", type=float, default=3e-3)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--tag", default="gate")
ap.add_argument("--distil", type=float, default=1.0, help="weight of the teacher's soft target (0: hard labels only)")
args = ap.parse_args()
torch.set_num_threads(2)
log = start_run(args.seed, args.tag)
rng = np.random.default_rng(args.seed)

d = np.load(args.crops)
X = torch.from_numpy(d["x"]).permute(0, 3, 1, 2).contiguous()  # N,3,96,96 uint8
y, score, internal = d["y"], d["score"], d["internal"]
# the teacher's judgement on the gate's crop: "cat" among cat + dog, weighed by how sure it is that the crop
# holds either (a patch of floor is neither, and says nothing)
if "p_cat" in d.files and args.distil > 0:
    soft = d["p_cat"] / (d["p_cat"] + d["p_dog"] + 1e-6)
    conf = np.clip(d["p_cat"] + d["p_dog"], 0, 1)
else:
    soft, conf = y.astype(np.float32), np.zeros(len(y), np.float32)
tr = ~internal
cats = np.flatnonzero(tr & (y == 1))
dogs = np.flatnonzero(tr & (y == 0))
hard = np.flatnonzero(tr & (y == 0) & (score >= HARD))
log(f"training: {len(cats)} cat crops, {len(dogs)} dog crops ({len(hard)} scoring >= {HARD})")

model = build_torch()["Gate"]()
ema, opt = ema_and_optimizer(model, args.lr)
total = args.epochs * args.steps
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total, pct_start=0.1)
BASE = GATE_SCALE / STORE_SCALE  # the gate's crop as a share of the stored one


def cut(idx, train):
    """stored crops -> GATE_SIZE inputs in 0..1 (jittered when training)"""
    n = len(idx)
    x = X[idx].float() / 255.0
    s = np.full(n, BASE)
    t = np.zeros((n, 2))
    flip = np.ones(n)
    if train:
        s = s * rng.uniform(0.85, 1.15, n)
        t = rng.uniform(-0.1, 0.1, (n, 2)) / STORE_SCALE * 2  # 0.1 box in grid units (-1..1 spans the store)
        flip = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    theta = np.zeros((n, 2, 3))
    theta[:, 0, 0] = s * flip
    theta[:, 1, 1] = s
    theta[:, :, 2] = t
    grid = F.affine_grid(torch.tensor(theta, dtype=torch.float32), (n, 3, GATE_SIZE, GATE_SIZE), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if train:
        b = torch.tensor(rng.uniform(-0.15, 0.15, (n, 1, 1, 1)), dtype=torch.float32)
        c = torch.tensor(rng.uniform(0.7, 1.3, (n, 1, 1, 1)), dtype=torch.float32)
        m = x.mean((1, 2, 3), keepdim=True)
        x = (x - m) * c + m + b
        grey = torch.tensor(rng.random(n) < 0.1)
        x[grey] = x[grey].mean(1, keepdim=True).expand(-1, 3, -1, -1)
        x = x.clamp(0, 1)
    return x


def evaluate(net):
    iv = np.flatnonzero(internal)
    with torch.no_grad():
        p = torch.cat([torch.sigmoid(net(cut(iv[i:i + 256], False))) for i in range(0, len(iv), 256)]).numpy()
    # the cats that matter: labelled faces and detections >= HARD (most of the rest are ears, fur, bodies)
    pc, pd = p[(y[iv] == 1) & (score[iv] >= HARD)], p[y[iv] == 0]
    ph = p[(y[iv] == 0) & (score[iv] >= HARD)]
    out = []
    for keep in (0.99, 0.98, 0.95):
        thr = np.quantile(pc, 1 - keep)
        out.append(f"keep {keep:.2f} of cats (thr {thr:.3f}): rejects {np.mean(pd < thr):.3f} of dogs, "
                   f"{np.mean(ph < thr):.3f} of dogs >= {HARD}")
    return f"{len(pc)} cats, {len(pd)} dogs ({len(ph)} >= {HARD}); " + "; ".join(out)


t0 = time.time()
it = 0
for ep in range(args.epochs):
    model.train()
    tl = 0.0
    for _ in range(args.steps):
        h = args.batch // 2
        di = np.concatenate([rng.choice(dogs, h - h // 2), rng.choice(hard, h // 2)])
        idx = np.concatenate([rng.choice(cats, h), di])
        target = torch.tensor(np.r_[np.ones(h), np.zeros(len(di))], dtype=torch.float32)
        logit = model(cut(idx, True))
        loss = F.binary_cross_entropy_with_logits(logit, target)
        if args.distil > 0:
            w = torch.tensor(conf[idx], dtype=torch.float32)
            st = torch.tensor(soft[idx], dtype=torch.float32)
            loss = loss + args.distil * (w * F.binary_cross_entropy_with_logits(logit, st, reduction="none")).mean()
        optimizer_step(model, ema, opt, loss, it)
        sched.step()
        it += 1
        tl += loss.item()
    log(f"epoch {ep + 1} loss {tl / args.steps:.4f} {time.time() - t0:.0f}s | iv {evaluate(ema)}")
    torch.save(ema.state_dict(), os.path.join(OUT, f"{args.tag}.pt"))
export_gate(ema, os.path.join(OUT, f"{args.tag}.float.onnx"))
log("wrote", os.path.join(OUT, f"{args.tag}.float.onnx"))
