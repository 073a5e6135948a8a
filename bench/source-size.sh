#!/usr/bin/env bash
# Issue 15's source-size accounting (docs/source-size.md): src/ lines before and after, per area the issue rewrote,
# split into what issue 15's own commits changed and what other issues' features added to the same files.
#
#   bash bench/source-size.sh [--files] [BASE [REF]]
#
# BASE defaults to 91c9434 (the commit issue 15 was written against), REF to HEAD; --files adds each area's files.
#
# Lines are physical lines (wc -l) of src/**/*.cs and src/**/*.sh (the demo's and the heap shim's C assets are data the
# tool ships, not the tool, and are left out); "code" lines leave out blank lines and whole-line comments.
# A commit counts as issue 15's when its short SHA is listed below or its subject starts with "Issue 15:". Everything
# is read from git, nothing from the working tree.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
files=false
if [[ ${1:-} == --files ]]; then files=true; shift; fi
base=${1:-91c9434}
ref=${2:-HEAD}

# Issue 15's commits before this script existed (read from `git log 91c9434..main`): the trial loop and agent, settings
# resolved once, typed rows and CommitLine, git rev-list selection and one report document, and their follow-ups.
issue15=(554c6be 6280fa4 9c2925f 54fbd9d 579b08f f9920a6 620f650 aa2ad19 91a5914 5a10124 525977b 8a3648e 9abb5e1 bbe198b)

# The other commits by issue, for the second table (read from their subjects and branches; a commit not listed counts
# as "other").
declare -A issue_of=()
for c in 5a785bb 820d775 5a4e7c5 a1f56ea 60df345 2a7d911 852f06e 7a560d2 6baf6e5 662488a; do issue_of[$c]="14 search"; done
for c in 9f50e55 c745485 5e3f700 d9b8d57 8a27004 3656f66 0f29a36 dde3a4b dfd6f19 f981daf; do issue_of[$c]="16 experiments"; done
for c in 85dd6b6 def04f2 ae3ecd1; do issue_of[$c]="17 first verdict"; done
for c in fa300cc 41523c0 2a9d118 c820af7 4c4a1f4 653f60c df8a859 f7ad101 9c66e61 fed4c1a 1fe07a6 b0a8353 0066223 7fb0e8f \
  76aa4b5 cacadcc c217f29 e866e83 06fadd5 af1447a 6cd9f5a 0973fe6 50609cb 2a846f4 e6a24e2 d35bff9 ec8f8e7 de4cf34; do
  issue_of[$c]="18 verdicts"
done
for c in 8c0693a 74d8891 8c21382 6b3e421 e7def41 5e16a18 e32d489; do issue_of[$c]="19 defects"; done
for c in "${issue15[@]}"; do issue_of[$c]="15 (this refactor)"; done

# area|paths (pathspecs relative to the repository root; a path that exists at only one end still counts there)
areas=(
  "Trial implementations (4 trial loops + trial.sh -> TrialLoop + agent)|src/Bisector/Workers/LocalWorker.cs src/Bisector/Workers/ContainerWorker.cs src/Bisector/Workers/SshWorker.cs src/Bisector/Workers/SlurmWorker.cs src/Bisector/Workers/TrialCommands.cs src/Bisector/Workers/OutputTail.cs src/Bisector/Workers/Posix.cs src/Bisector/Workers/Remote/trial.sh src/Bisector/Workers/TrialLoop.cs src/Bisector/Workers/TrialAgent.cs src/Bisector/Workers/TrialAgent.Publishing.cs src/Bisector/Diagnosis/BoundaryProfiler.cs src/Bisector/Cli/SlurmJobCommand.cs src/Bisector/Cli/TrialAgentCommand.cs src/Bisector.Agent/Program.cs"
  "Commit selection (object store -> git rev-list)|src/Bisector/Git/ObjectStore.cs src/Bisector/Git/HistoryWalk.cs src/Bisector/Git/Pathspec.cs src/Bisector/Git/CommitGraph.cs src/Bisector/Git/PathTreeComparer.cs src/Bisector/Git/CommitSelector.cs src/Bisector/Git/GitCli.cs src/Bisector/Git/GitWalkBenchmark.cs"
  "Report writers (HTML + Markdown -> one ReportDocument)|src/Bisector/Reporting/ReportWriter.cs src/Bisector/Reporting/ReportDocument.cs src/Bisector/Reporting/ReportPlots.cs"
  "Settings resolution and the run engine|src/Bisector/Cli/StartCommand.cs src/Bisector/Runs/RunEngine.cs src/Bisector/Runs/Measurer.cs src/Bisector/Runs/RunSettings.cs src/Bisector/Runs/RunOptions.cs src/Bisector/Recipes/RecipeOverrides.cs src/Bisector/Recipes/ProjectConfig.cs src/Bisector/Recipes/ProjectConfigLoader.cs"
  "Storage rows and positions|src/Bisector/Storage/ResultsStore.cs src/Bisector/Storage/Rows.cs src/Bisector/Git/CommitLine.cs"
  "Worker specs|src/Bisector/Workers/WorkerSpecs.cs src/Bisector/Workers/SshTarget.cs src/Bisector/Workers/SpecOptions.cs src/Bisector/Workers/IWorker.cs"
)

