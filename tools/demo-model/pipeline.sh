#!/usr/bin/env bash
# Rebuild the bitexit demo model from nothing. Run from the repository root:
#   bash tools/demo-model/pipeline.sh            # full run (~70 + 11 min of training on 2 CPU cores)
#   MINUTES=5 EAGLE_MINUTES=2 bash tools/demo-model/pipeline.sh   # quick smoke run
# Uses Debian's /usr/bin/python3 (torch 1.13, sentencepiece, numpy), not a pyenv python.
set -euo pipefail
PY=/usr/bin/python3
D=tools/demo-model
R=$D/runs
MINUTES=${MINUTES:-70}
EAGLE_MINUTES=${EAGLE_MINUTES:-11}
node $D/corpus/generate.mjs --seed 1 --out $R/data --mb 24                      # 1. corpus (<1 s)
$PY $D/tokenizer.py --data $R/data --out $R                                     # 2. tokenizer + pretokenise (~5 s)
$PY $D/train.py --data $R/data --out $R --minutes "$MINUTES"                      # 3. main training
$PY $D/train_eagle.py --data $R/data --out $R --minutes "$EAGLE_MINUTES"          # 4. EAGLE-1 draft head
$PY $D/export_gguf.py --ckpt $R/ckpt.pt --eagle $R/eagle.pt --tokenizer $R/tokenizer.model \
  --out packages/model-demo/model/bitexit-demo.gguf                             # 5. GGUF
$PY $D/sample.py --ckpt $R/ckpt.pt --tokenizer $R/tokenizer.model \
  --golden packages/model-demo/src/golden.json                                  # 6. samples + test goldens
$PY $D/plot.py $R/loss.csv                                                      # 7. loss plot
