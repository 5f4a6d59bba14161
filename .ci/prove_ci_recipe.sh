#!/usr/bin/env bash
# Proves the CI recipe, examples/ci/send.sh, as a user's CI runs it: each run in a NEW
# `git clone` of this repository's committed state, with a clean environment holding only
# the recipe's variables (nothing else carried over from one run to the next), against a
# real PostgreSQL (tests/support/postgres.py: initdb into a temporary folder, run as the
# `postgres` user, 127.0.0.1 and a Unix socket only) and a recording SMTP server on
# 127.0.0.1 (.ci/recording_smtp.py). The issues are .ci/ci_recipe/ (NEWSLETTER_CONFIG).
#
#   run 0  the bundled 2025-11-28 issue, which `newsletter check` faults: refused, exit 1
#   run 1  issue A to N subscribers: all N sent, exit 0
#   run 2  issue A again: "nothing to send", exit 0, no message
#   run 3  issue B, the server answering slowly: kill -9 of the whole job half-way
#   run 4  issue B from another fresh clone and a fresh virtualenv: finishes, exit 0
#
# then checks from the server's records and `newsletter status` that every subscriber got
# exactly one copy of each issue, except those reported in doubt (at most two), and nobody
# is missing. Runs 1 and 4 install from scratch (their own .venv-send); runs 0, 2 and 3 share
# an installed-dependencies folder (NEWSLETTER_VENV) into which each installs its own
# clone's code. Every server is stopped at the end, pass or fail.
#
#   bash .ci/prove_ci_recipe.sh       # PROOF_SUBSCRIBERS=300 by default
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
subscribers=${PROOF_SUBSCRIBERS:-300}
issue_a=2025-12-05 subject_a="CI recipe proof: first issue"
issue_b=2025-12-12 subject_b="CI recipe proof: second issue"
work=$(mktemp -d "${TMPDIR:-/tmp}/newsletter-ci-proof.XXXXXX")
records=$work/smtp-records.tsv
smtp_pid='' job_pid='' NEWSLETTER_TEST_POSTGRES_FOLDER='' last_log=''

