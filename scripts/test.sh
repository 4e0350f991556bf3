#!/usr/bin/env bash
# Set up (if needed) and run the test suite. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export WANDB_MODE=offline WANDB_SILENT=true RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false
.venv/bin/python -m pytest "$@"
rc=$?
# pytest exits 5 when it collected no test (e.g. a -k filter that matches nothing): not a failure.
if [ "$rc" -eq 5 ]; then echo "no tests collected"; exit 0; fi
exit $rc
