#!/usr/bin/env bash
# GPU benchmarks of uer_ray, through the project's own commands, into bench/results/gpu.txt:
#
#   (a) bert-base pre-training in bf16 on 1 GPU (run.py preprocess + run.py pretrain --gpu):
#       steady real tokens/s from metrics.jsonl (first logging window skipped) and MFU, at
#       seq 128 and, when the time budget allows, seq 512;
#   (b) bert-base fine-tuning (run.py finetune --task classify, book_review): examples/s per epoch;
#   (c) the same pre-training with 2 workers over nccl (--workers 2 --gpu), when nvidia-smi -L
#       lists two or more GPUs (otherwise a line says it was skipped and why);
#   (d) greedy generation tokens/s (uer_ray.generate.generate, what run.py generate calls).
#
# Usage: bench/gpu.sh [--quick] [--cpu-smoke] [--work DIR]
#   --quick       very short GPU run (seconds per part); its table goes to WORK/gpu_quick.txt
#   --cpu-smoke   the same pipeline on CPU with bert-tiny and a few steps, to test this script
#                 and bench/gpu_report.py where there is no GPU; table in WORK/gpu_cpu_smoke.txt
# Environment: PYTHON (default .venv/bin/python, else python3); GPU_BENCH_WORK (runs/bench_gpu);
#   GPU_BENCH_DATA (default ../shared/data, then shared/data, then the samples in uer_ray/samples);
#   GPU_PEAK_TFLOPS (dense bf16 peak per GPU; default from the GPU's name: H100/H200 989,
#   A100 312); GPU_BENCH_BUDGET_S (450: the parts share it, so the script ends in about 8 min);
#   GPU_BENCH_RESULTS (the table's path); GPU_BENCH_QUICK=1 (as --quick);
#   GPU_BENCH_SMOKE_DDP=1 (--cpu-smoke also runs part (c), 2 CPU workers over gloo).
# Without a GPU (no nvidia-smi, or torch.cuda.is_available() false) it prints one line, writes it
# to the results file unless that file already holds GPU numbers, and exits 0.
set -euo pipefail

ARGS="$*"
MODE=full
WORK=${GPU_BENCH_WORK:-runs/bench_gpu}
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --cpu-smoke) MODE=cpu-smoke ;;
    --work) WORK=${2:?--work needs a folder}; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench/gpu.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "${GPU_BENCH_QUICK:-0}" = 1 ] && [ "$MODE" = full ]; then MODE=quick; fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export WANDB_MODE=disabled PYTHONUNBUFFERED=1 GPU_BENCH_PYTHON=$PYTHON
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's uer_ray, Ray workers too
REPORT=("$PYTHON" bench/gpu_report.py)

case "$MODE" in
  full) RESULTS=${GPU_BENCH_RESULTS:-bench/results/gpu.txt} ;;
  quick) RESULTS=${GPU_BENCH_RESULTS:-$WORK/gpu_quick.txt} ;;
  cpu-smoke) RESULTS=${GPU_BENCH_RESULTS:-$WORK/gpu_cpu_smoke.txt} ;;
esac

# ---------------------------------------------------------------- is there a GPU?
NGPU=0 TORCH_GPUS=0
if [ "$MODE" != cpu-smoke ]; then
  reason=""
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    reason="nvidia-smi not found"
  elif ! NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU '); then
    reason="nvidia-smi -L lists no GPU"
  elif ! msg=$("${REPORT[@]}" cuda 2>&1); then
    reason=$(printf '%s' "$msg" | tail -n 1)
  fi
  if [ -n "$reason" ]; then
    "${REPORT[@]}" no-gpu --out "$RESULTS" --reason "$reason"
    exit 0
  fi
  TORCH_GPUS=$(printf '%s' "$msg" | sed -n 's/.*: \([0-9][0-9]*\) GPU(s).*/\1/p')
  echo "GPU: $msg; nvidia-smi -L lists $NGPU"
fi

# ---------------------------------------------------------------- data
DATA=""
for d in "${GPU_BENCH_DATA:-}" ../shared/data shared/data; do
  if [ -n "$d" ] && [ -f "$d/corpora/CLUECorpusSmall_bert_sampled.txt" ]; then DATA=$d; break; fi
done
if [ -n "$DATA" ]; then
  CORPUS=$DATA/corpora/CLUECorpusSmall_bert_sampled.txt
  VOCAB=$DATA/vocab/google_zh_vocab.txt
  TOKENIZER=wordpiece
  FT_DIR=$DATA/datasets/book_review
