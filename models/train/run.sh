#!/usr/bin/env bash
# Recreate edgecat's models end to end from ../shared/data (repo-relative):
# venv -> train detector -> train landmarks -> export -> int8 quantization -> evaluate ->
# models/manifest.json + models/fixtures/ (+ optional tract parity check).
#   models/train/run.sh                    full run (~65 min on 2 idle CPU cores)
#   TRACTCHECK=/tmp/tractcheck/target/release/tractcheck models/train/run.sh   also compares tract vs onnxruntime
#   SKIP_DETECTOR=1 models/train/run.sh    keep the committed detector: mine, landmarks + face check, evaluate (~15 min)
#   SKIP_TRAIN=1 models/train/run.sh       re-quantize/evaluate from existing out/landmarks.float.onnx
set -euo pipefail
cd "$(dirname "$0")"
VENV="${EDGECAT_TRAIN_VENV:-$HOME/.cache/edgecat/venv-train}"
if [ ! -x "$VENV/bin/python" ]; then
  python3.11 -m venv "$VENV"
fi
if ! "$VENV/bin/pip" freeze 2>/dev/null | sort | diff -q - <(sort requirements.txt) >/dev/null; then
  "$VENV/bin/pip" install -q -r requirements.txt
fi
PY="$VENV/bin/python"
# PASSIVE: idle OpenMP threads sleep instead of spinning (matters a lot when the 2 cores are shared)
export PYTHONHASHSEED=0 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE
mkdir -p out
start=$(date +%s)
if [ -z "${SKIP_TRAIN:-}" ] && [ -z "${SKIP_DETECTOR:-}" ]; then
  # detector, stage A: UltraFace-slim backbone initialised from its MIT-licensed human-face weights
  # (../shared/reference-models), our heads, 80 epochs at 256 input (~38 min on 2 idle cores)
  "$PY" train_detector.py --backbone ultraface --epochs 80 --seed 0 --lr 2e-3 --warmup 2 --tag detector_uf > out/detector_uf.stdout 2>&1
  # stage B: stage A labels the unlabelled cats-vs-dogs/cat photos (>= 0.7 boxes, 0.25-0.7 ignored),
  # then a 30-epoch fine-tune on labels + pseudo-labels (~19 min)
  "$PY" pseudo_label.py out/detector_uf.float.onnx out/pseudo_uf.json > out/pseudo_uf.stdout 2>&1
  "$PY" train_detector.py --backbone ultraface --init out/detector_uf.pt --pseudo out/pseudo_uf.json \
    --epochs 30 --seed 2 --lr 1e-3 --warmup 1 --tag detector > out/detector.stdout 2>&1
  # (sessions 1-3's from-scratch detector: train_detector.py --backbone ours, see models/README.md)
  "$PY" quantize.py det out/detector.float.onnx ../detector.int8.onnx percentile > out/quantize.log 2>&1
  # weight-only int8 (W8A32): tract runs activation Q/DQ pairs as float "fake quantization" (weight_only.py)
  "$PY" weight_only.py ../detector.int8.onnx >> out/quantize.log 2>&1
fi
if [ -z "${SKIP_TRAIN:-}" ]; then
  # the shipped detector on every training photo at score 0.1: its real boxes and its false faces (~1 min)
  "$PY" mine.py ../detector.int8.onnx out/mined.json 0.1 > out/mine.stdout 2>&1
  # landmarks + face check, internal-val photos left out (~12 min; logs: out/*_train.log)
  "$PY" train_landmarks.py --epochs 40 --seed 0 --internal-val --mined out/mined.json --tag landmarks > out/landmarks.stdout 2>&1
fi
"$PY" quantize.py lmk out/landmarks.float.onnx ../landmarks.int8.onnx percentile >> out/quantize.log 2>&1
"$PY" weight_only.py ../landmarks.int8.onnx >> out/quantize.log 2>&1
# thresholds and the second pass from internal validation, then the held-out figures (the only step
# that reads the held-out splits), manifest and fixtures
"$PY" evaluate.py --held-out > out/evaluate.stdout 2>&1
"$PY" failure_sheet.py > out/failure_sheet.stdout 2>&1
if [ -n "${TRACTCHECK:-}" ] && [ -x "${TRACTCHECK}" ]; then
  "$PY" compare_tract.py "$TRACTCHECK" > out/tract_parity.log 2>&1
  tail -1 out/tract_parity.log
fi
echo "run.sh done in $(( $(date +%s) - start ))s"
cat ../manifest.json
