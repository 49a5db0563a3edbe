import { Type } from 'typebox';

// Names become URL segments, libvirt domain names and OVS port names: a closed alphabet, no shell or XML
// meaning, and never "." or ".." (path segments).
export const NAME_PATTERN = '^(?!\\.{1,2}$)[A-Za-z0-9_.-]{1,64}$';
const NAME_RE = new RegExp(NAME_PATTERN);

export const Name = (description = 'a name: 1-64 of A-Z a-z 0-9 _ . -') =>
  Type.String({ pattern: NAME_PATTERN, minLength: 1, maxLength: 64, description });

export function isName(s: unknown): s is string {
  return typeof s === 'string' && NAME_RE.test(s);
}
