#!/usr/bin/env bash
# Mutation check for SECURITY.md: every defence there is disabled in turn, on a
# scratch copy of the core module, and the test SECURITY.md names for it must
# then fail. The mutants are in security/mutants.tsv (id, file, perl
# substitution, package, test regex, defence).
#
#   bash security/mutants.sh            every mutant
#   bash security/mutants.sh tok- hdr-  only mutants whose id starts with one of these
#
# It fails (exit 1) when a mutant survives (the defence can go with its test
# still passing), when a substitution no longer changes its file (the code
# moved: update mutants.tsv), when a mutant does not compile, or when a named
# test does not pass on the unmutated code. MUTANT_JOBS sets how many run at
# once (default 2); the Go build cache is shared.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
export GOFLAGS=${GOFLAGS:--buildvcs=false}
jobs=${MUTANT_JOBS:-2}
table="$root/security/mutants.tsv"
start=$(date +%s)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The mutants to run, in table order.
: >"$work/list"
while IFS=$'\t' read -r id file expr pkg tests defence; do
  [[ -z "$id" || "$id" == \#* ]] && continue
  if [ $# -gt 0 ]; then
    keep=
    for p in "$@"; do [[ "$id" == "$p"* ]] && keep=1; done
    [ -n "$keep" ] || continue
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$file" "$expr" "$pkg" "$tests" >>"$work/list"
done <"$table"
n=$(wc -l <"$work/list")
[ "$n" -gt 0 ] || { echo "no mutants selected" >&2; exit 1; }

# The core module as it is in the working tree (tracked and new files, not
# ignored ones, no nested modules' node_modules), one copy per worker.
copy() {
  mkdir -p "$1"
  git ls-files -z -co --exclude-standard | grep -zv '/node_modules/' | xargs -0 tar -cf - 2>/dev/null | tar -xf - -C "$1"
}
copy "$work/w0"

# Baseline: the named tests pass on the unmutated code (otherwise "killed"
# would mean nothing).
echo "baseline: the named tests on the unmutated code"
baseline_ok=1
for pkg in $(cut -f4 "$work/list" | sort -u); do
  re=$(awk -F'\t' -v p="$pkg" '$4 == p {print $5}' "$work/list" | sort -u | paste -sd'|')
  if ! (cd "$work/w0" && go test -vet=off -count=1 -timeout 300s -run "$re" "$pkg" >"$work/baseline.out" 2>&1); then
    echo "BASELINE FAILED in $pkg:"
    tail -40 "$work/baseline.out"
    baseline_ok=
  fi
done
[ -n "$baseline_ok" ] || exit 1
for ((j = 1; j < jobs; j++)); do cp -a "$work/w0" "$work/w$j"; done

# run_one DIR ID FILE EXPR PKG TESTS: apply, test, restore; print the result.
run_one() {
  local dir=$1 id=$2 files=$3 expr=$4 pkg=$5 tests=$6 out result="" f k=0
  local -a list
  IFS=, read -ra list <<<"$files"
  out="$work/$id.out"
  : >"$out"
  for f in "${list[@]}"; do
    cp "$dir/$f" "$work/$id.orig.$k" 2>>"$out" || result="NOT-FOUND"
    k=$((k + 1))
  done
  if [ -z "$result" ]; then
    k=0
    for f in "${list[@]}"; do
      if ! (cd "$dir" && perl -0pi -e "$expr" "$f") >>"$out" 2>&1 || cmp -s "$dir/$f" "$work/$id.orig.$k"; then
        echo "substitution did not change $f" >>"$out"
        result="NOT-APPLIED"
      fi
      k=$((k + 1))
    done
  fi
  if [ -z "$result" ]; then
    (cd "$dir" && go test -vet=off -count=1 -timeout 120s -run "$tests" "$pkg") >"$out" 2>&1
    local rc=$?
    if grep -qE '\[build failed\]|\[setup failed\]|^# ' "$out"; then
      result="BUILD-FAILED"
    elif [ $rc -ne 0 ]; then
      result="killed"
    elif grep -q 'no tests to run' "$out"; then
      result="NO-TEST"
    else
      result="SURVIVED"
    fi
  fi
  k=0
  for f in "${list[@]}"; do
    [ -f "$work/$id.orig.$k" ] && cp "$work/$id.orig.$k" "$dir/$f"
    k=$((k + 1))
  done
  echo "$result"
}

worker() {
  local j=$1 i=0
  while IFS=$'\t' read -r id file expr pkg tests; do
    if ((i % jobs == j)); then
      printf '%s\t%s\n' "$id" "$(run_one "$work/w$j" "$id" "$file" "$expr" "$pkg" "$tests")" >>"$work/results.$j"
    fi
    i=$((i + 1))
  done <"$work/list"
}

echo "running $n mutants, $jobs at a time"
for ((j = 0; j < jobs; j++)); do worker "$j" & done
wait
cat "$work"/results.* >"$work/results"

fail=0
printf '\n%-22s | %-32s | %-44s | %s\n' "mutant" "file" "test" "result"
printf '%s\n' "$(printf -- '-%.0s' {1..120})"
while IFS=$'\t' read -r id file expr pkg tests; do
  result=$(awk -F'\t' -v i="$id" '$1 == i {print $2}' "$work/results")
  [ "$result" = "killed" ] || fail=1
  printf '%-22s | %-32s | %-44s | %s\n' "$id" "${file//,/ }" "${pkg#./} ${tests}" "$result"
  if [ "$result" != "killed" ] && [ -s "$work/$id.out" ]; then
    sed 's/^/    /' "$work/$id.out" | tail -15
  fi
done <"$work/list"
echo
echo "$n mutants in $(($(date +%s) - start)) s"
if [ $fail -ne 0 ]; then
  echo "FAIL: a defence can be removed with its test passing, or the table no longer applies (see above)"
  exit 1
fi
echo "every mutant killed"