else  # a fresh clone: the bundled samples (one document per line, a character vocabulary)
  echo "bench/gpu.sh: no ../shared/data (or GPU_BENCH_DATA): using the samples in uer_ray/samples"
  CORPUS=uer_ray/samples/clue/CLUECorpusSmall_sampled.txt
  VOCAB=uer_ray/samples/clue/zh_char_vocab.txt
  TOKENIZER=char
  FT_DIR=uer_ray/samples/book_review
fi

# ---------------------------------------------------------------- settings per mode
GEN_VOCAB=$(wc -l <"$VOCAB")
case "$MODE" in
  full)
    MODEL=bert-base; GPU_FLAG=(--gpu); FT_DEVICE=cuda; CORPUS_LINES=0
    PT128=(128 300 25 150); PT512=(32 150 15 150)  # batch, steps, log-every, cap (s)
    FT_ROWS=0; FT_DEV_ROWS=0; FT_EPOCHS=2; FT_BATCH=64; FT_CAP=150
    GEN_MODEL=gpt2-small; GEN_BATCHES=(1 8 64); GEN_NEW=128; GEN_REPEATS=3; GEN_CAP=120
    PRE_CAP=90; BUDGET=${GPU_BENCH_BUDGET_S:-450}; DDP=1 ;;
  quick)
    MODEL=bert-base; GPU_FLAG=(--gpu); FT_DEVICE=cuda; CORPUS_LINES=0
    PT128=(64 30 10 90); PT512=()
    FT_ROWS=2000; FT_DEV_ROWS=500; FT_EPOCHS=2; FT_BATCH=64; FT_CAP=90
    GEN_MODEL=gpt2-small; GEN_BATCHES=(1 8); GEN_NEW=32; GEN_REPEATS=1; GEN_CAP=60
    PRE_CAP=60; BUDGET=${GPU_BENCH_BUDGET_S:-240}; DDP=1 ;;
  cpu-smoke)
    MODEL=bert-tiny; GPU_FLAG=(--cpus-per-worker 1); FT_DEVICE=cpu; CORPUS_LINES=2000
    PT128=(8 6 2 120); PT512=(4 4 2 120)
    FT_ROWS=200; FT_DEV_ROWS=100; FT_EPOCHS=2; FT_BATCH=32; FT_CAP=120
    GEN_MODEL=transformer-lm; GEN_BATCHES=(1 4); GEN_NEW=16; GEN_REPEATS=1; GEN_CAP=120
    PRE_CAP=120; BUDGET=${GPU_BENCH_BUDGET_S:-900}; DDP=${GPU_BENCH_SMOKE_DDP:-0} ;;
esac

if [ -e "$WORK" ] && [ ! -e "$WORK/.bench_gpu" ] && [ ! -e "$WORK/parts.jsonl" ] \
   && [ -n "$(ls -A "$WORK")" ]; then
  echo "bench/gpu.sh: $WORK is not empty and not a folder of this script: give --work a new folder" >&2
  exit 2
fi
rm -rf "$WORK"
mkdir -p "$WORK/logs"
touch "$WORK/.bench_gpu"
PARTS=$WORK/parts.jsonl
START=$SECONDS
echo "bench/gpu.sh $MODE: work folder $WORK, data ${DATA:-uer_ray/samples}, python $PYTHON, budget ${BUDGET} s"

left() { echo $((BUDGET - (SECONDS - START))); }

# run CAP LOG CMD...: runs CMD with its output in LOG, stopped (SIGINT, then SIGKILL 30 s later)
# after CAP seconds or when the budget is spent; sets RC, WALL, CAP_USED and CMD_TEXT.
run() {
  local cap=$1 log=$2 rest
  shift 2
  rest=$(left)
  if [ "$rest" -lt "$cap" ]; then cap=$rest; fi
  if [ "$cap" -lt 10 ]; then cap=10; fi
  CMD_TEXT=$(printf '%q ' "$@")
  CMD_TEXT=${CMD_TEXT% }
  echo "+ $CMD_TEXT   (cap ${cap} s, log $log)"
  local t0=$SECONDS
  RC=0
  timeout -s INT -k 30 "$cap" "$@" >"$log" 2>&1 || RC=$?
  WALL=$((SECONDS - t0)); CAP_USED=$cap
  echo "  -> exit $RC after ${WALL} s"
  if [ "$RC" -ne 0 ]; then tail -n 15 "$log" | sed 's/^/  | /'; fi
}

skip() {  # part title reason
  echo "($1) $2: skipped: $3"
  "${REPORT[@]}" skip --part "$1" --title "$2" --reason "$3" --parts "$PARTS"
}

