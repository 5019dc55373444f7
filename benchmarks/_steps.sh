# Sourced by gpu_checks.sh and cpu_checks.sh: the one step runner of a check script.
# `step NAME SECONDS COMMAND...` runs COMMAND with a time limit, appends its output to
# $OUT/log.txt and remembers a failed or timed-out step in FAILED, so one step's failure leaves
# the others' results standing; with STEPS set (names separated by spaces) only those steps run.
# `finish` prints the failed steps and exits non-zero if any.
FAILED=()
step() {
    local name=$1 limit=$2; shift 2
    if [ -n "${STEPS:-}" ] && [[ " $STEPS " != *" $name "* ]]; then
        echo "== $name: skipped (not in STEPS)" | tee -a "$OUT/log.txt"
        return
    fi
    echo "== $name: $*" | tee -a "$OUT/log.txt"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$OUT/log.txt"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$OUT/log.txt"
    [ "$rc" = 0 ] || FAILED+=("$name")
}
finish() {
    echo "results in $OUT; failed steps: ${FAILED[*]:-none}" | tee -a "$OUT/log.txt"
    [ ${#FAILED[@]} = 0 ]
}
