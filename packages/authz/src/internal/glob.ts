import { ONE, type Part, STAR } from "./pattern.js";

const SLASH = 0x2f;

/** Code units taken by the character at `index`: 2 for a surrogate pair, else 1. */
function width(text: string, index: number): number {
  const code = text.charCodeAt(index);
  if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
    const next = text.charCodeAt(index + 1);
    if (next >= 0xdc00 && next <= 0xdfff) return 2;
  }
  return 1;
}

/**
 * Matches a whole `input` against compiled glob `parts`: literal strings,
 * placeholder indexes into `values` (matched literally, so a `*` in a value is
 * a star character), {@link STAR} for any run of characters other than `/`
 * and {@link ONE} for one character (code point) other than `/`.
 *
 * Greedy matching that backtracks only to the most recent star: O(pattern ×
 * input) at worst, never exponential. Backtracking to the last star alone is
 * complete because wildcards never match `/`: every `/` of the input must
 * meet a literal `/` of the pattern, in order, so the slashes fix how the
 * pattern aligns and earlier stars never need to give characters back.
 */
export function matchGlob(
  parts: readonly Part[],
  values: readonly string[],
  input: string,
): boolean {
  const count = parts.length;
  const length = input.length;
  let part = 0; // current part
  let offset = 0; // position inside the current literal part
  let at = 0; // position in the input
  let starPart = -1; // the most recent star, -1 when none yet
  let starAt = 0; // where the input resumes after that star

  for (;;) {
    // Step over literal parts that are used up (or empty values).
    let current: Part | undefined;
    let text = "";
    while (part < count) {
      current = parts[part] as Part;
      if (typeof current === "string") text = current;
      else if (current >= 0) text = values[current] ?? "";
      else break;
      if (offset < text.length) break;
      part++;
      offset = 0;
    }
    if (at >= length) break;

    if (part < count) {
      current = parts[part] as Part;
      if (current === STAR) {
        starPart = part;
        starAt = at;
        part++;
        offset = 0;
        continue;
      }
      const code = input.charCodeAt(at);
      if (current === ONE) {
        if (code !== SLASH) {
          at += width(input, at);
          part++;
          offset = 0;
          continue;
        }
      } else if (text.charCodeAt(offset) === code) {
        offset++;
        at++;
        continue;
      }
    }

    // Mismatch: let the last star take one more character, unless that is a `/`.
    if (starPart >= 0 && input.charCodeAt(starAt) !== SLASH) {
      starAt += width(input, starAt);
      at = starAt;
      part = starPart + 1;
      offset = 0;
      continue;
    }
    return false;
  }

  // The input is used up: what is left of the pattern must match nothing.
  while (part < count) {
    const current = parts[part] as Part;
    if (current === STAR) {
      part++;
      continue;
    }
    if (current === ONE) return false;
    const text = typeof current === "string" ? current : (values[current] ?? "");
    if (offset < text.length) return false;
    part++;
    offset = 0;
  }
  return true;
}
