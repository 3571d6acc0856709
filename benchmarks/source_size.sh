#!/bin/bash
# Source-size study (issue #15 item 3): transfer arms at 5 % with the source at 14k, half, all.
set -e
cd "$(dirname "$0")/.."
export TL_TEXT_DATA=${TL_TEXT_DATA:-../shared/data}
ARMS=amazon-emb,finetune,nb-lr,finetune+nb-lr
.venv/bin/python scripts/transfer.py --fraction 0.05 --arms $ARMS --source amazon --out benchmarks/results/source-size/all --verbose 0
.venv/bin/python scripts/transfer.py --fraction 0.05 --arms $ARMS --source amazon-classic --out benchmarks/results/source-size/classic --verbose 0
.venv/bin/python scripts/transfer.py --fraction 0.05 --arms $ARMS --source amazon --source-fraction 0.5 --out benchmarks/results/source-size/half --verbose 0
.venv/bin/python benchmarks/source_size.py benchmarks/results/source-size/{classic,half,all} --out benchmarks/results/source-size
