# Shared by the benchmark scripts: measuring commands with /usr/bin/time and printing medians.

# measure NAME COMMAND...: run once, print "NAME <wall seconds> <peak RSS KiB> <CPU seconds>"
# (CPU: user + system time of the command and its children; wall time alone hides what the
# server, on the same cores, takes).
measure() {
  local name=$1; shift
  local log; log=$(mktemp)
  /usr/bin/time -v "$@" >/dev/null 2>"$log" || { echo "$name failed:" >&2; tail -5 "$log" >&2; }
  local wall rss secs cpu
  wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
  cpu=$(awk -F: '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$log")
  rm -f "$log"
  # wall is [h:]m:ss.ss
  secs=$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  echo "$name $secs $rss $cpu"
}

# table RESULTS NAME...: a markdown table of the medians of each name's runs.
table() {
  local results=$1; shift
  echo "| case | runs | median wall (s) | median CPU (s) | median peak RSS (MiB) |"
  echo "|---|---|---|---|---|"
  local name walls rsss cpus n m w r c
  for name in "$@"; do
    grep -q "^$name " "$results" || continue
    walls=$(grep "^$name " "$results" | awk '{print $2}' | sort -n)
    rsss=$(grep "^$name " "$results" | awk '{print $3}' | sort -n)
    cpus=$(grep "^$name " "$results" | awk '{print $4}' | sort -n)
    n=$(echo "$walls" | wc -l); m=$(( (n + 1) / 2 ))
    w=$(echo "$walls" | sed -n "${m}p"); r=$(echo "$rsss" | sed -n "${m}p")
    c=$(echo "$cpus" | sed -n "${m}p")
    printf '| %s | %d | %.2f | %.2f | %.1f |\n' "$name" "$n" "$w" "$c" "$(awk -v r="$r" 'BEGIN { print r / 1024 }')"
  done
}
