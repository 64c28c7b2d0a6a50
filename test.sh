#!/usr/bin/env bash
# Runs every module's tests with the race detector. This is the README's test
# command; .ci/run calls it too.
#
# First, where node and npm exist, it installs the JavaScript packages the
# end-to-end suites drive (e2e/sdk, e2e/browser) when node_modules is missing
# or older than package-lock.json. Then every module's `go test -json` output
# goes through internal/testsummary, which prints one line per package, the
# whole output of failing tests, and ends with a list of every skipped test
# and why. The exit status is non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")"
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}

# npm_install DIR: npm ci in DIR when its node_modules is missing or stale
# (package-lock.json newer than the lockfile npm keeps in node_modules).
npm_install() {
  local dir=$1
  [ -f "$dir/package-lock.json" ] || return 0
  if [ -d "$dir/node_modules" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    return 0
  fi
  echo "--- npm ci in $dir"
  if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); then
    echo "!!! npm ci failed in $dir: its tests will skip (or fail with CI=true)" >&2
  fi
}
if command -v node >/dev/null && command -v npm >/dev/null; then
  npm_install e2e/sdk
  npm_install e2e/browser
else
  echo "!!! node or npm not found: the e2e/sdk and e2e/browser suites will skip (or fail with CI=true)" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/testsummary" ./internal/testsummary

status=0
{
  for mod in $(git ls-files 'go.mod' '*/go.mod' 2>/dev/null || find . -name go.mod -not -path '*/node_modules/*'); do
    dir=$(dirname "$mod")
    echo "--- go test -race $dir"
    (cd "$dir" && go test -race -count=1 -json ./...) || echo "go test failed in $dir" >>"$work/failed"
  done
} | "$work/testsummary" || status=1
if [ -s "$work/failed" ]; then
  cat "$work/failed"
  status=1
fi
exit $status
