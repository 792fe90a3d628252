import { RE2JS } from "re2js";

/** The request fields a pattern can match and a placeholder can name. */
export const REQUEST_FIELDS = ["account", "type", "name", "service"] as const;

/** One of {@link REQUEST_FIELDS}. */
export type RequestField = (typeof REQUEST_FIELDS)[number];

/**
 * A `${...}` in a pattern, as written (`text`, without `${` and `}`) and as understood:
 * - `request`: `${account}`, `${type}`, `${name}`, `${service}`, the request's value;
 * - `label`: `${labels:KEY}`, each value of label `KEY` in turn;
 * - `capture`: `${FIELD:N}`, group `N` of the regular expression of `FIELD` in the same entry.
 */
export type Placeholder =
  | { readonly kind: "request"; readonly text: string; readonly field: RequestField }
  | { readonly kind: "label"; readonly text: string; readonly key: string }
  | {
      readonly kind: "capture";
      readonly text: string;
      readonly field: RequestField;
      readonly group: number;
    };

/** Glob part: `*`, any run of characters other than `/`. */
export const STAR = -1;
/** Glob part: `?`, one character other than `/`. */
export const ONE = -2;

/**
 * A part of a compiled glob or regular expression: literal text (a string), a
 * placeholder (its index in {@link PatternInfo.placeholders}, >= 0), or, in
 * globs only, {@link STAR} or {@link ONE}.
 */
export type Part = string | number;

/** What every compiled pattern carries besides its matcher. */
export interface PatternInfo {
  /** The distinct placeholders the pattern uses, in order of first use. */
  readonly placeholders: readonly Placeholder[];
  /**
   * Scratch space for the placeholders' values of the current evaluation,
   * parallel to `placeholders`. Matching is synchronous, so one array per
   * pattern serves every request without allocation.
   */
  readonly values: string[];
  /** The distinct label keys named by `${labels:KEY}` placeholders. */
  readonly labelKeys: readonly string[];
  /** For each placeholder, the index of its key in `labelKeys`, or -1 when it is no label. */
  readonly labelSlots: readonly number[];
}

/**
 * A pattern compiled once, at construction:
 * - `literal`: a glob without wildcards or placeholders, compared with `===`;
 * - `glob`: `*` and `?` that stop at `/`, every other character literal;
 * - `regex`: RE2 syntax, unanchored; `regex` is set when the source has no
 *   placeholders, else `parts` is assembled and compiled per request (cached).
 */
export type Pattern =
  | (PatternInfo & { readonly kind: "literal"; readonly text: string })
  | (PatternInfo & { readonly kind: "glob"; readonly parts: readonly Part[] })
  | (PatternInfo & {
      readonly kind: "regex";
      readonly regex: RE2JS | undefined;
      readonly parts: readonly Part[];
      readonly groupCount: number;
    });

const PLACEHOLDER_HELP =
  "expected ${account}, ${type}, ${name}, ${service}, ${labels:KEY} or ${FIELD:N}";

/** True when a value is written as a regular expression: `/.../` with something between. */
export function isRegexSource(text: string): boolean {
  return text.length > 2 && text.startsWith("/") && text.endsWith("/");
}

function parsePlaceholder(inner: string): Placeholder | undefined {
  if ((REQUEST_FIELDS as readonly string[]).includes(inner)) {
    return { kind: "request", text: inner, field: inner as RequestField };
  }
  if (inner.startsWith("labels:") && inner.length > "labels:".length) {
    return { kind: "label", text: inner, key: inner.slice("labels:".length) };
  }
  const capture = /^(account|type|name|service):(\d{1,4})$/.exec(inner);
  if (capture) {
    return {
      kind: "capture",
      text: inner,
      field: capture[1] as RequestField,
      group: Number(capture[2]),
    };
  }
  return undefined;
}

interface Template {
  /** Literal text and placeholder indexes, in order. */
  readonly pieces: readonly Part[];
  readonly placeholders: readonly Placeholder[];
}

