#!/bin/bash
# Issue #15: transfer + self-training arms at one IMDB fraction, 3 seeds, the 77k-review Amazon
# source cached. FRACTION (default 0.05) and ARMS (default: the 5 % table) may be set.
set -e
cd "$(dirname "$0")/.."
export TL_TEXT_DATA=${TL_TEXT_DATA:-../shared/data}
FRACTION=${FRACTION:-0.05}
ARMS=${ARMS:-finetune,nb-lr,finetune+nb-lr,self-nb-lr,self-finetune,self-finetune+self-nb-lr,glove,amazon-emb,gensim-emb}
.venv/bin/python scripts/transfer.py --fraction "$FRACTION" --arms "$ARMS" \
    --out "benchmarks/results/selftrain-$FRACTION" --verbose 0
