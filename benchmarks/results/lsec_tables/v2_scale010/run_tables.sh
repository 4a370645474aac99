#!/bin/bash
# Usage: run_tables.sh A|B|data   (S, 2026-11-22) paper tables on simulated lsec-small, scale/influence from env
set -u
cd /work/main
SCALE=${SCALE:-0.1}; INFL=${INFL:-0.5}; T=/tmp/s2/T
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OV="train.batch_size=512 train.lr=0.002 train.patience=3 train.min_delta=0.0005 train.epochs=30 train.num_threads=1"
L=.venv/bin/lsec
case "$1" in
data)
  for n in pos follow sell; do
    a=""; [ $n != pos ] && a="--null $n"
    nice -n 19 .venv/bin/python benchmarks/lsec_data.py --scale $SCALE --influence $INFL $a --out $T/data-$n > $T/data-$n.json &
  done; wait ;;
A)
  echo "A start $(date -u +%T)"
  nice -n 19 $L experiment table3 --data $T/data-pos --out $T/t3-pos --repeats 5 -q $OV > $T/t3-pos.md 2> $T/A.log
  echo "A t3 done $(date -u +%T)"
  nice -n 19 $L experiment table5 --data $T/data-pos --out $T/t5-pos --repeats 5 -q --row "0,2 / 0" $OV >/dev/null 2>> $T/A.log
  echo "A end $(date -u +%T)" ;;
B)
  echo "B start $(date -u +%T)"
  for n in follow sell; do
    nice -n 19 $L experiment table3 --data $T/data-$n --out $T/t3-null-$n --repeats 5 -q --row LSEC-GCN --row LSEC-LightGCN $OV > $T/t3-null-$n.md 2>> $T/B.log
    echo "B null $n done $(date -u +%T)"
  done
  nice -n 19 $L experiment table5 --data $T/data-pos --out $T/t5-pos --repeats 5 -q --row "0,1 / 0" --row "0,1,2 / 0" $OV >/dev/null 2>> $T/B.log
  echo "B end $(date -u +%T)" ;;
esac
