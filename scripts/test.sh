#!/usr/bin/env bash
# Runs every test: installs what is missing, then `bazel test //...`, and prints a plain
# `N passed, N failed` line counting Catch2 test cases (a test target that is not Catch2,
# or that failed outside its test cases, counts as one).
#
#   scripts/test.sh                  the whole suite
#   scripts/test.sh --config=asan    the whole suite under ASan+UBSan
#   scripts/test.sh --config=tsan //tests/rendezvous/...   selected targets under TSan
#   scripts/test.sh //tests/... -//tests/x:y                 a pattern minus a target
#
# Exit status: 0 when everything passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || exit 1

config_args=()
info_args=() # the --config=... ones: what `bazel info` needs to find the test logs
targets=()
for a in "$@"; do
  case "$a" in
    --config=*) config_args+=("$a"); info_args+=("$a") ;;
    --*) config_args+=("$a") ;;
    *) targets+=("$a") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(//...)

# Sanitizer suppressions for libraries we do not build (tests/sanitizers/). They travel in
# the environment, so binaries an end-to-end test starts get them too; the path must be
# absolute because tests run in their runfiles directory.
root=$(pwd)
test_args=()
for a in "${config_args[@]}"; do
  case "$a" in
    --config=asan)
      test_args+=("--test_env=LSAN_OPTIONS=suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0")
      ;;
    --config=tsan)
      test_args+=("--test_env=TSAN_OPTIONS=suppressions=$root/tests/sanitizers/tsan.supp:halt_on_error=1:second_deadlock_stack=1")
      ;;
  esac
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# "--" lets a target pattern start with "-" (an exclusion, -//pkg:target).
bazel test "${config_args[@]}" "${test_args[@]}" --test_summary=short -- "${targets[@]}" 2>&1 | tee "$log"
bazel_rc=${PIPESTATUS[0]}

passed=0
failed=0
testlogs=$(bazel info "${info_args[@]}" bazel-testlogs 2>/dev/null)
# Bazel's summary lists each test target as "//pkg:name  (cached) PASSED in 0.1s" etc.
while read -r label status; do
  pkg=${label#//}; pkg=${pkg%%:*}; name=${label##*:}
  tlog="$testlogs/$pkg/$name/test.log"
  cases_pass=""; cases_fail=""
  if [ -f "$tlog" ]; then
    if line=$(grep -aE '^All tests passed \([0-9]+ assertions? in [0-9]+ test cases?\)' "$tlog" | tail -1); then
      cases_pass=$(sed -E 's/.* in ([0-9]+) test case.*/\1/' <<<"$line"); cases_fail=0
    elif line=$(grep -aE '^test cases: *[0-9]+ \| *[0-9]+ passed \| *[0-9]+ failed' "$tlog" | tail -1); then
      cases_pass=$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")
      cases_fail=$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")
    elif line=$(grep -aE '^test cases: *[0-9]+ \| *[0-9]+ failed' "$tlog" | tail -1); then
      cases_pass=0; cases_fail=$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")
    fi
  fi
  if [ -z "$cases_pass" ]; then
    # Not a Catch2 binary (or it died before its summary): the target is one test.
    if [ "$status" = PASSED ]; then cases_pass=1; cases_fail=0; else cases_pass=0; cases_fail=1; fi
  elif [ "$status" != PASSED ] && [ "$cases_fail" -eq 0 ]; then
    # All cases passed but the binary failed (sanitizer report at exit, crash in teardown).
    cases_fail=1
  fi
  passed=$((passed + cases_pass))
  failed=$((failed + cases_fail))
done < <(grep -aE '^//[^ ]+ +(\(cached\) +)?(PASSED|FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE|FAILED TO BUILD)' "$log" |
         sed -E 's/\(cached\) +//; s/^(\/\/[^ ]+) +([A-Z]+( [A-Z]+)*).*/\1 \2/' | sed -E 's/ (NO STATUS|FAILED TO BUILD)$/ FAILED/')

if [ "$bazel_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # A build error fails before any test runs: never report that as green.
  echo "bazel test exited with $bazel_rc before reporting a failed test (build error?)"
  failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$bazel_rc" -eq 0 ]
