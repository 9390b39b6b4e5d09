#!/usr/bin/env bash
# Run every Fuzz target in the repository for the given time each (default 20s). While the
# fuzzer shrinks a new input it reports 0 execs/sec; -fuzzminimizetime bounds that.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-20s}
for mod in pkg services/*; do
  [ -f "$mod/go.mod" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}; target=$(sed -E 's/.*func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")
    dir=$(dirname "$file")
    echo "--- $target ($dir)"
    (cd "$dir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" -fuzzminimizetime 3s .)
  done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' "$mod" || true)
done