/** Splits `${...}` placeholders out of a pattern body; returns an error message when one is bad. */
function parseTemplate(body: string): Template | string {
  const pieces: Part[] = [];
  const placeholders: Placeholder[] = [];
  let position = 0;
  for (;;) {
    const start = body.indexOf("${", position);
    if (start < 0) break;
    const end = body.indexOf("}", start + 2);
    if (end < 0) return `unclosed placeholder: "\${" without "}", ${PLACEHOLDER_HELP}`;
    const inner = body.slice(start + 2, end);
    const placeholder = parsePlaceholder(inner);
    if (placeholder === undefined) return `unknown placeholder \${${inner}}, ${PLACEHOLDER_HELP}`;
    if (start > position) pieces.push(body.slice(position, start));
    let slot = placeholders.findIndex((known) => known.text === placeholder.text);
    if (slot < 0) slot = placeholders.push(placeholder) - 1;
    pieces.push(slot);
    position = end + 1;
  }
  if (position < body.length) pieces.push(body.slice(position));
  return { pieces, placeholders };
}

const NO_PLACEHOLDERS: PatternInfo = {
  placeholders: [],
  values: [],
  labelKeys: [],
  labelSlots: [],
};

function info(placeholders: readonly Placeholder[]): PatternInfo {
  if (placeholders.length === 0) return NO_PLACEHOLDERS;
  const labelKeys: string[] = [];
  for (const placeholder of placeholders) {
    if (placeholder.kind === "label" && !labelKeys.includes(placeholder.key)) {
      labelKeys.push(placeholder.key);
    }
  }
  const labelSlots = placeholders.map((placeholder) =>
    placeholder.kind === "label" ? labelKeys.indexOf(placeholder.key) : -1,
  );
  return { placeholders, values: placeholders.map(() => ""), labelKeys, labelSlots };
}

/**
 * Escapes a value so that RE2 reads it literally: every ASCII punctuation
 * character gets a backslash (RE2 reads `\` + punctuation as that character,
 * inside and outside brackets). Letters, digits, spaces and non-ASCII
 * characters are literal already.
 */
export function escapeRegex(value: string): string {
  return value.replace(/[!-/:-@[-`{-~]/g, "\\$&");
}

/** Compiles RE2 source; returns the error description (never the pattern) when it is invalid. */
export function compileRegex(source: string): RE2JS | string {
  try {
    return RE2JS.compile(source);
  } catch (error) {
    const description =
      typeof (error as { getDescription?: unknown }).getDescription === "function"
        ? (error as { getDescription(): string }).getDescription()
        : "not RE2 syntax";
    return `invalid regular expression: ${description}`;
  }
}

function compileGlob(template: Template): Pattern {
  const parts: Part[] = [];
  for (const piece of template.pieces) {
    if (typeof piece === "number") {
      parts.push(piece);
      continue;
    }
    let start = 0;
    for (let index = 0; index < piece.length; index++) {
      const char = piece[index];
      if (char !== "*" && char !== "?") continue;
      if (index > start) parts.push(piece.slice(start, index));
      start = index + 1;
      if (char === "?") parts.push(ONE);
      else if (parts[parts.length - 1] !== STAR) parts.push(STAR);
    }
    if (start < piece.length) parts.push(piece.slice(start));
  }
  const base = info(template.placeholders);
  if (parts.length === 0) return { ...base, kind: "literal", text: "" };
  if (parts.length === 1 && typeof parts[0] === "string") {
    return { ...base, kind: "literal", text: parts[0] };
  }
  return { ...base, kind: "glob", parts };
}

/**
 * Compiles one pattern as written in a match field (protocol.md §4): `/.../`
 * is an RE2 regular expression (unanchored), anything else a glob. Returns an
 * error message (no path) when the pattern is invalid.
 *
 * A regular expression with placeholders is validated with every placeholder
 * standing for the letter `x`; its group count comes from that compilation
 * (inserted values are escaped, so they add no groups).
 */
export function compilePattern(text: string): Pattern | string {
  const regex = isRegexSource(text);
  const template = parseTemplate(regex ? text.slice(1, -1) : text);
  if (typeof template === "string") return template;
  if (!regex) return compileGlob(template);
  const probe = template.pieces.map((piece) => (typeof piece === "number" ? "x" : piece)).join("");
  const compiled = compileRegex(probe);
  if (typeof compiled === "string") return compiled;
  return {
    ...info(template.placeholders),
    kind: "regex",
    regex: template.placeholders.length === 0 ? compiled : undefined,
    parts: template.pieces,
    groupCount: compiled.groupCount(),
  };
}
