#!/usr/bin/env bash
# Runs every module's tests with the race detector. This is the README's test
# command; .ci/run calls it too.
set -euo pipefail
cd "$(dirname "$0")"
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
status=0
for mod in $(git ls-files 'go.mod' '*/go.mod' 2>/dev/null || find . -name go.mod -not -path '*/node_modules/*'); do
  dir=$(dirname "$mod")
  echo "--- go test -race $dir"
  (cd "$dir" && go test -race -count=1 ./...) || status=1
done
exit $status
