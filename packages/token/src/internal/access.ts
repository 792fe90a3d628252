import type { AccessEntry } from "@regauth/core";

/**
 * Checks granted access the way the registry does (protocol.md §3): entries
 * match on exact, case-sensitive `type` and `name` (`class` is not compared),
 * entries for the same resource are merged, and `*` grants every action on
 * that resource.
 *
 * @returns `undefined` when every required action is granted, else a
 *   lower-case message naming the first resource and the missing actions.
 */
export function findMissingAccess(
  granted: readonly AccessEntry[],
  required: readonly AccessEntry[],
): string | undefined {
  for (const need of required) {
    const actions = new Set<string>();
    for (const entry of granted) {
      if (entry.type === need.type && entry.name === need.name) {
        for (const action of entry.actions) actions.add(action);
      }
    }
    if (actions.has("*")) continue;
    const missing = need.actions.filter((action) => !actions.has(action));
    if (missing.length > 0) {
      return `insufficient access to ${need.type}:${need.name}, missing ${missing.join(",")}`;
    }
  }
  return undefined;
}