# preprocess SEQ -> shards in WORK/shards-SEQ
preprocess() {
  local seq=$1 corpus=$CORPUS
  if [ "$CORPUS_LINES" -gt 0 ]; then
    corpus=$WORK/corpus_head.txt
    head -n "$CORPUS_LINES" "$CORPUS" >"$corpus"
  fi
  local workers=()
  if [ "$MODE" = cpu-smoke ]; then workers=(--workers 1); fi
  run "$PRE_CAP" "$WORK/logs/preprocess-$seq.log" "$PYTHON" run.py preprocess --corpus "$corpus" \
    --processor bert --tokenizer "$TOKENIZER" --vocab "$VOCAB" --seq-length "$seq" \
    --out "$WORK/shards-$seq" "${workers[@]}" --no-progress
}

# pretrain PART ID TITLE SEQ WORKERS BATCH STEPS LOG_EVERY CAP [BASELINE_ID]
pretrain() {
  local part=$1 id=$2 title=$3 seq=$4 workers=$5 batch=$6 steps=$7 every=$8 cap=$9 base=${10:-}
  local out=$WORK/pretrain-$id
  run "$cap" "$WORK/logs/pretrain-$id.log" "$PYTHON" run.py pretrain --model "$MODEL" \
    --data "$WORK/shards-$seq" --out "$out" --steps "$steps" --batch-size "$batch" \
    --log-every "$every" --save-every "$steps" --keep 1 --workers "$workers" "${GPU_FLAG[@]}" \
    --wandb-mode disabled
  local extra=()
  if [ -n "$base" ]; then extra=(--baseline "$base"); fi
  "${REPORT[@]}" pretrain --part "$part" --id "$id" --title "$title" --run "$out" \
    --model "$MODEL" --vocab "$WORK/shards-$seq/tokenizer/vocab.txt" --gpus "$workers" \
    --setting "seq $seq, batch $batch per worker, $workers worker(s), $steps steps, log every $every" \
    --cmd "$CMD_TEXT" --rc "$RC" --cap "$CAP_USED" --wall "$WALL" \
    --log "$WORK/logs/pretrain-$id.log" --parts "$PARTS" "${extra[@]}" \
    || skip "$part" "$title" "bench/gpu_report.py could not read $out (run exit $RC, log $WORK/logs/pretrain-$id.log)"
}

PREC=bf16
if [ "$MODE" = cpu-smoke ]; then PREC="fp32, CPU"; fi
T128="$MODEL pre-training, seq 128, $PREC, 1 worker"

# ---------------------------------------------------------------- (a) pre-training, seq 128
preprocess 128
if [ "$RC" -eq 0 ]; then
  pretrain a a128 "$T128" 128 1 "${PT128[@]}"
else
  skip a "$T128" "run.py preprocess failed (exit $RC, $WORK/logs/preprocess-128.log)"
fi

# ---------------------------------------------------------------- (b) fine-tuning
FT_TRAIN=$FT_DIR/train.tsv
FT_DEV=$FT_DIR/dev.tsv
if [ "$FT_ROWS" -gt 0 ]; then
  mkdir -p "$WORK/book_review"
  head -n $((FT_ROWS + 1)) "$FT_TRAIN" >"$WORK/book_review/train.tsv"
  head -n $((FT_DEV_ROWS + 1)) "$FT_DEV" >"$WORK/book_review/dev.tsv"
  FT_TRAIN=$WORK/book_review/train.tsv
  FT_DEV=$WORK/book_review/dev.tsv
fi
FT_TITLE="$MODEL fine-tuning, classify, book_review, $PREC"
if [ "$(left)" -ge 30 ]; then
  run "$FT_CAP" "$WORK/logs/finetune.log" "$PYTHON" run.py finetune --task classify \
    --train "$FT_TRAIN" --dev "$FT_DEV" --dataset book_review --model "$MODEL" --vocab "$VOCAB" \
    --tokenizer "$TOKENIZER" --out "$WORK/finetune" --epochs "$FT_EPOCHS" --batch-size "$FT_BATCH" \
    --seq-length 128 --device "$FT_DEVICE" --quiet --wandb-mode disabled
  "${REPORT[@]}" finetune --part b --id finetune --title "$FT_TITLE" --run "$WORK/finetune" \
    --setting "train $(($(wc -l <"$FT_TRAIN") - 1)) rows, dev $(($(wc -l <"$FT_DEV") - 1)) rows, seq 128, batch $FT_BATCH, $FT_EPOCHS epochs, in-process, $FT_DEVICE, from random weights" \
    --cmd "$CMD_TEXT" --rc "$RC" --cap "$CAP_USED" --wall "$WALL" --log "$WORK/logs/finetune.log" \
    --parts "$PARTS" \
    || skip b "$FT_TITLE" "bench/gpu_report.py could not read $WORK/finetune (run exit $RC, log $WORK/logs/finetune.log)"
