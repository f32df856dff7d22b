#!/bin/bash
# Host 3: build + calibrate the four tables as experiments/build_cpu_tables.sh does (into
# tables/ here), then set F: 5 rounds x 4 tables, rotating order. Pinned to cpu1.
cd /work/main && . .venv/bin/activate
S=experiments/bench_latency_out_host3
mkdir -p $S/tables
T=(cpu_onnxruntime_mobilenet_v3 cpu_torch_mobilenet_v3 cpu_torch_mobilenet_v2 cpu_onnxruntime_mobilenet_v2)
for id in "${T[@]}"; do
  backend=$(echo $id | cut -d_ -f2); space=$(echo $id | cut -d_ -f3-)
  out=$S/tables/$id.json
  t0=$(date +%s)
  echo "$(date -u +%H:%M:%S) build $id start" >> $S/log.txt
  taskset -c 1 nas lut build --space $space --device cpu --backend $backend --threads 1 --batch 1 \
    --resolution 224 --classes 1000 --in-channels 3 --rounds 14 --statistic min --attempts 3 \
    --out $out --no-progress --json > $S/build_${id}_224.json 2> $S/build_${id}_224.err
  echo "$(date -u +%H:%M:%S) build $id 224 rc=$?" >> $S/log.txt
  taskset -c 1 nas lut build --space $space --device cpu --backend $backend --threads 1 --batch 1 \
    --resolution 32 --classes 10 --in-channels 1 --rounds 14 --statistic min --attempts 3 \
    --out $out --no-progress --json > $S/build_${id}_32.json 2> $S/build_${id}_32.err
  echo "$(date -u +%H:%M:%S) build $id 32 rc=$?" >> $S/log.txt
  taskset -c 1 nas lut calibrate $out --n 80 --seed 0 --no-progress --json > $S/calibrate_$id.json 2> $S/calibrate_$id.err
  echo "$(date -u +%H:%M:%S) calibrate $id rc=$? ($(( $(date +%s) - t0 )) s built and calibrated)" >> $S/log.txt
done
for k in 1 2 3 4 5; do
  mkdir -p $S/run$k
  for j in 0 1 2 3; do
    t=${T[$(( (k - 1 + j) % 4 ))]}
    echo "$(date -u +%H:%M:%S) run$k $t start" >> $S/log.txt
    taskset -c 1 nas lut validate $S/tables/$t.json --seed 2030 --n 50 --out $S/run$k --no-progress --json > $S/run${k}_$t.json 2> $S/run${k}_$t.err
    echo "$(date -u +%H:%M:%S) run$k $t rc=$?" >> $S/log.txt
  done
done
echo "$(date -u +%H:%M:%S) done" >> $S/log.txt
