import type { Labels } from "@regauth/core";
import { commonNameOf } from "./common-name.js";
import type { SearchEntry } from "./connection.js";

/** One label mapping, defaults applied. */
export interface LabelRule {
  readonly attribute: string;
  readonly parseCN: boolean;
  readonly lowerCase: boolean;
}

/**
 * Reads the labels of a directory entry: for each rule, the values of its
 * attribute (matched without regard to case, as LDAP attribute names are),
 * reduced to their common name with `parseCN` (values without one are left
 * out), lower-cased with `lowerCase`, each value once, in the directory's
 * order. A rule whose attribute the entry lacks gives an empty list.
 */
export function labelsOf(entry: SearchEntry, rules: Readonly<Record<string, LabelRule>>): Labels {
  const byName = new Map<string, unknown>();
  for (const [key, value] of Object.entries(entry)) {
    if (key !== "dn") byName.set(key.toLowerCase(), value);
  }
  const labels: Record<string, string[]> = {};
  for (const [label, rule] of Object.entries(rules)) {
    const values = new Set<string>();
    for (const raw of valuesOf(byName.get(rule.attribute.toLowerCase()))) {
      let value: string | undefined = raw;
      if (rule.parseCN) value = commonNameOf(value);
      if (value === undefined) continue;
      values.add(rule.lowerCase ? value.toLowerCase() : value);
    }
    labels[label] = [...values];
  }
  return labels;
}

/** An ldapts attribute value (one or many, text or bytes) as a list of strings. */
function valuesOf(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.map((item) => (Buffer.isBuffer(item) ? item.toString("utf8") : String(item)));
}