is_source() { grep -E '^src/.*\.(cs|sh)$' | grep -v '/Assets/' || true; }

# files at a commit, limited to pathspecs (all of src/ without any)
files_at() { local at=$1; shift; git ls-tree -r --name-only "$at" -- "${@:-src}" | is_source; }

# physical and code lines of those files at that commit: "LINES CODE"
lines_at() {
  local at=$1; shift
  files_at "$at" "$@" | while read -r f; do git show "$at:$f"; done |
    awk '{ n++ } !/^[[:space:]]*($|\/\/|#|\*|\/\*)/ { c++ } END { printf "%d %d\n", n, c }'
}

# net lines each non-merge commit in BASE..REF changed in those files, summed as "ISSUE15 OTHER"
by_commit() {
  git log --no-merges --numstat --format='@%h %s' "$base..$ref" -- "${@:-src}" | awk -v ids="${issue15[*]}" '
    BEGIN { n = split(ids, a, " "); for (i = 1; i <= n; i++) mine[a[i]] = 1 }
    /^@/ { sha = substr($1, 2); subj = substr($0, length($1) + 2); own = (sha in mine) || subj ~ /^Issue 15:/; next }
    NF == 3 && $3 ~ /^src\/.*\.(cs|sh)$/ && $3 !~ /\/Assets\// { if (own) i15 += $1 - $2; else other += $1 - $2 }
    END { printf "%d %d\n", i15, other }'
}

printf 'Source size of src/ (*.cs, *.sh; Assets left out) from %s to %s (%s)\n\n' \
  "$(git rev-parse --short "$base")" "$(git rev-parse --short "$ref")" "$(git log -1 --format=%cs "$ref")"
printf '| %s | %s | %s | %s | %s | %s | %s |\n' "area" "before" "after" "issue 15's commits" "other issues' commits" "merges" "code before -> after"
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
row() {
  local name=$1; shift
  read -r b bc < <(lines_at "$base" "$@")
  read -r a ac < <(lines_at "$ref" "$@")
  read -r mine other < <(by_commit "$@")
  printf '| %s | %d | %d | %+d | %+d | %+d | %d -> %d |\n' "$name" "$b" "$a" "$mine" "$other" $((a - b - mine - other)) "$bc" "$ac"
}
all_paths=()
for area in "${areas[@]}"; do
  IFS=' ' read -r -a paths <<<"${area#*|}"
  all_paths+=("${paths[@]}")
  row "${area%%|*}" "${paths[@]}"
done
# the rest of src/: every source file at either end that no area above lists
rest=$( { files_at "$base"; files_at "$ref"; } | sort -u | grep -vxF -f <(printf '%s\n' "${all_paths[@]}") || true)
mapfile -t rest_paths <<<"$rest"
row "Everything else in src/ (other features and the rest)" "${rest_paths[@]}"
row "All of src/" src

printf '\nNet lines of src/ by the issue each non-merge commit belongs to (%s..%s)\n\n| issue | commits | net lines |\n| --- | ---: | ---: |\n' \
  "$(git rev-parse --short "$base")" "$(git rev-parse --short "$ref")"
git log --no-merges --numstat --format='@%h %s' "$base..$ref" -- src |
  while IFS= read -r line; do
    if [[ $line == @* ]]; then
      sha=${line%% *}; sha=${sha#@}; subject=${line#* }
      label=${issue_of[$sha]:-other}
      [[ $subject == "Issue 15:"* ]] && label="15 (this refactor)"
      echo "@ $label"
    else
      echo "$line"
    fi
  done | awk -F'\t' '
    /^@ / { label = substr($0, 3); count[label]++; next }
    NF == 3 && $3 ~ /^src\/.*\.(cs|sh)$/ && $3 !~ /\/Assets\// { net[label] += $1 - $2 }
    END { for (l in count) printf "| %s | %d | %+d |\n", l, count[l], net[l] }' | sort

if $files; then
  for area in "${areas[@]}"; do
    printf '\n%s\n\n| file | before | after |\n| --- | ---: | ---: |\n' "${area%%|*}"
    for f in ${area#*|}; do
      b=$( (git show "$base:$f" 2>/dev/null || true) | wc -l); a=$( (git show "$ref:$f" 2>/dev/null || true) | wc -l)
      printf '| %s | %d | %d |\n' "${f#src/}" "$b" "$a"
    done
  done
fi