else
  skip b "$FT_TITLE" "the time budget (${BUDGET} s) was spent"
fi

# ---------------------------------------------------------------- (d) generation
GEN_TITLE="generation, $GEN_MODEL, greedy, $FT_DEVICE"
if [ "$(left)" -ge 30 ]; then
  GEN_ARGS=(--part d --id generate --title "$GEN_TITLE" --model "$GEN_MODEL" --vocab-size "$GEN_VOCAB"
            --device "$FT_DEVICE" --batches "${GEN_BATCHES[@]}" --new-tokens "$GEN_NEW"
            --repeats "$GEN_REPEATS" --log "$WORK/logs/generate.log" --parts "$PARTS")
  run "$GEN_CAP" "$WORK/logs/generate.log" "$PYTHON" bench/gpu_report.py generate "${GEN_ARGS[@]}"
  if [ "$RC" -ne 0 ]; then
    skip d "$GEN_TITLE" "bench/gpu_report.py generate failed or ran out of time (exit $RC, $WORK/logs/generate.log)"
  else
    grep '^\[gpu_report\]' "$WORK/logs/generate.log" || true
  fi
else
  skip d "$GEN_TITLE" "the time budget (${BUDGET} s) was spent"
fi

# ---------------------------------------------------------------- (c) DDP, 2 workers
DDP_TITLE="$MODEL pre-training, seq 128, $PREC, 2 workers (DDP, nccl)"
if [ "$MODE" = cpu-smoke ]; then DDP_TITLE="$MODEL pre-training, seq 128, 2 CPU workers (gloo)"; fi
if [ "$MODE" = cpu-smoke ] && [ "$DDP" != 1 ]; then
  skip c "$DDP_TITLE" "--cpu-smoke: no GPU here (GPU_BENCH_SMOKE_DDP=1 runs 2 CPU workers)"
elif [ "$MODE" != cpu-smoke ] && [ "$NGPU" -lt 2 ]; then
  skip c "$DDP_TITLE" "nvidia-smi -L lists $NGPU GPU: nccl DDP needs 2 or more"
elif [ "$MODE" != cpu-smoke ] && [ "${TORCH_GPUS:-0}" -lt 2 ]; then
  skip c "$DDP_TITLE" "nvidia-smi -L lists $NGPU GPUs but torch sees ${TORCH_GPUS:-0} (CUDA_VISIBLE_DEVICES?)"
elif [ ! -d "$WORK/shards-128" ]; then
  skip c "$DDP_TITLE" "no seq-128 shards (preprocess failed)"
elif [ "$(left)" -lt 60 ]; then
  skip c "$DDP_TITLE" "the time budget (${BUDGET} s) was spent"
else
  pretrain c ddp "$DDP_TITLE" 128 2 "${PT128[@]}" a128
fi

# ---------------------------------------------------------------- (a) pre-training, seq 512
T512="$MODEL pre-training, seq 512, $PREC, 1 worker"
if [ "${#PT512[@]}" -eq 0 ]; then
  skip a "$T512" "not in --quick"
elif [ "$(left)" -lt $((PRE_CAP / 3 + PT512[3] * 2 / 3)) ]; then
  skip a "$T512" "too little of the time budget left ($(left) of ${BUDGET} s)"
else
  preprocess 512
  if [ "$RC" -eq 0 ]; then
    pretrain a a512 "$T512" 512 1 "${PT512[@]}"
  else
    skip a "$T512" "run.py preprocess failed (exit $RC, $WORK/logs/preprocess-512.log)"
  fi
fi

# ---------------------------------------------------------------- the table
MODE_TEXT="GPU run"
case "$MODE" in quick) MODE_TEXT="--quick GPU run (short: rough numbers)" ;; cpu-smoke) MODE_TEXT="cpu-smoke" ;; esac
"${REPORT[@]}" table --parts "$PARTS" --out "$RESULTS" --mode "$MODE_TEXT" \
  --command "bench/gpu.sh${ARGS:+ $ARGS} (PYTHON=$PYTHON, data ${DATA:-uer_ray/samples}, work $WORK)" \
  --total-s $((SECONDS - START))
