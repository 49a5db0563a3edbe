# The test guest's reader of NoCloud network-config (version 2, the subset README.md documents), in busybox
# awk. Usage: awk -f yaml.awk -f network-config.awk network-config
# Prints one record per ethernets entry: id|mac|set-name|addr,addr|gateway.
function flush() {
  if (id != "") print id "|" mac "|" name "|" addrs "|" gw
  id = ""
}

/^[ \t]*(#.*)?$/ { next }
{ ind = indent($0); line = substr($0, ind + 1) }
ind == 0 { flush(); section = line; sub(/:.*/, "", section); inaddr = 0; next }
section != "ethernets" { next }
ind == 2 && line ~ /:$/ { flush(); id = substr(line, 1, length(line) - 1); mac = ""; name = ""; addrs = ""; gw = ""; inaddr = 0; next }
inaddr && line ~ /^- / && ind >= addrind { a = scalar(substr(line, 3)); addrs = addrs (addrs == "" ? "" : ",") a; next }
{ inaddr = 0 }
line ~ /^macaddress:/ { mac = tolower(scalar(substr(line, 12))); next }
line ~ /^set-name:/ { name = scalar(substr(line, 10)); next }
line ~ /^addresses:/ {
  v = scalar(substr(line, 11))
  if (v ~ /^\[/) { gsub(/[][" \047]/, "", v); addrs = v } else { inaddr = 1; addrind = ind }
  next
}
line ~ /^gateway4:/ { gw = scalar(substr(line, 10)); next }
line ~ /^(- )?to:/ { v = line; sub(/^(- )?to:/, "", v); v = scalar(v); isdef = (v == "default" || v == "0.0.0.0/0"); next }
line ~ /^(- )?via:/ { v = line; sub(/^(- )?via:/, "", v); if (isdef && gw == "") gw = scalar(v); next }
END { flush() }