say() { printf 'prove_ci_recipe [%3ss]: %s\n' "$SECONDS" "$*"; }
fail() {
    echo "prove_ci_recipe: FAILED: $*" >&2
    if [ -n "$last_log" ] && [ -f "$last_log" ]; then
        echo "--- last lines of $(basename "$last_log"):" >&2
        tail -n 25 "$last_log" >&2
    fi
    exit 1
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$job_pid" ] && kill -0 -- "-$job_pid" 2>/dev/null; then
        kill -9 -- "-$job_pid" 2>/dev/null || true  # run 3's process group, if still there
    fi
    if [ -n "$smtp_pid" ]; then
        kill "$smtp_pid" 2>/dev/null || true
        wait "$smtp_pid" 2>/dev/null || true
    fi
    if [ -n "$NEWSLETTER_TEST_POSTGRES_FOLDER" ]; then
        (cd "$repo" && "$py" -m tests.support.postgres stop "$NEWSLETTER_TEST_POSTGRES_FOLDER") ||
            echo "prove_ci_recipe: could not stop PostgreSQL in $NEWSLETTER_TEST_POSTGRES_FOLDER" >&2
    fi
    if [ "${PROOF_KEEP:-}" = 1 ]; then echo "prove_ci_recipe: kept $work" >&2; else rm -rf "$work"; fi
    if [ "$status" = 0 ]; then say "passed"; else echo "prove_ci_recipe: failed (exit $status)" >&2; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -- tools: the servers and the one subscriber import run from this checkout -----------------
py=${PROOF_PYTHON:-$repo/.venv/bin/python}
if ! { [ -x "$py" ] && "$py" -c 'import aiosmtpd, psycopg, pytest' 2>/dev/null; }; then
    say "building a tools virtualenv (no $repo/.venv with aiosmtpd, psycopg and pytest)"
    python3 -m venv "$work/tools"
    "$work/tools/bin/python" -m pip install --quiet "$repo" aiosmtpd pytest
    py=$work/tools/bin/python
fi

# -- servers -----------------------------------------------------------------------------------
pg_exports=$(cd "$repo" && "$py" -m tests.support.postgres start)
eval "$pg_exports"
say "PostgreSQL on $NEWSLETTER_TEST_DATABASE_URL"

"$py" "$repo/.ci/recording_smtp.py" --port-file "$work/smtp-port" --log "$records" \
    --delay-file "$work/smtp-delay" &
smtp_pid=$!
for _ in $(seq 100); do [ -s "$work/smtp-port" ] && break; sleep 0.1; done
[ -s "$work/smtp-port" ] || fail "the recording SMTP server did not start"
smtp_url="smtp://127.0.0.1:$(cat "$work/smtp-port")"
say "recording SMTP server on $smtp_url"

# What every run gets, and nothing else: the machine's PATH, HOME and pip settings, and the
# recipe's variables, as a CI's secret store and job definition would give them.
secret="ci-proof-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
ci_env=(PATH="$PATH" HOME="$HOME" LANG=C.UTF-8
        NEWSLETTER_DATABASE_URL="$NEWSLETTER_TEST_DATABASE_URL" PGPASSFILE="$PGPASSFILE"
        NEWSLETTER_SECRET="$secret" NEWSLETTER_SMTP_URL="$smtp_url" NEWSLETTER_TRANSPORT=smtp)
while IFS= read -r setting; do ci_env+=("$setting"); done < <(env | grep -E '^(PIP|PYENV)_' || true)
recipe_config=(NEWSLETTER_CONFIG=.ci/ci_recipe/newsletter.toml)

# -- the list, imported once -----------------------------------------------------------------
{
    echo "email,name,status"
    for i in $(seq -w 1 "$subscribers"); do echo "reader$i@example.org,Reader $i,active"; done
} >"$work/readers.csv"
(cd "$repo" && env -i "${ci_env[@]}" "$py" -m newsletter subscribers import "$work/readers.csv") \
    >"$work/import.log" 2>&1 || { last_log=$work/import.log; fail "the subscriber import failed"; }
cut -d, -f1 "$work/readers.csv" | tail -n +2 | sort >"$work/expected"
say "$subscribers subscribers imported into PostgreSQL"

# -- the runs ----------------------------------------------------------------------------------
clone() {  # clone NAME: a fresh clone of the committed state; prints its folder
    git clone --quiet --depth 1 "file://$repo" "$work/$1"
    echo "$work/$1"
}
send_sh() {  # send_sh NAME DATE [VAR=VALUE...]: examples/ci/send.sh in a new clone; sets $code
    local name=$1 date=$2 folder
    shift 2
    folder=$(clone "$name")
    last_log=$work/$name.log
    code=0
    (cd "$folder" && env -i "${ci_env[@]}" ISSUE_DATE="$date" "$@" bash examples/ci/send.sh) \
        >"$last_log" 2>&1 || code=$?
}
received() {  # received SUBJECT: one line per message of that issue, its recipient
    awk -F '\t' -v subject="$1" '$2 == subject { print $1 }' "$records"
}
expect_code() {  # expect_code RUN WANTED
    [ "$code" = "$2" ] || fail "$1: send.sh exited $code, expected $2"
}

shared_venv=$work/installed-dependencies

send_sh run-0 2025-11-28 NEWSLETTER_VENV="$shared_venv"
expect_code "run 0 (the bundled issue, which check faults)" 1
grep -q "has errors" "$last_log" || fail "run 0: send.sh did not say why it refused"
[ ! -s "$records" ] || fail "run 0: messages were sent for an issue check refuses"
say "run 0: the bundled 2025-11-28 issue refused by newsletter check (exit 1), nothing sent"

send_sh run-1 "$issue_a" "${recipe_config[@]}"
expect_code "run 1" 0
sent=$(received "$subject_a" | wc -l)
[ "$sent" = "$subscribers" ] || fail "run 1: the server got $sent messages, expected $subscribers"
received "$subject_a" | sort | cmp -s - "$work/expected" ||
    fail "run 1: the recipients are not the $subscribers subscribers, once each"
say "run 1: $sent of $subscribers sent, each subscriber once (exit 0)"

send_sh run-2 "$issue_a" "${recipe_config[@]}" NEWSLETTER_VENV="$shared_venv"
expect_code "run 2" 0
grep -q "$issue_a: nothing to send ($subscribers sent before)" "$last_log" ||
    fail "run 2: no 'nothing to send ($subscribers sent before)' line"
again=$(( $(received "$subject_a" | wc -l) - sent ))
[ "$again" = 0 ] || fail "run 2: $again messages sent again"
say "run 2: nothing to send ($subscribers sent before), no message (exit 0)"

# Run 3: each reply takes 40 ms, after the server has recorded the message; the job (send.sh,
# pip, newsletter: its whole process group, as when a CI runner dies) is killed with SIGKILL
# once half the subscribers are recorded.
echo 0.04 >"$work/smtp-delay"
folder=$(clone run-3)
last_log=$work/run-3.log
(  # the job leads a process group of its own; this subshell stays out of it, to tell its end
    cd "$folder"
    setsid env -i "${ci_env[@]}" ISSUE_DATE="$issue_b" "${recipe_config[@]}" \
        NEWSLETTER_VENV="$shared_venv" bash examples/ci/send.sh >"$last_log" 2>&1 &
    echo $! >"$work/run-3.pid"
    ended=0
    wait $! || ended=$?
    echo "$ended" >"$work/run-3.code"
) 2>/dev/null &
watcher=$!
for _ in $(seq 100); do [ -s "$work/run-3.pid" ] && break; sleep 0.05; done
job_pid=$(cat "$work/run-3.pid")
half=$((subscribers / 2))
for _ in $(seq 1200); do  # at most 120 s
    [ "$(received "$subject_b" | wc -l)" -ge "$half" ] && break
    kill -0 "$job_pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$job_pid" 2>/dev/null || fail "run 3: send.sh ended before it could be killed half-way"
[ "$(received "$subject_b" | wc -l)" -ge "$half" ] || fail "run 3: not half-way after 120 s"
kill -9 -- "-$job_pid"
wait "$watcher" || true
code=$(cat "$work/run-3.code")
expect_code "run 3 (killed)" 137
for _ in $(seq 50); do kill -0 -- "-$job_pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 -- "-$job_pid" 2>/dev/null || fail "run 3: processes of the killed job are still running"
job_pid=
echo 0 >"$work/smtp-delay"
before=$(received "$subject_b" | wc -l)
# The whole output first: `| head -n 1` would close the pipe on status's later lines, and
# with pipefail the broken pipe would fail the script.
status_after_kill=$(cd "$repo" && env -i "${ci_env[@]}" "${recipe_config[@]}" \
    "$py" -m newsletter status --date "$issue_b")
status_after_kill=${status_after_kill%%$'\n'*}
say "run 3: killed with SIGKILL after $before of $subscribers recorded by the server;" \
    "status: $status_after_kill"

send_sh run-4 "$issue_b" "${recipe_config[@]}"
expect_code "run 4 (after the kill)" 0
summary=$(grep -E "^$issue_b: [0-9]+ sent" "$last_log" || true)
[ -n "$summary" ] || fail "run 4: no summary line"
say "run 4: $summary"
doubt_line=$(grep -E "^[0-9]+ in doubt" "$last_log" || true)
[ -z "$doubt_line" ] || say "run 4: $doubt_line"

# -- the verdict -------------------------------------------------------------------------------
status=$(cd "$work/run-4" && env -i "${ci_env[@]}" "${recipe_config[@]}" \
    .venv-send/bin/newsletter status --date "$issue_b")
last_log=$work/status.txt
echo "$status" >"$last_log"
echo "$status" | head -n 1 | grep -q "^$issue_b: $subscribers sent, 0 pending, 0 sending" ||
    fail "status after run 4 is not '$subscribers sent, 0 pending, 0 sending': $status"
in_doubt=$(echo "$status" | sed -n 's/^[0-9]* sent again after a stopped run (may have arrived twice): //p' |
    tr -d ' ' | tr ',' '\n' | sed '/^$/d' | sort)
doubtful=$(printf '%s' "$in_doubt" | grep -c . || true)
received "$subject_b" | sort | uniq -c | awk '{ print $2, $1 }' >"$work/counts"
cut -d' ' -f1 "$work/counts" | cmp -s - "$work/expected" || {
    missing=$(cut -d' ' -f1 "$work/counts" | comm -13 - "$work/expected" | wc -l)
    fail "issue B: $missing subscriber(s) got nothing, or mail went to someone not subscribed"
}
duplicates=0
while read -r address count; do
    [ "$count" = 1 ] && continue
    printf '%s\n' "$in_doubt" | grep -qxF "$address" ||
        fail "issue B: $address got $count copies and was not reported in doubt"
    [ "$count" -le 2 ] || fail "issue B: $address (in doubt) got $count copies"
    duplicates=$((duplicates + 1))
done <"$work/counts"
total=$(received "$subject_b" | wc -l)
say "issue B: $subscribers subscribers, $total messages: every subscriber reached," \
    "$doubtful reported in doubt, $duplicates of them received twice, no other duplicate"
