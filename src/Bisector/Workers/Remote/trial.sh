# Bisector remote trial (POSIX sh + awk). SshWorker uploads this once per host and runs it per trial; it mirrors
# LocalWorker: the daemon in its own memory cgroup and namespaces, the workload in a second cgroup inside the
# daemon's namespaces, samples every T_INTERVAL_CS read by one long-lived awk (no process per sample besides sleep),
# and removes everything it created before it prints its last line.
#
# Every input arrives as an environment variable the controller single-quoted; T_DAEMON_ARGV / T_WORKLOAD_ARGV are
# argument lists the controller quoted word by word, so eval only re-splits them (the few unquoted words are
# "$procs", "$wprocs" and "$root", set below).
#
# Output lines: "pid PID", "s SECONDS METRIC VALUE", "d PID", "ready CS_AFTER_START", "end KIND CODE ELAPSED_CS OOM_KILLS LIMIT_HITS",
# "o LINE" (daemon output tail), "w LINE" (workload output tail), "leftover TEXT".
set -u
# bash's read -t waits without a fork; plain sh forks sleep on every tick (about 1% of a core at 10 Hz by itself).
if [ -z "${BASH_VERSION:-}" ] && command -v bash >/dev/null 2>&1; then exec bash "$0" "$@"; fi
# A lost connection must not skip clean-up: writes then fail (EPIPE) and end the loop instead of killing the script.
trap '' PIPE HUP
echo "pid $$"

run=$BISECTOR_RUN_DIR
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
  parent=/sys/fs/cgroup/bisector usage=memory.current anonkey=anon
else
  parent=/sys/fs/cgroup/memory/bisector usage=memory.usage_in_bytes anonkey=rss
fi
cg=$parent/$T_UNIQUE
wcg=$cg-workload
procs=$cg/cgroup.procs
wprocs=$wcg/cgroup.procs
root=
dpid=
wpid=
apid=
kind=
code=0
now=0
start=0

nap() { # $1 = seconds, e.g. 0.05
  if [ -n "${BASH_VERSION:-}" ] && [ -p "$run/.nap" ]; then read -r -t "$1" -u 9 _ 2>/dev/null; else sleep "$1"; fi
}

