#!/usr/bin/env bash
# One short GPU check (<= 12 minutes; the renderer alone <= 6) for an H100/H200 machine, run from the
# repository root:
#
#     OUT=/some/dir bash benchmarks/gpu_check.sh
#     GPU_CHECK_STEPS=render OUT=/some/dir bash benchmarks/gpu_check.sh   # issue 17's CUDA row only
#
# GPU_CHECK_STEPS (default "gen render generative pipeline") picks the steps below.
# Expects python3 with torch (CUDA) + transformers + peft + safetensors. diffusers (and pytest,
# Pillow, PyYAML, which that machine may lack) are installed offline from ./wheels when that folder
# exists (`pip download diffusers==0.42.1 --no-deps -d wheels/`, plus pytest/pillow/pyyaml wheels;
# never committed). Then it runs, each under its own time limit:
#   1. the tiny-model generative tests on CUDA in fp32 (tests/test_generative_*.py)
#   2. the FLUX-branch tests again in bf16 (tests/test_generative_flux.py)
#   3. the renderer's CUDA check (benchmarks/render_cuda_check.py: issue 17's CUDA row, 1080p r 24,
#      matte on/off, render.cuda_graphs off/on, fps + max abs diff vs the CPU path) and the GPU-only
#      renderer tests (CUDA graph replay = numpy, tests/test_render_torch_batched.py)
#   4. benchmarks/generative_gpu.py: s/frame + peak GPU memory at 1024² and 1080p (real weights if
#      GENREFOCUS_FLUX_PATH/GENREFOCUS_LORA_DIR point at them, else tiny random components)
#   5. benchmarks/gpu_pipeline.py: the demo render through the CLI, renderer on CUDA (graphs off, and on
#      with --cuda-graphs = render.cuda_graphs) vs CPU
#      (needs PyAV there: put its wheel in ./wheels, `pip download av==18.1.0 --no-deps ...`)
# Logs, JUnit XML and JSON go to $OUT (default: a temp dir); $OUT/summary.json lists exit codes.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
T0=$(date +%s)
declare -A RC

log() { echo "[gpu_check $(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/gpu_check.log"; }

if [ -d wheels ]; then
  log "installing from ./wheels (offline)"
  for pkg in diffusers pytest pytest-timeout pillow pyyaml av; do
    "$PY" -m pip install --no-index --find-links ./wheels "$pkg" >>"$OUT/pip.log" 2>&1 \
      || echo "pip: $pkg not installed from ./wheels (see pip.log)" | tee -a "$OUT/gpu_check.log"
  done
fi

"$PY" - >"$OUT/env.json" 2>>"$OUT/gpu_check.log" <<'EOF'
import importlib, json, platform
info = {"python": platform.python_version()}
for m in ("torch", "diffusers", "transformers", "peft", "safetensors", "tokenizers", "numpy", "cv2", "yaml", "pytest", "PIL"):
    try:
        info[m] = getattr(importlib.import_module(m), "__version__", "present")
    except Exception as exc:  # noqa: BLE001
        info[m] = f"MISSING ({type(exc).__name__})"
import torch
info["cuda"] = torch.cuda.is_available()
info["device"] = torch.cuda.get_device_name(0) if info["cuda"] else None
print(json.dumps(info, indent=1))
EOF
cat "$OUT/env.json" | tee -a "$OUT/gpu_check.log"

run() {  # name, seconds, command...
  local name=$1 secs=$2; shift 2
  log "start $name (limit ${secs}s)"
  timeout --kill-after=10 "$secs" "$@" >"$OUT/$name.log" 2>&1
  RC[$name]=$?
  log "end $name rc=${RC[$name]}: $(tail -n 1 "$OUT/$name.log")"
}

STEPS=" ${GPU_CHECK_STEPS:-gen render generative pipeline} "
want() { [[ "$STEPS" == *" $1 "* ]]; }

export GENREFOCUS_TEST_DEVICE="${GPU_CHECK_DEVICE:-cuda}" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if want gen; then
  run gen_tests_fp32 110 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" --junitxml="$OUT/gen_tests_fp32.xml" \
      tests/test_generative_flux.py tests/test_generative_stages.py tests/test_generative_warping.py
  GENREFOCUS_TEST_BF16=1 run gen_tests_bf16 50 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" \
      --junitxml="$OUT/gen_tests_bf16.xml" tests/test_generative_flux.py -k "not load_flux"
fi
unset GENREFOCUS_TEST_DEVICE
if want render; then
  # the renderer's GPU-only tests (CUDA graph capture + replay against numpy), then the CUDA row:
  # one JSON object on stdout (exit 1 if GPU and CPU renders disagree beyond 1e-4); ~16 settings of
  # ~5-10 s each (numpy reference, graph capture, 10 timed frames device-only and end to end)
  run render_gpu_tests 120 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" --junitxml="$OUT/render_gpu_tests.xml" \
      tests/test_render_torch_batched.py tests/test_render_backends.py -k "cuda or torch"
  run render_cuda_check 300 bash -c "\"\$0\" benchmarks/render_cuda_check.py --repeats 10 >\"\$1\"" "$PY" \
      "$OUT/render_cuda_check.json"
fi
want generative && run generative_gpu 80 "$PY" benchmarks/generative_gpu.py --json "$OUT/generative_gpu.json"
# the CLI end to end (needs PyAV: an `av` wheel in ./wheels): renderer on CUDA vs CPU, lossless out
want pipeline && run gpu_pipeline 120 "$PY" benchmarks/gpu_pipeline.py --frames 96 --json "$OUT/gpu_pipeline.json"

{
  echo "{"
  first=1
  for k in "${!RC[@]}"; do
    [ $first = 1 ] || echo ","
    printf '  "%s": %s' "$k" "${RC[$k]}"; first=0
  done
  [ $first = 1 ] || echo ","
  printf '  "seconds": %s\n}\n' "$(( $(date +%s) - T0 ))"
} >"$OUT/summary.json"
log "summary: $(tr -d '\n' <"$OUT/summary.json")"
