#!/usr/bin/env bash
# expect.sh EXIT REGEX -- COMMAND...   runs COMMAND, requires exit status EXIT and output (stdout +
# stderr) matching the extended REGEX; for EXIT != 0 also requires a single stderr line and no
# crash (a signal gives an exit status >= 128).
set -u
want_exit=$1; regex=$2; shift 3
out=$(mktemp); err=$(mktemp)
"$@" >"$out" 2>"$err"
code=$?
ok=1
if [ "$code" -ne "$want_exit" ]; then echo "exit status $code, expected $want_exit"; ok=0; fi
if ! cat "$out" "$err" | grep -Eq -- "$regex"; then echo "output does not match /$regex/"; ok=0; fi
if [ "$want_exit" -eq 1 ] && [ "$(wc -l <"$err")" -ne 1 ]; then echo "expected exactly one line on stderr"; ok=0; fi
if [ $ok -eq 0 ]; then echo "--- command: $*"; echo "--- stdout:"; cat "$out"; echo "--- stderr:"; cat "$err"; fi
rm -f "$out" "$err"
[ $ok -eq 1 ]
