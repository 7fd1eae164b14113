#!/usr/bin/env bash
# Recreate edgecat's models from ../shared (repo-relative), by stages. Each stage is skipped when its
# output exists in $EDGECAT_TRAIN_OUT (default ~/.cache/edgecat/train-out, outside the repo), so one step
# can be re-run without the others:
#   models/train/run.sh                         everything still missing (~20 min on 2 quiet cores in session 11, after the venv's first install)
#   FORCE="landmarks evaluate" models/train/run.sh   re-run those stages (say which: later stages are not re-run by themselves)
#   ONLY=evaluate models/train/run.sh            one stage only
#   TRACTCHECK=/path/to/tractcheck models/train/run.sh   also compares tract with onnxruntime
#   EDGECAT_PETS_INTERNAL="2 3 4" EDGECAT_TRAIN_OUT=DIR models/train/run.sh   the recipe on a wider internal split
#     (session 19; common.py): the models are written to DIR, not models/, and evaluate stays on internal
#     validation (no held-out figures, no manifest); about 9 minutes after teachers.json is in DIR
# Stages (session 11; models/README.md has the recipe and the figures):
#   teachers   EfficientNet-Lite0 + YOLOX-nano over every training/internal pets/ and cats-vs-dogs photo
#   mine0      session 8's detector (256) at score 0.1 on every training photo, with the teachers' crop judgement
#   pseudo     pseudo-labelled cats and teacher-checked dogs for the detector (pets_pseudo.py)
#   detector   session 8's detector fine-tuned at 160 input on the labelled faces and pets/; int8
#   landmarks  eyes + face check fine-tuned from session 8's on mine0's rows, with pets/ hard negatives; int8
#   evaluate   thresholds (first pass, face check, tile pass) and the second pass on internal validation,
#              then the held-out figures, manifest, fixtures, failure sheet
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
# 256: session 8's detector, which mine0 runs; the detector and evaluate stages say 160 themselves
export EDGECAT_TRAIN_OUT="${EDGECAT_TRAIN_OUT:-$HOME/.cache/edgecat/train-out}" EDGECAT_DET_SIZE=256
O="$EDGECAT_TRAIN_OUT"
mkdir -p "$O"
# where the int8 models go: models/ for the shipped split, $O for an experiment's wider internal split
M=..
HELD=--held-out
if [ "${EDGECAT_PETS_INTERNAL:-2}" != 2 ]; then
  M="$O"
  HELD=
  [ -s "$O/teachers.json" ] || [ ! -s "$HOME/.cache/edgecat/train-out/teachers.json" ] || cp "$HOME/.cache/edgecat/train-out/teachers.json" "$O/"
fi
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
# The detector (session 11): session 8's weights fine-tuned at 160 input (BatchNorms frozen) on the labelled faces,
# cats-vs-dogs' even dogs x2, and per epoch DET_PETS_POS pseudo-labelled cat photos and DET_PETS_NEG teacher-checked
# dogs from pets/; then int8 (percentile calibration at 160, weight-only). DET_EPOCHS / DET_MINUTES bound it.
run detector "$O/detector.float.onnx" sh -c "EDGECAT_DET_SIZE=160 $PY train_detector.py --backbone ultraface \
  --init-onnx '$O/detector_s8.int8.onnx' --pets '$O/pets_pseudo.json' --pets-pos ${DET_PETS_POS:-600} \
  --pets-neg ${DET_PETS_NEG:-800} --epochs ${DET_EPOCHS:-12} --max-minutes ${DET_MINUTES:-60} --seed 3 --lr 1e-3 \
  --warmup 1 --tag detector > '$O/detector.stdout' 2>&1 \
  && EDGECAT_DET_SIZE=160 $PY quantize.py det '$O/detector.float.onnx' '$M/detector.int8.onnx' percentile > '$O/quantize_det.log' 2>&1 \
  && $PY weight_only.py '$M/detector.int8.onnx' >> '$O/quantize_det.log' 2>&1"
# eyes + face check, fine-tuned from session 8's on mine0's rows (session 8's detector's boxes and false finds),
# pets/ detections judged by the teachers; 12 epochs (session 9 stopped at 5 for time; session 11 ran all 12)
run landmarks "$O/landmarks.float.onnx" sh -c "$PY train_landmarks.py --init-onnx '$O/landmarks_s8.int8.onnx' --epochs 12 \
  --lr 1e-3 --warmup 1 --seed 0 --internal-val --mined '$O/mined_s8.json' --teachers '$O/teachers.json' --n-pos 1500 \
  --n-neg 2000 --face-weight 1.0 --tag landmarks > '$O/landmarks.stdout' 2>&1 \
  && $PY quantize.py lmk '$O/landmarks.float.onnx' '$M/landmarks.int8.onnx' percentile > '$O/quantize_lmk.log' 2>&1 \
  && $PY weight_only.py '$M/landmarks.int8.onnx' >> '$O/quantize_lmk.log' 2>&1"
# thresholds and the second pass from internal validation, then the held-out figures (the only step that
# reads the held-out splits), manifest and fixtures; then the failure sheet (out/failures)
if [ -n "$HELD" ]; then
  run evaluate "$O/metrics.json" sh -c "EDGECAT_DET_SIZE=160 EVAL_KINDS=int8 $PY evaluate.py --held-out > '$O/evaluate.stdout' 2>&1 && $PY failure_sheet.py > '$O/failure_sheet.stdout' 2>&1"
else
  run evaluate "$O/metrics_internal.json" sh -c "EDGECAT_DET_SIZE=160 EVAL_KINDS=int8 $PY evaluate.py --det-int8 '$M/detector.int8.onnx' \
    --lmk-int8 '$M/landmarks.int8.onnx' > '$O/evaluate.stdout' 2>&1"
fi
if [ -n "${TRACTCHECK:-}" ] && [ -x "${TRACTCHECK}" ]; then
  $PY compare_tract.py "$TRACTCHECK" > "$O/tract_parity.log" 2>&1
  tail -1 "$O/tract_parity.log"
fi
echo "run.sh done in $(( $(date +%s) - start ))s"
