/**
 * The actions a token gets for one scope: the requested actions that the
 * authorizer allowed (protocol.md §4). An allowed `*` grants every requested
 * action; a requested `*` (as in `registry:catalog:*`) is granted only by an
 * allowed `*`. Order follows the request.
 *
 * @example
 * intersectActions(["pull", "push"], ["pull"]) // ["pull"]
 * intersectActions(["pull", "push"], ["*"])    // ["pull", "push"]
 */
export function intersectActions(
  requested: readonly string[],
  allowed: readonly string[],
): string[] {
  if (allowed.includes("*")) return [...requested];
  return requested.filter((action) => allowed.includes(action));
}
