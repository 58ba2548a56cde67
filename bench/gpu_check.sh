#!/usr/bin/env bash
# Issue 20's one prepared script: every GPU path of benchfleet on an NVIDIA GPU, in one call, within a time limit.
#
#   OUT=/some/folder bash bench/gpu_check.sh [SECONDS]      (default 390; the device tool sets OUT)
#
# Run from the repository root on a machine with an NVIDIA GPU, PyTorch with CUDA and no network. Python packages
# the machine lacks come as wheels in .whl/ (pip download them on a machine with a network; see
# /work/.library/device/README.md in this workplace); benchfleet itself is installed from this checkout.
# Steps, most valuable first; each has its own time limit and is skipped when the overall deadline leaves too little:
#   1. facts: nvidia-smi as the host reports it (kept as test fixtures for host_facts), the host_facts readers
#   2. bench/gpu_harness.py: ResNet50 (bf16; RESNET_PRECISIONS=bf16,fp16,fp32 for more), harness vs raw CUDA-graph
#      loop, SingleStream p90
#   3. bench/gpu_harness.py for the BERT-large shape (bf16, fp16)
#   4. a closed quick run of ResNet50 through `benchfleet run --device cuda` (Ansible on localhost), checked
#   5. closed quick runs of the other benchmarks on cuda, each checked
#   6. ResNet50 compiled with inductor (bf16)
# Everything lands in $OUT: log.txt (this output), nvidia-smi*.txt, host_facts.json, gpu_harness*.json, and
# runs.tar.gz (each run's results, tree and logs; models and datasets left out).
# A rerun of some steps: ONLY='regex of step names'; RESNET_PRECISIONS, BERT_PRECISIONS (comma lists), LAYOUT_AB=1
# (also the raw NCHW loop). On a warm machine a second call reuses the generated models and data in $WORK/cache.
set -u
LIMIT=${1:-390}
START=$(date +%s)
OUT=${OUT:-/tmp/gpu_check_out}
WORK=${WORK:-/tmp/gpu_check}
DEV=${DEV:-cuda}  # DEV=cpu tries the script on a machine without a GPU (reduced sizes; not GPU figures)
mkdir -p "$OUT" "$WORK/runs"
exec > >(tee "$OUT/log.txt") 2>&1
export LANG=C.UTF-8 LC_ALL=C.UTF-8 PYTHONUNBUFFERED=1
PY=$(command -v python3)
export PATH="$(dirname "$("$PY" -c 'import sys; print(sys.executable)')"):$PATH"

left() { echo $(( LIMIT - ($(date +%s) - START) )); }
# step NAME SECONDS CMD...: run CMD (a command or one of the functions below) with a limit of SECONDS (cut to what
# is left); skipped when under 20 s is left, or when ONLY (an extended regex) is set and does not match NAME
step() {
  local name=$1 want=$2; shift 2
  if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return 0; fi
  local l; l=$(left)
  if [ "$l" -lt 20 ]; then echo "=== $name SKIPPED ($l s left)"; return 0; fi
  [ "$want" -gt "$l" ] && want=$l
  echo "=== $name (limit ${want}s, $(date +%T), $l s left)"
  local t0; t0=$(date +%s)
  timeout -k 5 "$want" bash -c '"$@"' _ "$@"
  echo "=== $name rc=$? in $(( $(date +%s) - t0 ))s"
}

echo "=== packages"
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile .whl/*.whl 2>&1 | grep -v "^WARNING" | tail -3
fi
"$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile -e . 2>&1 | grep -v "^WARNING" | tail -3
"$PY" -c 'import torch, onnxruntime, mlperf_loadgen, benchfleet; print("torch", torch.__version__, "cuda",
torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "NO CUDA", "onnxruntime",
onnxruntime.__version__, onnxruntime.get_available_providers())'

echo "=== facts"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits > "$OUT/nvidia-smi-query.txt" 2>&1
cat "$OUT/nvidia-smi-query.txt"; grep -m1 "CUDA Version" "$OUT/nvidia-smi.txt"
"$PY" - > "$OUT/host_facts.json" <<'EOF'
import importlib.util, json, sys, types
# the collection's module_utils imports itself under ansible_collections.benchfleet.mlperf: map that name here
for name in ("ansible_collections", "ansible_collections.benchfleet", "ansible_collections.benchfleet.mlperf",
             "ansible_collections.benchfleet.mlperf.plugins"):
    sys.modules[name] = types.ModuleType(name); sys.modules[name].__path__ = []
sys.modules["ansible_collections.benchfleet.mlperf.plugins"].__path__ = ["plugins"]
from ansible_collections.benchfleet.mlperf.plugins.module_utils import _host_probe as hp
facts = {}
for reader in hp.READERS:
    try:
        facts.update(reader())
    except Exception as exc:
        facts.setdefault("errors", []).append(f"{reader.__name__}: {exc}")
facts["harness"] = hp.probe(sys.executable)
print(json.dumps(facts, indent=2))
EOF
grep -A8 '"gpus"' "$OUT/host_facts.json" | head -12

quick_run() {  # quick_run BENCHMARK [extra benchfleet run flags]
  local b=$1; shift
  benchfleet run --division closed --model synthetic --dataset synthetic --mode quick --backend pytorch \
    --device "$DEV" --precision bf16 --benchmark "$b" --submitter benchfleet --out "$WORK/runs/$b" \
    --cache-dir "$WORK/cache" "$@" && benchfleet check --allow-quick "$WORK/runs/$b/submission"
}
export -f quick_run
export WORK DEV

step "gpu_harness: resnet50" 150 "$PY" bench/gpu_harness.py --device "$DEV" --models resnet50 \
  --precisions "${RESNET_PRECISIONS:-bf16}" ${LAYOUT_AB:+--layout-ab} --cache-dir "$WORK/cache" --json "$OUT/gpu_harness_resnet50.json"
step "gpu_harness: bert-large shape" 240 "$PY" bench/gpu_harness.py --device "$DEV" --models bert-99 \
  --precisions "${BERT_PRECISIONS:-bf16}" \
  --raw-seconds 2 --cache-dir "$WORK/cache" --json "$OUT/gpu_harness_bert.json"
step "closed quick run: resnet50 on cuda" 240 quick_run resnet50
step "closed quick run: bert-99 on cuda" 120 quick_run bert-99
for b in retinanet 3d-unet-99 rnnt gptj-99; do
  step "closed quick run: $b on cuda" 120 quick_run "$b"
done
step "closed quick run: dlrm-v2-99 on cuda" 120 quick_run dlrm-v2-99 --system-type datacenter
step "gpu_harness: resnet50 inductor" 150 "$PY" bench/gpu_harness.py --device "$DEV" --models resnet50 --precisions bf16 \
  --compiler inductor --cache-dir "$WORK/cache" --json "$OUT/gpu_harness_resnet50_inductor.json"

echo "=== summary ($(date +%T), $(( $(date +%s) - START ))s)"
for b in "$WORK"/runs/*; do
  [ -f "$b/results.csv" ] && { echo "--- $(basename "$b")"; cut -c1-200 "$b/results.csv" | head -12; }
done
tar -C "$WORK" -czf "$OUT/runs.tar.gz" --exclude='*.onnx' --exclude='*.npy' --exclude='*.npz' --exclude='cache' \
  --exclude='*accuracy.json' runs 2>/dev/null
ls -la "$OUT"
