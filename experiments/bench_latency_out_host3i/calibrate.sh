#!/bin/bash
# Host 3, set I candidates: the shipped host-3 variants (set F build) with 150 more calibration
# networks per table at 32 px (seed 1, none they already had) and the calibration refitted on
# all, key scales chosen by cross-validation (`nas lut calibrate --add`). Pinned to cpu1.
cd /work/main && . .venv/bin/activate
S=experiments/bench_latency_out_host3i
for id in cpu_onnxruntime_mobilenet_v3 cpu_torch_mobilenet_v3 cpu_torch_mobilenet_v2 cpu_onnxruntime_mobilenet_v2; do
  echo "$(date -u +%H:%M:%S) calibrate --add $id start" >> $S/log.txt
  taskset -c 1 nas lut calibrate $S/tables/$id.json --add --n 150 --seed 1 --resolution 32 \
    --no-progress --json > $S/calibrate_$id.json 2> $S/calibrate_$id.err
  echo "$(date -u +%H:%M:%S) calibrate --add $id rc=$?" >> $S/log.txt
done
