import sys, torch
sys.path.insert(0, ".")
from common import build_torch
T = build_torch()
m = T["EffDetector"](pretrained=False)
m.load_state_dict(torch.load(sys.argv[1], map_location="cpu"))
m.eval()
try:
    m.net.set_swish(memory_efficient=False)
except Exception as e:
    print("set_swish", e)
class W(torch.nn.Module):
    def __init__(s, m):
        super().__init__(); s.m = m
    def forward(s, x):
        lg, reg, a = s.m(x)
        c = a[:, :2]
        return torch.sigmoid(lg), torch.cat([c - reg[..., :2], c + reg[..., 2:]], -1)
x = torch.rand(1, 3, m.S, m.S)
torch.onnx.export(W(m), x, sys.argv[2], input_names=["input"], output_names=["scores", "boxes"], opset_version=13, dynamo=False)
import onnxruntime as ort, numpy as np
s = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
o = s.run(None, {"input": x.numpy()})
with torch.no_grad():
    m.eval(); r = W(m).eval()(x)
print("max diff", float(np.abs(o[0] - r[0].numpy()).max()), float(np.abs(o[1] - r[1].numpy()).max()))
