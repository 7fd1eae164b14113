"""The teacher detector (train_detector.py --backbone effnet; session 21, never shipped) to ONNX with the shipped
detector's outputs (`scores` [1,N] after the sigmoid, `boxes` [1,N,4] in canvas px), so that evaluate.py and
mine.py can run it. Checks onnxruntime against torch on a random input.
usage (in models/train, EDGECAT_DET_SIZE=160): export_teacher.py teacher_det.pt teacher.onnx
"""
import sys

import numpy as np
import onnxruntime as ort
import torch

from common import build_torch

T = build_torch()
m = T["EffDetector"](pretrained=False)
m.load_state_dict(torch.load(sys.argv[1], map_location="cpu"))


class Outputs(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        lg, reg, a = self.m(x)
        c = a[:, :2]
        return torch.sigmoid(lg), torch.cat([c - reg[..., :2], c + reg[..., 2:]], -1)


w = Outputs(m).eval()
x = torch.rand(1, 3, m.S, m.S)
torch.onnx.export(w, x, sys.argv[2], input_names=["input"], output_names=["scores", "boxes"], opset_version=13,
                  dynamo=False)
# the exporter puts the module back in the mode it found it in: the reference must run in eval mode
w.eval()
with torch.no_grad():
    ref = w(x)
got = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
print("onnxruntime vs torch, max |diff|: scores", float(np.abs(got[0] - ref[0].numpy()).max()),
      "boxes", float(np.abs(got[1] - ref[1].numpy()).max()))
