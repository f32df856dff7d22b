#!/usr/bin/env bash
# Rebuild the four shipped CPU latency tables (1 thread; torch and onnxruntime; mobilenet_v3 and
# mobilenet_v2; ImageNet config 224/3 ch/1000 classes and quickstart config 32/1 ch/10 classes),
# calibrate them, then validate them on fresh networks (VAL_RUNS runs of VAL_N networks per config,
# seed VAL_SEED: use a seed no earlier validation used) and score the runs combined with
# experiments/bench_latency_accuracy.py, which writes its section of experiments/RESULTS.md
# (docs/latency-validation.md: the method). Run it in a quiet window: nothing else on the cores.
#
#   experiments/build_cpu_tables.sh            # full rebuild + benchmark
#   QUICK=1 experiments/build_cpu_tables.sh    # fewer rounds/networks (provisional tables)
#   RESUME=1 experiments/build_cpu_tables.sh   # continue an interrupted rebuild
#   HOST=NAME experiments/build_cpu_tables.sh  # this machine's variant: latency_tables/hosts/NAME/
#   SPACES="mnasnet efficientnet" SECTION=latency_accuracy_mnasnet_efficientnet experiments/build_cpu_tables.sh
#                                              # other spaces, scored in their own RESULTS.md section
#
# Tables are measured into $WORK (default build/latency_tables/, git-ignored) and copied to
# latency_tables/ when done (the default tables, which every machine without a variant of its
# own uses), or with HOST=NAME to latency_tables/hosts/NAME/ (chosen on machines of this CPU
# design; README, "Host variants"). Predictions use each entry's minimum over all timed calls (STAT=min;
# entries record n, median, mean, p90, std and min): the uncontended latency, the statistic that
# least depends on what else runs on the machine. STAT=median switches.
#
# A config whose anchor network varied by more than 20% between the chunks of its build (the
# machine's speed drifted while it measured) is measured again, up to ATTEMPTS builds in all,
# and the steadiest attempt is kept (`nas lut build --attempts`): a build that drifted that far
# ranked held-out networks clearly worse than a steady build of the same config.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .venv/bin/activate ]; then . .venv/bin/activate; fi
WORK=${WORK:-build/latency_tables}
ROUNDS=${ROUNDS:-14}
ATTEMPTS=${ATTEMPTS:-3}
CAL_N=${CAL_N:-80}
VAL_N=${VAL_N:-50}
VAL_RUNS=${VAL_RUNS:-5}
VAL_SEED=${VAL_SEED:-1}
STAT=${STAT:-min}
SPACES=${SPACES:-mobilenet_v3 mobilenet_v2}
SECTION=${SECTION:-latency_accuracy}
if [ "${QUICK:-0}" = 1 ]; then ROUNDS=3; CAL_N=20; VAL_N=${VAL_N_QUICK:-10}; VAL_RUNS=2; fi
DEST=latency_tables${HOST:+/hosts/$HOST}
mkdir -p "$WORK" "$DEST"
start=$(date +%s)
for space in $SPACES; do
  for backend in torch onnxruntime; do
    id="cpu_${backend}_${space}"
    out="$WORK/$id.json"
    if [ "${RESUME:-0}" != 1 ]; then rm -f "$out" "$out.partial.jsonl"; fi
    t0=$(date +%s)
    nas lut build --space "$space" --device cpu --backend "$backend" --threads 1 --batch 1 \
      --resolution 224 --classes 1000 --in-channels 3 --rounds "$ROUNDS" --statistic "$STAT" \
      --attempts "$ATTEMPTS" --out "$out" --json
    nas lut build --space "$space" --device cpu --backend "$backend" --threads 1 --batch 1 \
      --resolution 32 --classes 10 --in-channels 1 --rounds "$ROUNDS" --statistic "$STAT" \
      --attempts "$ATTEMPTS" --out "$out" --json
    nas lut calibrate "$out" --n "$CAL_N" --seed 0 --json
    cp "$out" "$DEST/$id.json"
    echo "$id: built and calibrated in $(( $(date +%s) - t0 )) s"
  done
done
IDS=()
for space in $SPACES; do IDS+=("cpu_onnxruntime_$space" "cpu_torch_$space"); done
for k in $(seq 1 "$VAL_RUNS"); do
  for id in "${IDS[@]}"; do
    nas lut validate "$DEST/$id.json" --seed "$VAL_SEED" --n "$VAL_N" --out "$WORK/validation/run$k" \
      --no-progress --json > /dev/null
  done
done
python experiments/bench_latency_accuracy.py --tables $(printf "$DEST/%s.json " "${IDS[@]}") \
  --runs $(for id in "${IDS[@]}"; do ls "$WORK"/validation/run*/validate_"$id"*.csv; done) --section "$SECTION"
echo "total: $(( $(date +%s) - start )) s"
