#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: installs with apt-get what the tests need, checks formatting,
# runs every test, and ends with the line "N passed, N failed" counted from the TRX results.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

packages=(gcc libc6-dev make git util-linux iproute2 openssh-server openssh-client chromium procps docker.io podman busybox-static heaptrack slurm-wlm munge libjemalloc2 libtcmalloc-minimal4
  clang zlib1g-dev) # clang, zlib1g-dev: the NativeAOT trial agent (src/Bisector.Agent) is linked with them
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

# The packed .NET tool, installed into a temporary tool path from the package alone (a nuget.config that lists only
# the pack folder: no registry is asked), then run as a user runs it: --version, init and a dry run on a tiny repo.
# Packing publishes the native trial agent into the package (about a minute); it must be there and run.
smoke_failed=0
smoke="$(mktemp -d /tmp/bisector-tool-smoke.XXXXXX)"
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props | head -n 1)
printf '<?xml version="1.0" encoding="utf-8"?>\n<configuration><packageSources><clear /><add key="local" value="%s" /></packageSources></configuration>\n' "$smoke/pkg" >"$smoke/nuget.config"
if dotnet pack src/Bisector/Bisector.csproj -c Release --no-build -o "$smoke/pkg" --nologo -v q >&2 \
  && dotnet tool install Bisector --version "$version" --tool-path "$smoke/bin" --configfile "$smoke/nuget.config" >&2 \
  && "$smoke/bin/bisector" --version \
  && agent=$(find "$smoke/bin/.store" -name bisector-agent -type f | head -n 1) && [[ -n "$agent" ]] \
  && echo "test.sh: the package carries the native trial agent: $agent ($(stat -c %s "$agent") bytes, $(ldd "$agent" | wc -l) shared libraries)" >&2 \
  && "$agent" --version \
  && git init -q "$smoke/repo" \
  && printf 'all: smoked\nsmoked: smoked.c\n\t$(CC) -o smoked smoked.c\n' >"$smoke/repo/Makefile" \
  && printf 'int main(void) { for (;;) ; }\n' >"$smoke/repo/smoked.c" \
  && git -C "$smoke/repo" add -A && git -C "$smoke/repo" -c user.name=t -c user.email=t@t commit -qm one \
  && echo '/* two */' >>"$smoke/repo/smoked.c" && git -C "$smoke/repo" -c user.name=t -c user.email=t@t commit -qam two \
  && "$smoke/bin/bisector" init --repo "$smoke/repo" --yes \
  && (cd "$smoke/repo" && "$smoke/bin/bisector" start HEAD~1..HEAD --dry-run); then
  echo "test.sh: the packed tool installs and runs (--version, the trial agent's --version, init, start --dry-run)" >&2
else
  echo "test.sh: the packed .NET tool failed to pack, install or run; see above" >&2
  smoke_failed=1
fi
rm -rf "$smoke"

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
if [[ ($format_failed -ne 0 || $smoke_failed -ne 0) && $status -eq 0 ]]; then
  status=1
fi
echo "${passed:-0} passed, ${failed:-0} failed"
exit $status
