#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: installs with apt-get what the tests need, checks formatting,
# runs every test, and ends with the line "N passed, N failed" counted from the TRX results.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

packages=(gcc libc6-dev make git util-linux iproute2 openssh-server openssh-client chromium procps docker.io podman busybox-static heaptrack slurm-wlm munge libjemalloc2 libtcmalloc-minimal4)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "test.sh: installing ${missing[*]} with apt-get" >&2
  apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || {
    echo "test.sh: apt-get install failed; tests that need these packages will fail" >&2; }
fi

results="$here/.artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

if ! dotnet format Bisector.sln --verify-no-changes -v q; then
  echo "test.sh: formatting differs from .editorconfig; run 'dotnet format Bisector.sln'" >&2
  format_failed=1
else
  format_failed=0
fi

dotnet test Bisector.sln -c Release --logger "trx;LogFileName=tests.trx" --results-directory "$results" -- RunConfiguration.TestSessionTimeout=1800000
status=$?

trx="$results/tests.trx"
if [[ -f "$trx" ]]; then
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  passed=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  failed=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
else
  passed=0
  failed=0
  status=${status:-1}
  [[ $status -eq 0 ]] && status=1
fi
if [[ $format_failed -ne 0 && $status -eq 0 ]]; then
  status=1
fi
echo "${passed:-0} passed, ${failed:-0} failed"
exit $status
