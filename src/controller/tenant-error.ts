// What a tenant reads of a task's error (issue 14.11): workers' errors may quote host paths (disk images,
// sockets, pools), libvirt URIs, user@host and addresses of the operators' hosts. Those are the operators'
// business: a tenant sees placeholders and the request id; the raw error stays in the task row (admins and
// services read it) and in the logs, under the same request id.

const RULES: [RegExp, string][] = [
  // URIs first (qemu+ssh://root@10.0.0.1/system): their paths and addresses go as one.
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s'",;)]+/gi, '<uri>'],
  // user@host (ssh's "root@lab-h1", "Permission denied (publickey) for kloudak@10.1.1.1").
  [/\b[\w.-]+@[\w.-]+/g, '<host>'],
  // IPv4, with a prefix length or a port.
  [/\b\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?(?::\d{1,5})?\b/g, '<address>'],
  // Absolute paths: a slash not inside a word, then path characters.
  [/(^|[\s'"(=:,[])\/(?:[\w.@%+~-]+\/?)+/g, '$1<path>'],
];

/** The error as a tenant may read it; unchanged when nothing in it is the operators'. */
export function tenantError(raw: string | null, requestId?: string | null): string | null {
  if (raw === null) return null;
  let out = raw;
  for (const [re, by] of RULES) out = out.replace(re, by);
  if (out === raw) return raw;
  return `${out} (details in the operators' logs${requestId ? `, request ${requestId}` : ''})`;
}
