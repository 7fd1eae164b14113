#!/usr/bin/env bash
# Recreate edgecat's models from ../shared (repo-relative), by stages. Each stage is skipped when its
# output exists in $EDGECAT_TRAIN_OUT (default ~/.cache/edgecat/train-out, outside the repo), so one step
# can be re-run without the others:
#   models/train/run.sh                         everything still missing (~60 min on 2 shared cores)
#   FORCE="landmarks evaluate" models/train/run.sh   re-run those stages (say which: later stages are not re-run by themselves)
#   ONLY=evaluate models/train/run.sh            one stage only
#   TRACTCHECK=/path/to/tractcheck models/train/run.sh   also compares tract with onnxruntime
# Stages (session 9; models/README.md has the recipe and the figures):
#   teachers   EfficientNet-Lite0 + YOLOX-nano over every training/internal pets/ and cats-vs-dogs photo
#   mine0      session 8's detector (256) at score 0.1 on every training photo, with the teachers' crop judgement
#   pseudo     pseudo-labelled cats and teacher-checked dogs for the detector (pets_pseudo.py)
#   detector   session 8's detector, kept (DET160=1 also runs the 160-input fine-tune that was tried)
#   landmarks  eyes + face check fine-tuned from session 8's on mine0's rows, with pets/ hard negatives; int8
#   evaluate   thresholds on internal validation, then the held-out figures, manifest, fixtures, failure sheet
set -euo pipefail
cd "$(dirname "$0")"
VENV="${EDGECAT_TRAIN_VENV:-$HOME/.cache/edgecat/venv-train}"
if [ ! -x "$VENV/bin/python" ]; then
  python3.11 -m venv "$VENV"
fi
if ! "$VENV/bin/pip" freeze 2>/dev/null | sort | diff -q - <(sort requirements.txt) >/dev/null; then
  "$VENV/bin/pip" install -q -r requirements.txt
fi
PY="nice -n 19 $VENV/bin/python"
# PASSIVE: idle OpenMP threads sleep instead of spinning (matters a lot when the 2 cores are shared)
export PYTHONHASHSEED=0 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE
export EDGECAT_TRAIN_OUT="${EDGECAT_TRAIN_OUT:-$HOME/.cache/edgecat/train-out}" EDGECAT_DET_SIZE=256
O="$EDGECAT_TRAIN_OUT"
mkdir -p "$O"
start=$(date +%s)
# Session 8's models, the warm start (their float checkpoints were never kept), from git history.
S8=1b4e1a2
for m in detector landmarks; do
  [ -s "$O/${m}_s8.int8.onnx" ] || git show "$S8:models/$m.int8.onnx" > "$O/${m}_s8.int8.onnx"
done

# run STAGE OUTPUT CMD...: skipped when OUTPUT exists, unless STAGE is in $FORCE; with $ONLY, only that stage
run() {
  local stage=$1 out=$2
  shift 2
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $stage "* ]]; then return; fi
  if [ -e "$out" ] && [[ " ${FORCE:-} " != *" $stage "* ]]; then
    echo "[$stage] $out exists, skipped"
    return
  fi
  echo "[$stage] $(date -u +%H:%M:%S) $*"
  local t=$(date +%s)
  "$@"
  echo "[$stage] done in $(( $(date +%s) - t ))s"
}

run teachers "$O/teachers.json" $PY teachers.py "$O/teachers.json"
run mine0 "$O/mined_s8.json" \
  sh -c "$PY mine.py '$O/detector_s8.int8.onnx' '$O/mined_s8.json' 0.1 --teachers '$O/teachers.json' > '$O/mine_s8.stdout' 2>&1"
run pseudo "$O/pets_pseudo.json" \
  sh -c "$PY pets_pseudo.py '$O/mined_s8.json' '$O/teachers.json' '$O/pets_pseudo.json' > '$O/pets_pseudo.stdout' 2>&1"
# The shipped detector is session 8's (256 input), unchanged: its float export for evaluate.py. Session 9's
# 160-input fine-tune (DET160=1, below) lost two curated cats of tests/http/hipsterize.test.mjs (models/README.md).
run detector "$O/detector256.float.onnx" sh -c "$PY train_detector.py --backbone ultraface --init-onnx '$O/detector_s8.int8.onnx' \
  --epochs 0 --tag detector256 > '$O/detector256.stdout' 2>&1 && cp '$O/detector_s8.int8.onnx' ../detector.int8.onnx"
if [ -n "${DET160:-}" ]; then
  # tried, not shipped: 8 epochs (17 min cap) of a 12-epoch schedule of ~2,700 samples at 160 input: the labelled faces,
  # cats-vs-dogs' even dogs x2, 600 pseudo-labelled cat photos and 800 teacher-checked dogs from pets/ per epoch
  run detector160 "$O/detector.float.onnx" sh -c "EDGECAT_DET_SIZE=160 $PY train_detector.py --backbone ultraface \
    --init-onnx '$O/detector_s8.int8.onnx' --pets '$O/pets_pseudo.json' --pets-pos 600 --pets-neg 800 --epochs 12 \
    --max-minutes 17 --seed 3 --lr 1e-3 --warmup 1 --tag detector > '$O/detector.stdout' 2>&1"
fi
# eyes + face check, fine-tuned from session 8's on mine0's rows (session 8's detector's boxes and false finds:
# session 9 trained it beside the detector, for time), pets/ detections judged by the teachers; 5 epochs of a
# 12-epoch schedule (session 9 stopped it there for time and shipped that checkpoint)
run landmarks "$O/landmarks.float.onnx" sh -c "$PY train_landmarks.py --init-onnx '$O/landmarks_s8.int8.onnx' --epochs 12 --stop-epoch 5 \
  --lr 1e-3 --warmup 1 --seed 0 --internal-val --mined '$O/mined_s8.json' --teachers '$O/teachers.json' --n-pos 1500 \
  --n-neg 2000 --face-weight 1.0 --tag landmarks > '$O/landmarks.stdout' 2>&1 \
  && $PY quantize.py lmk '$O/landmarks.float.onnx' ../landmarks.int8.onnx percentile > '$O/quantize_lmk.log' 2>&1 \
  && $PY weight_only.py ../landmarks.int8.onnx >> '$O/quantize_lmk.log' 2>&1"
# thresholds and the second pass from internal validation, then the held-out figures (the only step that
# reads the held-out splits), manifest and fixtures; then the failure sheet (out/failures)
run evaluate "$O/metrics.json" sh -c "EVAL_KINDS=int8 $PY evaluate.py --held-out --det-float '$O/detector256.float.onnx' > '$O/evaluate.stdout' 2>&1 && $PY failure_sheet.py > '$O/failure_sheet.stdout' 2>&1"
if [ -n "${TRACTCHECK:-}" ] && [ -x "${TRACTCHECK}" ]; then
  $PY compare_tract.py "$TRACTCHECK" > "$O/tract_parity.log" 2>&1
  tail -1 "$O/tract_parity.log"
fi
echo "run.sh done in $(( $(date +%s) - start ))s"
