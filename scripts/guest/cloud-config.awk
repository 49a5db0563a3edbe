# The test guest's reader of NoCloud meta-data and #cloud-config user-data: the YAML subset that README.md
# documents, in busybox awk. Usage: awk -v out=DIR -f yaml.awk -f cloud-config.awk meta-data user-data
# DIR must hold empty runcmd/ and bootcmd/ folders. Writes, for what the files set:
#   DIR/hostname  DIR/password  DIR/ssh_pwauth (true|false)  DIR/ssh_authorized_keys (one key a line)
#   DIR/runcmd/NNN  DIR/bootcmd/NNN (one command a file: a block scalar item may span lines)
# Whatever else the files hold (real cloud-init's keys, nested mappings, lists, block scalars) is skipped:
# only top-level keys count, and any line indented under an unknown key belongs to that key.

# Items of the flow sequence text s, appended to list k (ssh keys take scalars only).
function flow_list(k, s,   c, n) {
  FS_ = s
  FP = 1
  fl_ws()
  if (substr(FS_, FP, 1) != "[") return
  FP++
  for (;;) {
    fl_ws()
    if (FP > length(FS_)) break
    if (substr(FS_, FP, 1) == "]") break
    fl_value()
    if (FT == "s" && FV != "") add(k, FV)
    else if (FT == "q" && k != "ssh_authorized_keys" && FV != "") add(k, FV)
    fl_ws()
    c = substr(FS_, FP, 1)
    if (c == ",") FP++
    else if (c == "]") break
    else FP++
  }
}

function add(k, v) {
  if (k == "ssh_authorized_keys") gsub(/[\r\n]/, " ", v)
  N[k]++
  L[k, N[k]] = v
}

# A block list item (text after "- "): a scalar, a flow sequence (a command as arguments), or the header of
# a block scalar (| or >) whose lines follow.
function item(t) {
  t = trim(t)
  if (t ~ /^\[/) {
    if (!flow_closed(t)) { FLOWBUF = uncomment(t); FLOWITEM = 1; return }
    one_flow_item(uncomment(t))
    return
  }
  if (t ~ /^[|>][-+0-9]*([ \t]+#.*)?$/) {
    BLK = 1
    BLKSTYLE = substr(t, 1, 1)
    BLKTEXT = ""
    BLKIND = -1
    BLKN = 0
    return
  }
  if (t ~ /^\{/) return
  t = scalar(t)
  if (t != "") add(KEY, t)
}

function one_flow_item(s) {
  FS_ = s
  FP = 1
  fl_value()
  if (FT == "q" && KEY != "ssh_authorized_keys" && FV != "") add(KEY, FV)
}

function end_block(   v) {
  if (!BLK) return
  BLK = 0
  v = BLKTEXT
  sub(/[ \n]+$/, "", v)
  if (v != "") add(KEY, v)
}

function scalar_key(k) {
  return k == "hostname" || k == "local-hostname" || k == "password" || k == "ssh_pwauth"
}

function list_key(k) {
  return k == "ssh_authorized_keys" || k == "runcmd" || k == "bootcmd" || k == "public-keys"
}

BEGIN {
  if (out == "") out = "."
}

{ sub(/\r$/, "") }

FNR == 1 {
  end_block()
  KEY = ""
  FLOWING = 0
  FLOWITEM = 0
}

# Lines of a block scalar item: blank, or indented deeper than its dash.
BLK {
  if ($0 ~ /^[ \t]*$/) { BLKTEXT = BLKTEXT "\n"; next }
  if (indent($0) > ITEMIND) {
    if (BLKIND < 0) BLKIND = indent($0)
    line = substr($0, BLKIND + 1)
    if (BLKSTYLE == "|") BLKTEXT = BLKTEXT (BLKN++ ? "\n" : "") line
    else BLKTEXT = BLKTEXT (BLKN++ ? (BLKTEXT ~ /\n$/ ? "" : " ") : "") trim(line)
    next
  }
  end_block()
}

# Continuation lines of a flow sequence that spans lines.
FLOWING || FLOWITEM {
  FLOWBUF = FLOWBUF " " uncomment($0)
  if (flow_closed(FLOWBUF)) {
    if (FLOWING) flow_list(LISTKEY, FLOWBUF)
    else one_flow_item(FLOWBUF)
    FLOWING = 0
    FLOWITEM = 0
  }
  next
}

/^[ \t]*(#.*)?$/ { next }
/^(---|\.\.\.)([ \t]|$)/ { KEY = ""; next }

{
  ind = indent($0)
  line = substr($0, ind + 1)
}

# A top-level key (a "- " at column 0 belongs to the key above: YAML lets a list sit under its key unindented).
ind == 0 && line !~ /^-([ \t]|$)/ {
  KEY = ""
  if (!match(line, /^[^ \t:#][^:]*:([ \t]|$)/)) next
  k = substr(line, 1, RLENGTH)
  sub(/:[ \t]*$/, "", k)
  v = substr(line, RLENGTH + 1)
  if (scalar_key(k)) {
    S[k] = scalar(v)
    next
  }
  if (!list_key(k)) next
  # A key given again replaces its list (YAML: the last one wins).
  N[k] = 0
  KEY = k
  ITEMIND = -1
  v = trim(v)
  if (v ~ /^\[/) {
    v = uncomment(v)
    if (flow_closed(v)) flow_list(k, v)
    else { FLOWBUF = v; FLOWING = 1; LISTKEY = k }
    KEY = ""
  }
  next
}

KEY == "" { next }

# Items of a known list: "- " at the column of the first item; deeper lines that are no block scalar are
# skipped (nested mappings and the like).
line ~ /^-([ \t]|$)/ {
  if (ITEMIND < 0) ITEMIND = ind
  if (ind == ITEMIND) item(substr(line, 2))
  next
}

END {
  end_block()
  if (FLOWING) flow_list(LISTKEY, FLOWBUF)
  h = ("hostname" in S) && S["hostname"] != "" ? S["hostname"] : S["local-hostname"]
  if (h != "") print h > (out "/hostname")
  if ("password" in S) printf "%s", S["password"] > (out "/password")
  if ("ssh_pwauth" in S) {
    p = S["ssh_pwauth"]
    print (p ~ /^(true|True|TRUE|yes|Yes|YES|on|On|ON|y|Y)$/ ? "true" : "false") > (out "/ssh_pwauth")
  }
  f = out "/ssh_authorized_keys"
  for (i = 1; i <= N["public-keys"]; i++) print L["public-keys", i] > f
  for (i = 1; i <= N["ssh_authorized_keys"]; i++) print L["ssh_authorized_keys", i] > f
  for (i = 1; i <= N["bootcmd"]; i++) {
    f = sprintf("%s/bootcmd/%03d", out, i)
    print L["bootcmd", i] > f
    close(f)
  }
  for (i = 1; i <= N["runcmd"]; i++) {
    f = sprintf("%s/runcmd/%03d", out, i)
    print L["runcmd", i] > f
    close(f)
  }
}