uptime_cs() { read -r up _ < /proc/uptime; now=${up%.*}${up#*.}; now=${now#0}; now=${now:-0}; }

# State letter of a child we have not waited for yet (Z once it exited), or X when it is gone.
state_of() {
  if read -r st < "/proc/$1/stat" 2>/dev/null; then st=${st##*) }; echo_state=${st%% *}; else echo_state=X; fi
}

stop_group() { # $1 cgroup dir, $2 main pid or empty, $3 grace in cs
  [ -d "$1" ] || return 0
  members=$(cat "$1/cgroup.procs" 2>/dev/null)
  [ -n "$members" ] || return 0
  if [ -n "$2" ] && echo "$members" | grep -qx "$2"; then kill -TERM "$2" 2>/dev/null; else
    for m in $members; do kill -TERM "$m" 2>/dev/null; done; fi
  uptime_cs; deadline=$((now + $3))
  while [ -n "$(cat "$1/cgroup.procs" 2>/dev/null)" ]; do
    uptime_cs
    if [ "$now" -ge "$deadline" ]; then
      # Killing repeatedly covers processes forked between reading cgroup.procs and signalling.
      for m in $(cat "$1/cgroup.procs" 2>/dev/null); do kill -KILL "$m" 2>/dev/null; done
    fi
    [ "$now" -ge $((deadline + 500)) ] && break
    nap 0.05
  done
}

cleanup() {
  trap - EXIT
  exec 3>&- 2>/dev/null
  stop_group "$wcg" "" "$T_WORKLOAD_STOP_CS"
  stop_group "$cg" "$(cat "$run/.dpid" 2>/dev/null)" "$T_STOP_CS"
  if [ -n "$apid" ]; then kill "$apid" 2>/dev/null; wait "$apid" 2>/dev/null; fi
  oom=0 hits=0
  if [ -d "$cg" ]; then
    if [ -e "$cg/memory.oom_control" ]; then
      oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.oom_control"); hits=$(cat "$cg/memory.failcnt" 2>/dev/null)
    else
      oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events"); hits=$(awk '$1 == "max" { print $2 }' "$cg/memory.events")
    fi
  fi
  [ -n "$dpid" ] && [ -z "$kind" ] && kill -KILL "$dpid" 2>/dev/null
  [ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null
  for d in "$wcg" "$cg"; do
    i=0
    # The kernel refuses (EBUSY) while a dying task is still being torn down.
    while [ -d "$d" ] && ! rmdir "$d" 2>/dev/null; do i=$((i + 1)); [ $i -gt 100 ] && break; nap 0.05; done
    [ -d "$d" ] && echo "leftover cgroup $d could not be removed"
  done
  [ -f "$run/.daemon.log" ] && tail -n 30 "$run/.daemon.log" | sed 's/^/o /'
  [ -f "$run/.workload.log" ] && tail -n 30 "$run/.workload.log" | sed 's/^/w /'
  exec 9>&- 2>/dev/null
  rm -rf "$run" || echo "leftover run directory $run could not be removed"
  echo "end ${kind:-cancelled} $code $((now - start)) ${oom:-0} ${hits:-0}"
}
trap cleanup EXIT
trap 'kind=cancelled; exit 143' TERM INT

plumbing() { kind=plumbing; echo "$1" >> "$run/.daemon.log"; exit 125; }

mkdir -p "$parent" "$cg" "$wcg" 2>>"$run/.daemon.log" || plumbing "cannot create memory cgroups under $parent"
if [ "$parent" = /sys/fs/cgroup/bisector ]; then
  echo +memory > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
  echo +memory > "$parent/cgroup.subtree_control" 2>/dev/null
  echo "$T_LIMIT" > "$cg/memory.max" || plumbing "cannot set memory.max in $cg"
  [ -e "$cg/memory.swap.max" ] && echo 0 > "$cg/memory.swap.max"
else
  echo "$T_LIMIT" > "$cg/memory.limit_in_bytes" || plumbing "cannot set memory.limit_in_bytes in $cg"
  [ -e "$cg/memory.memsw.limit_in_bytes" ] && echo "$T_LIMIT" > "$cg/memory.memsw.limit_in_bytes"
fi

mkfifo "$run/.tick" || plumbing "cannot create $run/.tick"
# Nobody writes to .nap: reading it with a timeout is bash's fork-free sleep.
mkfifo "$run/.nap" && exec 9<> "$run/.nap"
# The sampler: one awk for the whole trial. Each tick line is "CS ROOT READY"; it finds the daemon below ROOT (down
# through the shells sh -c leaves), then prints one line per metric.
# mawk fills its whole input buffer before it runs a rule, which would batch every tick at the end of the trial;
# -W interactive makes it read line by line.
awk_line=
case $(awk -W version 2>&1 | head -n 1) in mawk*) awk_line="-W interactive" ;; esac
# Paths reach awk through ENVIRON, not -v, which would interpret backslashes in them; LC_ALL=C keeps "0.10", not "0,10".
# shellcheck disable=SC2086
S_CG=$cg S_USAGE=$usage S_ANONKEY=$anonkey S_DPIDFILE=$run/.dpid LC_ALL=C awk $awk_line '
BEGIN { cg = ENVIRON["S_CG"]; usage = ENVIRON["S_USAGE"]; anonkey = ENVIRON["S_ANONKEY"]; dpidfile = ENVIRON["S_DPIDFILE"]; t0 = 0 }
function comm(p,  c, f) { f = "/proc/" p "/comm"; c = ""; getline c < f; close(f); return c }
function isshell(c) { return c == "sh" || c == "dash" || c == "bash" || c == "ash" || c == "busybox" || c == "unshare" }
function resolve(root, readycs, cs,   f, line, n, i, m, st, parts, k, cur, kids, only) {
  f = cg "/cgroup.procs"; n = 0
  while ((getline line < f) > 0) { m[++n] = line }
  close(f)
  for (i = 1; i <= n; i++) {
    st = ""; f = "/proc/" m[i] "/stat"; getline st < f; close(f)
    sub(/.*\) /, "", st); split(st, parts, " "); ppid[m[i]] = parts[2]
  }
  cur = root; found = 0
  for (i = 1; i <= n; i++) if (m[i] == root) found = 1
  if (!found) return
  while (isshell(comm(cur))) {
    kids = 0
    for (i = 1; i <= n; i++) if (ppid[m[i]] == cur) { kids++; only = m[i] }
    if (kids != 1) break
    cur = only
  }
  if (cur != dpid) { dpid = cur; print "d " dpid; print dpid > dpidfile; close(dpidfile) }
  # Never before readiness: a short-lived child of a wrapper (ip, mount) looks just like the daemon until it exits.
  settled = readycs > 0 && (!isshell(comm(cur)) || cs > readycs + 100)
}
function keyed(file, key,   line, v, parts) {
  v = ""
  while ((getline line < file) > 0) { split(line, parts, " "); if (parts[1] == key) { v = parts[2]; break } }
  close(file); return v
}
# One write per tick: mawk -W interactive writes every print at once, and each write is a packet through sshd.
{
  cs = $1; root = $2; readycs = $3
  if (t0 == 0) t0 = cs
  if (!settled && root > 0) resolve(root, readycs, cs)
  if (dpid == "") next
  t = sprintf("%.2f", (cs - t0) / 100)
  f = "/proc/" dpid "/status"; vm = ""; an = ""; fi = ""; vd = ""; got = 0; out = ""
  # The four lines sit together near the top; stop reading once all are found.
  while (got < 4 && (getline line < f) > 0) {
    c = substr(line, 1, 3)
    if (c != "VmR" && c != "Rss" && c != "VmD") continue
    split(line, p, " ")
    if (p[1] == "VmRSS:") { vm = p[2] * 1024; got++ }
    else if (p[1] == "RssAnon:") { an = p[2] * 1024; got++ }
    else if (p[1] == "RssFile:") { fi = p[2] * 1024; got++ }
    else if (p[1] == "VmData:") { vd = p[2] * 1024; got++ }
  }
  close(f)
  # The settled process is gone (a short-lived step such as mkdir before "exec daemon" when nothing gates readiness):
  # look for the daemon again on the next tick.
  if (vm == "" && settled) settled = 0
  if (vm != "") out = sprintf("s %s vm_rss %d\ns %s rss_anon %d\ns %s rss_file %d\ns %s vm_data %d\n", t, vm, t, an, t, fi, t, vd)
  f = cg "/" usage; u = ""; getline u < f; close(f)
  if (u != "") out = out "s " t " cgroup_usage " u "\n"
  a = keyed(cg "/memory.stat", anonkey)
  if (a != "") out = out "s " t " cgroup_rss " a "\n"
  if (out != "") { printf "%s", out; if (fflush() < 0) exit 2 }
}' < "$run/.tick" &
apid=$!
exec 3> "$run/.tick"

uptime_cs; start=$now
eval "set -- $T_DAEMON_ARGV"
# 3>&-: the daemon must not hold the tick pipe open, or the sampler would never see its end.
(cd "$BISECTOR_ARTIFACT" && exec "$@") < /dev/null > "$run/.daemon.log" 2>&1 3>&- 9>&- &
dpid=$!
[ "$T_PIDNS" = 1 ] || root=$dpid

readycs=0
[ -z "$T_READY" ] && readycs=$start
wl_done=0
tick=0
while :; do
  uptime_cs
  state_of "$dpid"
  if [ "$echo_state" = Z ] || [ "$echo_state" = X ]; then
    wait "$dpid"; code=$?
    kind=exited
    [ "$code" = 125 ] && kind=plumbing
    break
  fi
  if [ -z "$root" ]; then
    # With a PID namespace the daemon's shell is unshare's child: the cgroup member whose parent is the started one.
    for p in $(cat "$procs" 2>/dev/null); do
      read -r st < "/proc/$p/stat" 2>/dev/null || continue
      st=${st##*) }; set -- $st
      [ "$2" = "$dpid" ] && root=$p
    done
  fi
  if ! echo "$now ${root:-0} $readycs" >&3; then kind=lost; break; fi
  if [ "$readycs" = 0 ]; then
    if [ -n "$root" ] && { { [ "$T_MOUNTNS" = 1 ] && [ -e "/proc/$root/root$T_READY" ]; } || { [ "$T_MOUNTNS" != 1 ] && [ -e "$T_READY" ]; }; }; then
      readycs=$now; echo "ready $((readycs - start))"
    elif [ $((now - start)) -ge "$T_READY_TIMEOUT_CS" ]; then
      kind=notready; break
    fi
  fi
  if [ "$readycs" != 0 ]; then
    if [ -n "$T_WORKLOAD_ARGV" ] && [ -n "$root" ] && [ "$wl_done" = 0 ]; then
      if [ -n "$wpid" ]; then state_of "$wpid"; else echo_state=X; fi
      if [ -n "$wpid" ] && { [ "$echo_state" = Z ] || [ "$echo_state" = X ]; }; then
        wait "$wpid"; wcode=$?; wpid=
        if [ "$wcode" = 125 ]; then kind=plumbing; code=125; echo "could not place the workload in its cgroup or the daemon's namespaces" >> "$run/.daemon.log"; break; fi
        if [ "$T_RESTART" != 1 ]; then
          if [ "$wcode" != 0 ]; then kind=workload; code=$wcode; break; fi
          wl_done=1
        fi
      fi
      if [ -z "$wpid" ] && [ "$wl_done" = 0 ]; then
        eval "set -- $T_WORKLOAD_ARGV"
        (cd "$BISECTOR_ARTIFACT" && exec "$@") < /dev/null >> "$run/.workload.log" 2>&1 3>&- 9>&- &
        wpid=$!
      fi
    fi
    if [ $((now - readycs)) -ge "$T_MEASURED_CS" ]; then kind=ok; break; fi
  fi
  # Ticks are scheduled on absolute times so a slow tick does not shift every later sample.
  tick=$((tick + 1))
  uptime_cs
  d=$((start + tick * T_INTERVAL_CS - now))
  if [ "$d" -gt 0 ]; then
    c=$((d % 100)); [ "$c" -lt 10 ] && c=0$c
    nap "$((d / 100)).$c"
  fi
done
exit 0
