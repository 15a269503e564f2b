#!/usr/bin/env bash
# Runs every jest test and prints, as its last line, `tests: N passed, M failed` taken from
# jest's JSON report. Exits non-zero when M > 0, N = 0, or jest could not run a suite.
set -uo pipefail
cd "$(dirname "$0")/.."
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
export PORTICO_LOG_LEVEL="${PORTICO_LOG_LEVEL:-warn}"
report=.jest-results.json
rm -f "$report"
# --forceExit: a leaked handle must not keep CI waiting after the last test; the outer timeout
# bounds a run that hangs anyway (it then reports what jest wrote, or 0 passed).
timeout --kill-after=30 1200 npx jest --forceExit --json --outputFile="$report" "$@"
jest_rc=$?
if [ ! -f "$report" ]; then
  echo "tests: 0 passed, 0 failed"
  echo "jest wrote no report (exit $jest_rc)" >&2
  exit 1
fi
node -e '
const r = require(process.argv[1]);
const passed = r.numPassedTests;
// A suite that fails to load has no failed tests of its own; count it so it cannot pass silently.
const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
' "$PWD/$report"
rc=$?
[ $rc -eq 0 ] && [ $jest_rc -ne 0 ] && rc=$jest_rc
exit $rc
