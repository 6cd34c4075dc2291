#!/usr/bin/env bash
# Quick start for the `timrest` command, against the local emulator (no account needed).
set -euo pipefail

# A local TIM server with the demo groups: release-team, ops-oncall, friday-meetup.
# It prints "timrest-emulator listening on URL" and exits when this script does (its stdin closes).
coproc EMULATOR { exec timrest emulator --seed-demo --stop-on-stdin-eof; }
read -r _ _ _ url <&"${EMULATOR[0]}"

# The same variables configure the command, the Python client and the C library.
export TIM_BASE_URL="$url"   # leave it out to reach Tencent (TIM_REGION picks the region)
export TIM_SDKAPPID=1400000000
export TIM_SECRET_KEY=5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e   # the demo key

# One group, one sender.
timrest delete --group release-team --sender spammer42

# Many at once: CSV or JSON lines, a JSON-lines report of every outcome, exit 0 only if all succeeded.
printf 'group_id,sender\nops-oncall,spammer42\nfriday-meetup,spammer42\nno-such-group,spammer42\n' > spam.csv
timrest delete-batch spam.csv --report report.jsonl || echo "some deletions failed: see report.jsonl"

# The report is written item by item: after a crash, --resume sends only what it does not show as ok.
timrest delete-batch spam.csv --report report.jsonl --resume || echo "still failing: no-such-group"

# One account, every group it joined (and their topics): the plan first, then the purge.
timrest purge spammer42 --dry-run
timrest purge spammer42 --report purge.jsonl
grep -c '"ok": true' report.jsonl
