# Shared by the benchmark scripts: measuring commands with /usr/bin/time and printing medians.

# measure NAME COMMAND...: run once, print "NAME <wall seconds> <peak RSS KiB>".
measure() {
  local name=$1; shift
  local log; log=$(mktemp)
  /usr/bin/time -v "$@" >/dev/null 2>"$log" || { echo "$name failed:" >&2; tail -5 "$log" >&2; }
  local wall rss secs
  wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
  rm -f "$log"
  # wall is [h:]m:ss.ss
  secs=$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  echo "$name $secs $rss"
}

# table RESULTS NAME...: a markdown table of the medians of each name's runs.
table() {
  local results=$1; shift
  echo "| case | runs | median wall (s) | median peak RSS (MiB) |"
  echo "|---|---|---|---|"
  local name walls rsss n m w r
  for name in "$@"; do
    grep -q "^$name " "$results" || continue
    walls=$(grep "^$name " "$results" | awk '{print $2}' | sort -n)
    rsss=$(grep "^$name " "$results" | awk '{print $3}' | sort -n)
    n=$(echo "$walls" | wc -l); m=$(( (n + 1) / 2 ))
    w=$(echo "$walls" | sed -n "${m}p"); r=$(echo "$rsss" | sed -n "${m}p")
    printf '| %s | %d | %.2f | %.1f |\n' "$name" "$n" "$w" "$(awk -v r="$r" 'BEGIN { print r / 1024 }')"
  done
}
