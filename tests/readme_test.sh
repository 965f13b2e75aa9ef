#!/usr/bin/env bash
# The README's programs table is one table: every program has its row, in
# the table (no paragraph between rows), each with its three cells.
set -euo pipefail
readme=${1:?usage: readme_test.sh README.md}
table=$(awk '/^\| program \| role \| main options \|$/ { inside = 1 } inside && /^$/ { exit } inside { print }' "$readme")
[[ -n $table ]] || { echo "FAILED: no programs table (| program | role | main options |) in $readme"; exit 1; }
for program in zpipe-ventilator zpipe-worker zpipe-sink zpipe-keygen zpipe-status; do
  grep -q "^| \`$program" <<<"$table" || { echo "FAILED: $program has no row in the programs table:"; echo "$table"; exit 1; }
done
while IFS= read -r row; do
  # Cells are split by | that is not escaped as \|: three cells, four bars.
  bars=$(sed 's/\\|//g' <<<"$row" | tr -cd '|' | wc -c)
  [[ $bars -eq 4 ]] || { echo "FAILED: this row of the programs table has $((bars - 1)) cells, not 3: $row"; exit 1; }
done <<<"$table"
echo "the programs table: $(($(wc -l <<<"$table") - 2)) rows of 3 cells"
