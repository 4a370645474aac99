#!/bin/bash
# Supplementary scale-0.2 runs of the key pairs (S, 2026-11-22). Usage: run_02.sh C|D
set -u
cd /work/main
T=/tmp/s2/T
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OV="train.batch_size=512 train.lr=0.002 train.patience=3 train.min_delta=0.0005 train.epochs=30 train.num_threads=1"
L=.venv/bin/lsec
case "$1" in
C)
  echo "C start $(date -u +%T)"
  for s in 0 1 2 3 4; do  # interleave seeds so a cut-off leaves complete pairs
    nice -n 19 $L experiment table3 --data $T/data02-pos --out $T/t3s02-pos --repeats $((s+1)) -q --row LightGCN --row LSEC-LightGCN $OV > /dev/null 2>> $T/C.log
    nice -n 19 $L experiment table3 --data $T/data02-follow --out $T/t3s02-null-follow --repeats $((s+1)) -q --row LSEC-LightGCN $OV > /dev/null 2>> $T/C.log
    echo "C seed $s done $(date -u +%T)"
  done ;;
D)
  echo "D start $(date -u +%T)"
  for s in 0 1 2 3 4; do
    nice -n 19 $L experiment table3 --data $T/data02-pos --out $T/t3s02-pos --repeats $((s+1)) -q --row GCN-RS --row LSEC-GCN $OV > /dev/null 2>> $T/D.log
    nice -n 19 $L experiment table3 --data $T/data02-follow --out $T/t3s02-null-follow --repeats $((s+1)) -q --row LSEC-GCN $OV > /dev/null 2>> $T/D.log
    echo "D seed $s done $(date -u +%T)"
  done ;;
esac
