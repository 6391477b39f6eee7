#!/usr/bin/env bash
# The steps of the GitHub Action (action.yml), one command each, so that they run and are tested outside
# GitHub too (tests/test_action.py):
#
#   run.sh install   install the kit from the action's own checkout into a venv of its own
#   run.sh check     run `webhook-conformance check` against $INPUT_URL, and exit with its exit code
#
# Everything comes from the environment, never from the command line, so that the secret is in no process
# list or log: INPUT_URL, INPUT_STRICT and WEBHOOK_SECRET (the kit reads it itself; this script never does),
# and GitHub's GITHUB_ACTION_PATH, RUNNER_TEMP, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY.
set -euo pipefail

# Every file of the action lives here: the venv, then the reports the upload step keeps.
work_dir() {
    printf '%s/webhook-conformance\n' "${RUNNER_TEMP:?RUNNER_TEMP is not set: run this as a step of action.yml}"
}

# A venv of its own, so that the kit's dependencies (pytest, requests, ...) neither break nor are broken by
# what the rest of the job installs.
install_kit() {
    local venv
    venv="$(work_dir)/venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: run this as a step of action.yml}"
    "$venv/bin/webhook-conformance" --version
}

run_check() {
    local reports code=0 strict
    reports="$(work_dir)/reports"
    rm -rf "$reports" # a report left by an earlier run in the same job must not pass for this one's
    mkdir -p "$reports"
    set_output report-dir "$reports"
    if strict="$(strict_option "${INPUT_STRICT:-false}")"; then
        # --target-url=...: a URL that starts with "-" stays a URL, and an empty one is refused (exit 4)
        # instead of silently checking the embedded reference receiver. The kit appends the Markdown
        # report to $GITHUB_STEP_SUMMARY itself.
        "$(work_dir)/venv/bin/webhook-conformance" check "--target-url=${INPUT_URL-}" "$strict" \
            --report-json "$reports/webhook-report.json" \
            --report-md "$reports/webhook-report.md" \
            --report-html "$reports/webhook-report.html" || code=$?
    else
        code=4 # the kit's usage error
    fi
    if [[ ! -f $reports/webhook-report.md ]]; then
        summarise_no_report "$code"
    fi
    set_output exit-code "$code"
    return "$code"
}

# The kit's option for the action's `strict` input: GitHub passes booleans as the strings true and false.
strict_option() {
    case "$1" in
    true | True | TRUE) echo --strict ;;
    false | False | FALSE) echo --no-strict ;;
    *)
        echo "webhook-conformance action: the input strict must be true or false, not '$1'" >&2
        return 1
        ;;
    esac
}

# Without a report (a usage error, or a crash before the end) the run's page still says what happened.
summarise_no_report() {
    if [[ -n ${GITHUB_STEP_SUMMARY-} ]]; then
        # shellcheck disable=SC2016 # the backticks are Markdown's, not the shell's
        printf '## `ERROR` webhook conformance: no report\n\n%s\n' \
            "\`webhook-conformance check\` exited with $1 before writing a report: the step's log says why." \
            >>"$GITHUB_STEP_SUMMARY"
    fi
}

set_output() {
    if [[ -n ${GITHUB_OUTPUT-} ]]; then
        printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
    fi
}

case "${1-}" in
install) install_kit ;;
check) run_check ;;
*)
    echo "usage: $0 install|check" >&2
    exit 4
    ;;
esac
