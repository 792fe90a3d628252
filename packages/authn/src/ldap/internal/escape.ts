/**
 * Escaping of a value placed into an LDAP filter or a DN, and the `${account}`
 * templates of the LDAP authenticator.
 */

/** The placeholder the templates take. */
export const ACCOUNT_PLACEHOLDER = "${account}";

/**
 * Escapes `value` for an assertion value of an LDAP search filter (RFC 4515
 * §3): `*`, `(`, `)`, `\` and NUL become `\2a`, `\28`, `\29`, `\5c` and `\00`,
 * so the value can only ever match itself, never widen the filter (`*`) or
 * close it and add a clause (`)(uid=*`). Other characters, non-ASCII ones
 * included, are kept: RFC 4515 allows UTF-8 in a value.
 */
export function escapeFilterValue(value: string): string {
  let text = "";
  for (const char of value) text += FILTER_ESCAPES[char] ?? char;
  return text;
}

const FILTER_ESCAPES: Readonly<Record<string, string>> = {
  "*": "\\2a",
  "(": "\\28",
  ")": "\\29",
  "\\": "\\5c",
  "\u0000": "\\00",
};

/**
 * Escapes `value` for an attribute value inside a DN string (RFC 4514 §2.4):
 * `"`, `+`, `,`, `;`, `<`, `>`, `\` and `=` get a backslash, NUL becomes
 * `\00`, and so do a leading space or `#` and a trailing space. The value can
 * then not end its RDN and start another (`alice,ou=admins`).
 */
export function escapeDnValue(value: string): string {
  const chars = [...value];
  return chars
    .map((char, index) => {
      if (char === "\u0000") return "\\00";
      if (DN_SPECIALS.has(char)) return `\\${char}`;
      if (index === 0 && (char === " " || char === "#")) return `\\${char}`;
      if (index === chars.length - 1 && char === " ") return "\\ ";
      return char;
    })
    .join("");
}

const DN_SPECIALS = new Set(['"', "+", ",", ";", "<", ">", "\\", "="]);

/**
 * Replaces every `${account}` in `template` with `value` (already escaped),
 * literally: a `$&` or `$1` in the value is not a replacement pattern.
 */
export function fillTemplate(template: string, value: string): string {
  return template.split(ACCOUNT_PLACEHOLDER).join(value);
}

/** The `${...}` placeholders of `template` other than `${account}`. */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(/\$\{[^}]*\}/g)]
    .map((match) => match[0])
    .filter((placeholder) => placeholder !== ACCOUNT_PLACEHOLDER);
}
