#!/usr/bin/env bash
# netguard: tests never reach beyond loopback. Runs `go test -race` in each
# module given (default: every module) under strace, which records every
# connect, sendto, sendmsg and sendmmsg of the go command and of everything
# it starts (test binaries, node, chromium), then fails if any of them named
# an IPv4 or IPv6 address other than 127.0.0.0/8, ::1 (and their mapped
# forms) or the unspecified address. A DNS query to the machine's resolver
# (/etc/resolv.conf) shows up as such a connect or sendto, so a test that
# resolves a name through the machine fails here even when the query is
# answered. Unix and netlink sockets and AF_UNSPEC (disconnect) pass.
#
# The go command runs as the toolchain it was switched to, with
# GOTOOLCHAIN=local and GOPROXY=off: it must find everything in the module
# cache (CI runs this after ./test.sh), so that its own traffic cannot be
# mistaken for a test's.
#
#   .ci/netguard.sh                 # every module
#   .ci/netguard.sh . e2e e2e/oauth # some modules
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
gobin="$(go env GOROOT)/bin/go"

if ! command -v strace >/dev/null; then
  echo "netguard: strace is missing (apt-get install strace)" >&2
  exit 1
fi

if [ $# -gt 0 ]; then
  mods=("$@")
else
  mapfile -t mods < <(git ls-files 'go.mod' '*/go.mod' | xargs -n1 dirname)
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# offending LOG prints each traced call in LOG that names an address off
# loopback, with the program its thread's process last executed (clone lines
# carry a thread's program over to its children).
offending() {
  awk '
    match($0, /^[0-9]+ +execve\("[^"]*"/) {
      split($0, f, "\""); prog[$1] = f[2]; next
    }
    /(clone|clone3|fork|vfork)[( ].* = [0-9]+$/ {
      if (($1 in prog) && !($NF in prog)) prog[$NF] = prog[$1]; next
    }
    match($0, /^[0-9]+ +socket\(AF_INET6?, SOCK_DGRAM[^)]*\) = [0-9]+$/) {
      dgram[$1 ":" $NF] = 1; next
    }
    match($0, /^[0-9]+ +socket\(AF_INET6?, SOCK_DGRAM.*<unfinished \.\.\.>$/) {
      pending[$1] = 1; next
    }
    match($0, /^[0-9]+ +<\.\.\. socket resumed>.* = [0-9]+$/) {
      if ($1 in pending) { dgram[$1 ":" $NF] = 1; delete pending[$1] }
      next
    }
    # Chromium checks IPv6 reachability with a UDP socket connected to
    # 2001:4860:4860::8888 port 443 (the probe of net/dns HostResolverManager):
    # connecting a UDP socket sends nothing, and a sendto/sendmsg on it would
    # still be caught below. Only that exact call is let through.
    /inet_pton\(AF_INET6, "2001:4860:4860::8888"/ && /htons\(443\)/ && match($0, /connect\([0-9]+,/) {
      fd = substr($0, RSTART + 8, RLENGTH - 9)
      if (($1 ":" fd) in dgram) next
    }
    /sa_family=AF_INET/ {
      line = $0; bad = ""
      while (match(line, /inet_addr\("[^"]*"\)|inet_pton\(AF_INET6, "[^"]*"/)) {
        s = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
        sub(/^[^"]*"/, "", s); sub(/".*$/, "", s)
        if (s ~ /^127\./ || s == "0.0.0.0" || s == "::1" || s == "::" || s ~ /^::ffff:127\./ || s == "::ffff:0.0.0.0") continue
        bad = bad " " s
      }
      if (bad != "") printf "  to%s: %s (%s)\n", bad, $0, ($1 in prog ? prog[$1] : "pid " $1)
    }
  ' "$1"
}

status=0
for dir in "${mods[@]}"; do
  log="$logs/$(echo "$dir" | tr '/.' '__').strace"
  echo "--- netguard: go test -race $dir"
  start=$SECONDS
  if ! (cd "$dir" && strace -f --seccomp-bpf -qq -e trace=execve,clone,clone3,fork,vfork,socket,connect,sendto,sendmsg,sendmmsg \
    -e signal=none -o "$log" env GOTOOLCHAIN=local GOPROXY=off "$gobin" test -race -count=1 ./...); then
    echo "netguard: tests failed in $dir"
    status=1
  fi
  found=$(offending "$log")
  if [ -n "$found" ]; then
    echo "netguard: FAIL: $dir reached beyond loopback:"
    echo "$found" | head -n 40
    status=1
  else
    echo "netguard: ok: $dir stayed on loopback ($(grep -cE ' (connect|sendto|sendmsg|sendmmsg)\(' "$log") traced calls, $((SECONDS - start))s)"
  fi
done
exit $status
