import type { RE2JS } from "re2js";
import { compileRegex } from "./pattern.js";

/**
 * Compiled regular expressions for patterns whose source depends on the
 * request (placeholders), keyed by the final source. Least recently used
 * sources are dropped beyond `limit`, so memory stays bounded whatever
 * accounts and names clients send.
 */
export class RegexCache {
  readonly #limit: number;
  readonly #entries = new Map<string, RE2JS>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** The compiled expression for `source`, or the error description when it does not compile. */
  get(source: string): RE2JS | string {
    const known = this.#entries.get(source);
    if (known !== undefined) {
      this.#entries.delete(source);
      this.#entries.set(source, known);
      return known;
    }
    const compiled = compileRegex(source);
    if (typeof compiled === "string") return compiled;
    if (this.#entries.size >= this.#limit) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(source, compiled);
    return compiled;
  }
}
