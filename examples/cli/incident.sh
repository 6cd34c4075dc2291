#!/usr/bin/env bash
# A spam incident from the shell, against the local emulator: plan, ban, and resume after a crash.
set -euo pipefail

# The emulator with the demo groups; spammer42 posted in all of them.
# It prints "timrest-emulator listening on URL" and exits when this script does (its stdin closes).
coproc EMULATOR { exec timrest emulator --seed-demo --stop-on-stdin-eof; }
read -r _ _ _ url <&"${EMULATOR[0]}"
export TIM_BASE_URL="$url"
export TIM_SDKAPPID=1400000000
export TIM_SECRET_KEY=5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e   # the demo key

# The wave: one account per line (blank lines, '#' comments and duplicates are fine).
printf '# wave of the day\nspammer42\nspam-bot-7\nspammer42\n' > spam.txt

# Reads only: each step it would take, the calls per command and how long they take.
timrest ban --senders-file spam.txt --deep --dry-run

# Mute both everywhere, then delete (silent) and recall what is older (visible), step by step into r.jsonl.
timrest ban --senders-file spam.txt --deep --report r.jsonl

# After a crash or Ctrl-C the same command with --resume does only what r.jsonl does not show as ok.
timrest ban --senders-file spam.txt --deep --report r.jsonl --resume
grep -c '"outcome":"ok"' r.jsonl
