#!/usr/bin/env bash
# Set up (if needed) and run the quickstart: the whole loop on bundled sample data, W&B offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WANDB_MODE=${WANDB_MODE:-offline} RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python run.py quickstart "$@"
