#!/bin/bash
# Host 3, set K: the set K candidate tables (tables/, see PLAN.md) validated on 50 fresh networks
# per config (seed 2035): runs 6-10 (PLAN.md, addendum), 5 more rounds x 4 tables, round K
# starting at table K mod 4. Started when runs.sh (runs 1-5) ends. Pinned to cpu1.
cd /work/main && . .venv/bin/activate
S=experiments/bench_latency_out_host3k
L=$S/tables
T=(cpu_onnxruntime_mobilenet_v3 cpu_torch_mobilenet_v3 cpu_torch_mobilenet_v2 cpu_onnxruntime_mobilenet_v2)
for k in 6 7 8 9 10; do
  mkdir -p $S/run$k
  for j in 0 1 2 3; do
    t=${T[$(( (k - 1 + j) % 4 ))]}
    echo "$(date -u +%H:%M:%S) run$k $t start" >> $S/log.txt
    taskset -c 1 nas lut validate $L/$t.json --seed 2035 --n 50 --out $S/run$k --no-progress --json > $S/run${k}_$t.json 2> $S/run${k}_$t.err
    echo "$(date -u +%H:%M:%S) run$k $t rc=$?" >> $S/log.txt
  done
done
echo "$(date -u +%H:%M:%S) done" >> $S/log.txt
