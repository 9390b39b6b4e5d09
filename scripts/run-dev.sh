#!/usr/bin/env bash
# Used by `make run`: start `custody dev`, wait for it, run `custody demo`, keep running.
set -euo pipefail
custody=$1 data=$2 addr=$3 reg=$4
mkdir -p "$data"
log="$data/custody-dev.log"
echo "custody dev logs (JSON): $log"
"$custody" dev --data "$data" --addr "$addr" --registry-addr "$reg" 2>>"$log" &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 150); do
  if curl -fsS "http://$addr/healthz" >/dev/null 2>&1; then break; fi
  kill -0 $pid 2>/dev/null || { echo "custody dev exited; its log:"; tail -n 20 "$log"; exit 1; }
  sleep 0.2
done
# custody dev made its admin token on first start; every API request carries it.
CUSTODY_TOKEN=$(cat "$data/keys/dev-admin.token")
export CUSTODY_TOKEN
"$custody" demo --server "http://$addr" --registry "$reg"
echo
echo "custody dev is still running (state in $data). Try:"
echo "  export CUSTODY_TOKEN=\$(cat $data/keys/dev-admin.token)"
echo "  $custody provenance <digest printed above> --server http://$addr"
echo "Press Ctrl-C to stop."
wait $pid
