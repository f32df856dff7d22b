#!/bin/bash
# Host 3, set L candidates (information only, PLAN.md): each shipped host-3 table with the networks
# of sets J and K (every run of each, 10 runs per set) added to its calibration, refitted (key
# scales auto). Measures nothing.
cd /work/main && . .venv/bin/activate
S=experiments/bench_latency_out_host3l
L=latency_tables/hosts/intel-xeon-family6-model167
E=experiments
for t in cpu_onnxruntime_mobilenet_v3 cpu_torch_mobilenet_v3 cpu_torch_mobilenet_v2 cpu_onnxruntime_mobilenet_v2; do
  csvs=$(ls $E/bench_latency_out_host3j/run*/validate_$t.csv $E/bench_latency_out_host3j_more/run*/validate_$t.csv \
            $E/bench_latency_out_host3k/run*/validate_$t.csv)
  nas lut calibrate $L/$t.json --add-runs $csvs --out $S/tables/$t.json > $S/calibrate_$t.json
  echo "$t rc=$?"
done
