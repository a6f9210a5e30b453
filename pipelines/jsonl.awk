# pipelines/jsonl.awk — pick fields out of flat JSON lines (the tools' metrics and results) with
# plain awk. Loaded with `awk -f jsonl.awk -f PROGRAM.awk` or used alone:
#
#   awk -v fields=step,loss,val_loss -f jsonl.awk train.jsonl   # TSV, lines missing any field skipped
#
# jget(line, key) returns the raw value text of "key": a number, a string without its quotes, or
# an array's text without brackets ("0.1,0.2"); "" when the key is absent or null.
function jget(line, key,    pat, v) {
  pat = "\"" key "\"[ \t]*:[ \t]*"
  if (!match(line, pat)) return ""
  v = substr(line, RSTART + RLENGTH)
  if (substr(v, 1, 1) == "\"") { v = substr(v, 2); return substr(v, 1, index(v, "\"") - 1) }
  if (substr(v, 1, 1) == "[") { v = substr(v, 2); v = substr(v, 1, index(v, "]") - 1); gsub(/[ \t]/, "", v); return v }
  match(v, /^[^,}\]]*/)
  v = substr(v, 1, RLENGTH); gsub(/[ \t]/, "", v)
  return v == "null" ? "" : v
}
BEGIN { nf = fields == "" ? 0 : split(fields, want, ",") }
nf > 0 {
  row = ""
  for (i = 1; i <= nf; i++) {
    v = jget($0, want[i])
    if (v == "") next
    row = row (i > 1 ? "\t" : "") v
  }
  print row
}
