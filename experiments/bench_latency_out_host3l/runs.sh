#!/bin/bash
# Host 3, set L: the shipped host-3 tables validated on 50 fresh networks per config (seed 2036),
# up to 10 rounds x 4 tables, round K starting at table K mod 4. Pinned to cpu1. Complete rounds
# only: no round starts after 09:08 UTC (PLAN.md).
cd /work/main && . .venv/bin/activate
S=experiments/bench_latency_out_host3l
L=latency_tables/hosts/intel-xeon-family6-model167
T=(cpu_onnxruntime_mobilenet_v3 cpu_torch_mobilenet_v3 cpu_torch_mobilenet_v2 cpu_onnxruntime_mobilenet_v2)
for k in 1 2 3 4 5 6 7 8 9 10; do
  if [ "$(date -u +%H%M)" \> "0908" ]; then
    echo "$(date -u +%H:%M:%S) stop before run$k (no round starts after 09:08)" >> $S/log.txt; break
  fi
  mkdir -p $S/run$k
  for j in 0 1 2 3; do
    t=${T[$(( (k - 1 + j) % 4 ))]}
    echo "$(date -u +%H:%M:%S) run$k $t start" >> $S/log.txt
    taskset -c 1 nas lut validate $L/$t.json --seed 2036 --n 50 --out $S/run$k --no-progress --json > $S/run${k}_$t.json 2> $S/run${k}_$t.err
    echo "$(date -u +%H:%M:%S) run$k $t rc=$?" >> $S/log.txt
  done
done
echo "$(date -u +%H:%M:%S) done" >> $S/log.txt
