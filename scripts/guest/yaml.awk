# YAML helpers of the test guest's readers (cloud-config.awk, network-config.awk), for busybox awk: scalars,
# comments, and flow collections ([a, "b", [c, d]]) parsed from the text in FS_ at position FP.

function trim(s) {
  sub(/^[ \t]+/, "", s)
  sub(/[ \t]+$/, "", s)
  return s
}

function indent(s) {
  match(s, /^ */)
  return RLENGTH
}

# A scalar at the start of s: "double" (escapes \" \\ \/ \n \t \r \0 and \<space>), 'single' ('' is a
# quote) or plain (up to " #", trimmed). Text after a closing quote is ignored (a comment).
function scalar(s,   out, i, c, n) {
  s = trim(s)
  c = substr(s, 1, 1)
  n = length(s)
  if (c == "\"") {
    out = ""
    for (i = 2; i <= n; i++) {
      c = substr(s, i, 1)
      if (c == "\"") break
      if (c == "\\" && i < n) {
        i++
        c = substr(s, i, 1)
        if (c == "n") c = "\n"
        else if (c == "t") c = "\t"
        else if (c == "r") c = "\r"
        else if (c == "0") c = ""
      }
      out = out c
    }
    return out
  }
  if (c == "'") {
    out = ""
    for (i = 2; i <= n; i++) {
      c = substr(s, i, 1)
      if (c == "'") {
        if (substr(s, i + 1, 1) != "'") break
        i++
      }
      out = out c
    }
    return out
  }
  if (c == "#") return ""
  sub(/[ \t]#.*$/, "", s)
  return trim(s)
}

# Removes a trailing " # comment" that lies outside quotes (for flow collections that span lines).
function uncomment(s,   i, c, q, n) {
  q = ""
  n = length(s)
  for (i = 1; i <= n; i++) {
    c = substr(s, i, 1)
    if (q == "") {
      if (c == "\"" || c == "'") q = c
      else if (c == "#" && (i == 1 || substr(s, i - 1, 1) ~ /[ \t]/)) return substr(s, 1, i - 1)
    } else if (q == "\"" && c == "\\") i++
    else if (c == q) {
      if (q == "'" && substr(s, i + 1, 1) == "'") i++
      else q = ""
    }
  }
  return s
}

# True when the brackets of flow text s balance outside quotes (the collection is complete).
function flow_closed(s,   i, c, q, d, n) {
  q = ""
  d = 0
  n = length(s)
  for (i = 1; i <= n; i++) {
    c = substr(s, i, 1)
    if (q == "") {
      if (c == "\"" || c == "'") q = c
      else if (c == "[" || c == "{") d++
      else if (c == "]" || c == "}") d--
    } else if (q == "\"" && c == "\\") i++
    else if (c == q) {
      if (q == "'" && substr(s, i + 1, 1) == "'") i++
      else q = ""
    }
  }
  return d <= 0
}

# One argument for sh: as is when it is safe, else single-quoted (how cloud-init joins a list command).
function shq(s) {
  if (s ~ /^[A-Za-z0-9_.\/:=@%+,-]+$/) return s
  gsub(/'/, "'\\''", s)
  return "'" s "'"
}

# Flow parser over FS_ (text) at FP (position). A sequence's items go to the list of key FK, each a scalar,
# or a nested sequence joined into one shell command. Mappings are skipped.
function fl_ws() {
  while (FP <= length(FS_) && substr(FS_, FP, 1) ~ /[ \t\n]/) FP++
}

function fl_quoted(   q, c, out, start) {
  q = substr(FS_, FP, 1)
  start = FP
  FP++
  while (FP <= length(FS_)) {
    c = substr(FS_, FP, 1)
    if (q == "\"" && c == "\\") FP++
    else if (c == q) {
      if (q == "'" && substr(FS_, FP + 1, 1) == "'") FP++
      else break
    }
    FP++
  }
  FP++
  return scalar(substr(FS_, start, FP - start))
}

# A value: sets FV (text) and FT ("s" scalar, "q" sequence, "m" mapping).
function fl_value(   c, out, n, depth) {
  fl_ws()
  c = substr(FS_, FP, 1)
  if (c == "[") {
    FP++
    out = ""
    n = 0
    for (;;) {
      fl_ws()
      if (FP > length(FS_)) break
      if (substr(FS_, FP, 1) == "]") { FP++; break }
      fl_value()
      if (FT == "s") out = out (n++ ? " " : "") shq(FV)
      fl_ws()
      c = substr(FS_, FP, 1)
      if (c == ",") FP++
      else if (c == "]") { FP++; break }
      else if (FP > length(FS_)) break
      else FP++
    }
    FV = out
    FT = "q"
    return
  }
  if (c == "{") {
    depth = 0
    while (FP <= length(FS_)) {
      c = substr(FS_, FP, 1)
      if (c == "\"" || c == "'") { fl_quoted(); continue }
      if (c == "{") depth++
      else if (c == "}" && --depth == 0) { FP++; break }
      FP++
    }
    FV = ""
    FT = "m"
    return
  }
  if (c == "\"" || c == "'") {
    FV = fl_quoted()
    FT = "s"
    return
  }
  out = ""
  while (FP <= length(FS_)) {
    c = substr(FS_, FP, 1)
    if (c == "," || c == "]" || c == "}") break
    out = out c
    FP++
  }
  FV = trim(out)
  FT = "s"
}
