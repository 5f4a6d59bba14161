#!/usr/bin/env bash
# Send one issue from CI: install this checkout into a virtualenv, `newsletter check`, then
# `newsletter send`. Copy it unchanged into your repository and run it from the repository's
# root in any CI (GitHub Actions: see github-actions.yml beside it):
#
#   ISSUE_DATE=2025-12-05 bash examples/ci/send.sh
#
# All state (subscribers, and the ledger of who got which issue) lives in the database, so a
# fresh checkout on every run is fine, and running it again continues where the last run
# stopped. Settings come from the environment; keep the secret ones in your CI's secret store:
#   ISSUE_DATE                  the issue to send: seeds/issues/<ISSUE_DATE>.md (required)
#   NEWSLETTER_DATABASE_URL     postgresql://user@host:5432/db (required; a SQLite file in a
#                               fresh checkout would be lost, and everyone mailed again)
#   PGPASSWORD or PGPASSFILE    the database password (libpq reads them; never in the URL)
#   NEWSLETTER_SECRET           the unsubscribe-link key, 16+ characters (required: the
#                               same key every run, or earlier links stop working)
#   NEWSLETTER_SMTP_URL         smtp://user@host:587 or smtps://user@host:465 (or in newsletter.toml)
#   NEWSLETTER_SMTP_PASSWORD    the SMTP password or API key
#   NEWSLETTER_TRANSPORT        default here: smtp
#   NEWSLETTER_DKIM_RSA_KEY, NEWSLETTER_DKIM_ED25519_KEY   optional DKIM keys
#   NEWSLETTER_CONFIG           another newsletter.toml (default: the one in the checkout)
#   FORCE_SEND=1                send even if `newsletter check` finds errors (the bundled
#                               2025-11-28 issue repeats a paper, so it needs this)
#   NEWSLETTER_VENV             where to install (default .venv-send; point it at a cached
#                               folder to skip reinstalling dependencies: the checkout's code
#                               is installed into it every run)
#   SEND_ATTEMPTS, SEND_RETRY_DELAY   on exit 75, try again: 3 times in all, 300 s apart
#
# Exit codes: 0 everyone reached (or nothing left to send); 1 `newsletter check` found errors,
# nothing sent; 2 a mistake to fix (settings, the issue, another send running on this database);
# 75 readers left pending, the mail server could not be reached: run it again later;
# 130 interrupted: run it again to continue. Anything else (137: killed): run it again.
set -eu

die() { echo "send.sh: $*" >&2; exit 2; }

[ -n "${ISSUE_DATE:-}" ] || die "set ISSUE_DATE to the issue to send (YYYY-MM-DD)"
[ -n "${NEWSLETTER_DATABASE_URL:-}" ] ||
    die "set NEWSLETTER_DATABASE_URL: the ledger of who got the issue must outlive this checkout"
[ -n "${NEWSLETTER_SECRET:-}" ] ||
    die "set NEWSLETTER_SECRET: the unsubscribe-link key must be the same on every run"
case $NEWSLETTER_DATABASE_URL in
    postgresql://* | postgres://* | /* | sqlite:////*) ;;  # a server, or a file that persists
    *) die "NEWSLETTER_DATABASE_URL must be a postgresql:// URL (or an absolute path on a disk" \
           "that outlives the job): a database inside the checkout is lost after each run" ;;
esac
export NEWSLETTER_TRANSPORT="${NEWSLETTER_TRANSPORT:-smtp}"

venv=${NEWSLETTER_VENV:-.venv-send}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
echo "send.sh: installing this checkout into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check .
newsletter="$venv/bin/newsletter"

force=
if "$newsletter" check --date "$ISSUE_DATE"; then
    :
else
    code=$?
    [ "$code" = 1 ] || die "newsletter check could not run (exit $code): nothing sent"
    if [ "${FORCE_SEND:-}" != 1 ]; then
        echo "send.sh: the $ISSUE_DATE issue has errors (above): nothing sent." \
             "Fix them, or set FORCE_SEND=1 to send it anyway." >&2
        exit 1
    fi
    force=--force
fi

attempt=1
while :; do
    code=0
    "$newsletter" send --date "$ISSUE_DATE" $force || code=$?
    case $code in
        0) echo "send.sh: $ISSUE_DATE: done, nothing left pending"; exit 0 ;;
        75) if [ "$attempt" -lt "${SEND_ATTEMPTS:-3}" ]; then
                echo "send.sh: mail server unreachable; trying again in" \
                     "${SEND_RETRY_DELAY:-300} s (attempt $attempt of ${SEND_ATTEMPTS:-3})" >&2
                sleep "${SEND_RETRY_DELAY:-300}"
                attempt=$((attempt + 1))
                continue
            fi
            echo "send.sh: readers left pending (the mail server could not be reached):" \
                 "run this job again later; it continues where it stopped" >&2 ;;
        130) echo "send.sh: interrupted; run this job again to continue" >&2 ;;
        2) echo "send.sh: a mistake to fix (the line above says what); nothing more sent" >&2 ;;
        *) echo "send.sh: newsletter send stopped (exit $code); run this job again" \
                "to continue" >&2 ;;
    esac
    exit "$code"
done
