#!/usr/bin/env bash
# Rebuild the bitexit demo model from nothing. Run from the repository root:
#   bash tools/demo-model/pipeline.sh            # full run (~70 + 11 min of training on 2 CPU cores)
#   STEPS=1822 bash tools/demo-model/pipeline.sh # step-based schedule: reproducible for the seed, whatever the machine's speed
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
if [ -n "${STEPS:-}" ]; then TRAIN_BUDGET=(--minutes 0 --max-steps "$STEPS"); else TRAIN_BUDGET=(--minutes "$MINUTES"); fi
$PY $D/train.py --data $R/data --out $R "${TRAIN_BUDGET[@]}"                      # 3. main training
$PY $D/train_eagle.py --data $R/data --out $R --minutes "$EAGLE_MINUTES"          # 4. EAGLE-1 draft head
$PY $D/export_gguf.py --ckpt $R/ckpt.pt --eagle $R/eagle.pt --tokenizer $R/tokenizer.model \
  --out $R/bitexit-demo-f16.gguf                                                # 5. F16 GGUF
$PY $D/sample.py --ckpt $R/ckpt.pt --tokenizer $R/tokenizer.model \
  --golden packages/model-demo/src/golden.json                                  # 6. samples + test goldens
$PY $D/plot.py $R/loss.csv                                                      # 7. loss plot
# 8. quantize with bitexit's own quantizer (~10 min idle), then train the SpecEE predictors on the result (~3 min)
M=packages/model-demo/model
dd if=$R/data/train.txt of=$R/calib.txt bs=1 skip=100000 count=200000 status=none
head -c 400000 $R/data/train.txt > $R/exits-train.txt
node packages/cli/bin/bitexit.js quantize $R/bitexit-demo-f16.gguf -o $M/bitexit-demo.gguf --bits 2.9 --calib $R/calib.txt --backend cpu
node packages/cli/bin/bitexit.js train-exits -m $M/bitexit-demo.gguf --text $R/exits-train.txt --drafter eagle -n 8192 --backend cpu \
  -o $M/bitexit-demo.exits.gguf
