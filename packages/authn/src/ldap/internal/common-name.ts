/**
 * Reads the common name out of a DN, as a `memberOf` value carries it:
 * `cn=QA Team,ou=groups,dc=example,dc=org` gives `QA Team`.
 *
 * Only the first RDN is looked at; in a multi-valued one
 * (`cn=qa+ou=eu,...`) its `cn` (or `2.5.4.3`) part is taken. Escapes are
 * undone as RFC 4514 §3 writes them: `\,` and the other specials, and `\XX`
 * hex pairs (UTF-8 bytes, so `\c3\a9` is `é`). Returns `undefined` when the
 * first RDN has no common name, when its value is in the `#hex` (BER) form,
 * or when the DN is malformed.
 */
export function commonNameOf(dn: string): string | undefined {
  let index = 0;
  while (index < dn.length) {
    const equals = dn.indexOf("=", index);
    if (equals < 0) return undefined;
    const type = dn.slice(index, equals).trim().toLowerCase();
    const value = readValue(dn, equals + 1);
    if (value === undefined) return undefined;
    if (
      (type === "cn" || type === "2.5.4.3" || type === "oid.2.5.4.3") &&
      value.text !== undefined
    ) {
      return value.text;
    }
    // `+` joins another part of the same RDN; `,` or `;` ends the first RDN.
    if (dn[value.end] !== "+") return undefined;
    index = value.end + 1;
  }
  return undefined;
}

/**
 * Reads one attribute value starting at `start`, up to an unescaped `,`, `;`,
 * `+` or the end. `text` is `undefined` for a `#hex` value (not decoded).
 */
function readValue(
  dn: string,
  start: number,
): { readonly text: string | undefined; readonly end: number } | undefined {
  let index = start;
  while (dn[index] === " ") index++;
  if (dn[index] === "#") {
    while (index < dn.length && !",;+".includes(dn[index] as string)) index++;
    return { text: undefined, end: index };
  }
  const bytes: number[] = [];
  let trailingSpaces = 0; // unescaped spaces at the end are not part of the value
  while (index < dn.length) {
    const char = dn[index] as string;
    if (",;+".includes(char)) break;
    if (char === "\\") {
      const hex = dn.slice(index + 1, index + 3);
      if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
        bytes.push(Number.parseInt(hex, 16));
        index += 3;
      } else if (index + 1 < dn.length) {
        bytes.push(...Buffer.from(dn[index + 1] as string, "utf8"));
        index += 2;
      } else {
        return undefined; // a lone backslash at the end
      }
      trailingSpaces = 0;
      continue;
    }
    const codePoint = dn.codePointAt(index) as number;
    const unit = String.fromCodePoint(codePoint);
    bytes.push(...Buffer.from(unit, "utf8"));
    trailingSpaces = char === " " ? trailingSpaces + 1 : 0;
    index += unit.length;
  }
  const text = Buffer.from(bytes.slice(0, bytes.length - trailingSpaces)).toString("utf8");
  return { text, end: index };
}
