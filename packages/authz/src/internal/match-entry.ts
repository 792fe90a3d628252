import type { AuthzRequest } from "@regauth/core";
import type { RE2JS } from "re2js";
import type { CompiledEntry, FieldStep } from "./compile-entry.js";
import { matchGlob } from "./glob.js";
import { type ClientAddress, toClientAddress } from "./ip.js";
import { escapeRegex, type Pattern, type RequestField } from "./pattern.js";
import type { RegexCache } from "./regex-cache.js";

/** A label or capture value an entry matched with, for `explain`. */
export interface PlaceholderValue {
  readonly field: string;
  readonly placeholder: string;
  readonly value: string;
}

/** Thrown when a pattern with placeholders does not compile once the request's values are in. */
export class RuntimePatternError extends Error {
  readonly path: string;
  constructor(path: string, description: string) {
    super(description);
    this.path = path;
  }
}

/** The state of one request's evaluation, created once per request. */
export class MatchContext {
  readonly request: AuthzRequest;
  readonly cache: RegexCache;
  /** When set, the label and capture values of the matching entry are recorded here. */
  readonly trace: PlaceholderValue[] | undefined;
  /** Capture groups of the current entry's source fields. */
  readonly captures: Record<RequestField, readonly (string | undefined)[] | undefined> = {
    account: undefined,
    type: undefined,
    name: undefined,
    service: undefined,
  };
  #client: ClientAddress | undefined | null = null;

  constructor(request: AuthzRequest, cache: RegexCache, trace: PlaceholderValue[] | undefined) {
    this.request = request;
    this.cache = cache;
    this.trace = trace;
  }

  /** The request's client address, parsed on first use. */
  get client(): ClientAddress | undefined {
    if (this.#client === null) this.#client = toClientAddress(this.request.clientIp);
    return this.#client;
  }

  field(field: RequestField): string {
    switch (field) {
      case "account":
        return this.request.account;
      case "service":
        return this.request.service;
      case "type":
        return this.request.scope.type;
      case "name":
        return this.request.scope.name;
    }
  }

  /** The values of label `key`; `undefined` when the request has no such label. */
  label(key: string): readonly string[] | undefined {
    const { labels } = this.request;
    if (!Object.hasOwn(labels, key)) return undefined;
    const values = labels[key];
    return Array.isArray(values) ? values : undefined;
  }
}

/** Fills `pattern.values` for the current label choice of `step`. */
function resolve(step: FieldStep, context: MatchContext): void {
  const { pattern } = step;
  const { placeholders, values } = pattern;
  for (let slot = 0; slot < placeholders.length; slot++) {
    const holder = placeholders[slot];
    if (holder === undefined) continue;
    if (holder.kind === "request") {
      values[slot] = context.field(holder.field);
    } else if (holder.kind === "capture") {
      values[slot] = context.captures[holder.field]?.[holder.group] ?? "";
    } else {
      const key = pattern.labelSlots[slot] ?? 0;
      values[slot] = step.lists[key]?.[step.choice[key] ?? 0] ?? "";
    }
  }
}

function regexOf(
  step: FieldStep,
  pattern: Pattern & { kind: "regex" },
  context: MatchContext,
): RE2JS {
  if (pattern.regex !== undefined) return pattern.regex;
  let source = "";
  for (const part of pattern.parts) {
    source += typeof part === "string" ? part : escapeRegex(pattern.values[part] ?? "");
  }
  const compiled = context.cache.get(source);
  if (typeof compiled === "string") throw new RuntimePatternError(step.path, compiled);
  return compiled;
}

function test(step: FieldStep, input: string, context: MatchContext): boolean {
  const { pattern } = step;
  switch (pattern.kind) {
    case "literal":
      return input === pattern.text;
    case "glob":
      return matchGlob(pattern.parts, pattern.values, input);
    case "regex":
      return regexOf(step, pattern, context).test(input);
  }
}

/** Tests the current placeholder values against the field's input(s). */
function testInputs(step: FieldStep, context: MatchContext): boolean {
  if (step.target !== undefined) return test(step, context.field(step.target), context);
  const inputs = context.label(step.labelKey ?? "") ?? [];
  for (const input of inputs) {
    if (test(step, input, context)) return true;
  }
  return false;
}

function record(step: FieldStep, context: MatchContext): void {
  const { trace } = context;
  if (trace === undefined) return;
  const { placeholders, values } = step.pattern;
  for (let slot = 0; slot < placeholders.length; slot++) {
    const holder = placeholders[slot];
    if (holder === undefined || holder.kind === "request") continue;
    trace.push({ field: step.path, placeholder: `\${${holder.text}}`, value: values[slot] ?? "" });
  }
}

/**
 * One field: true when some choice of values for its `${labels:KEY}`
 * placeholders (each key one value at a time, every combination) makes the
 * pattern match (for a `labels` condition: match some value of the label). A
 * key the request lacks, or whose list is empty, fails the field.
 */
function matchField(step: FieldStep, context: MatchContext): boolean {
  const { pattern, lists, choice } = step;
  if (step.captures) {
    resolve(step, context);
    const input = context.field(step.target ?? "account");
    const groups = regexOf(step, pattern as Pattern & { kind: "regex" }, context).exec(input);
    if (groups === null) return false;
    context.captures[step.target ?? "account"] = groups as (string | undefined)[];
    return true;
  }
  const keys = pattern.labelKeys;
  for (let index = 0; index < keys.length; index++) {
    const values = context.label(keys[index] ?? "");
    if (values === undefined || values.length === 0) return false;
    lists[index] = values;
    choice[index] = 0;
  }
  for (;;) {
    resolve(step, context);
    if (testInputs(step, context)) {
      record(step, context);
      return true;
    }
    // Next combination, the last key turning fastest.
    let index = keys.length - 1;
    while (index >= 0) {
      const next = (choice[index] ?? 0) + 1;
      if (next < (lists[index]?.length ?? 0)) {
        choice[index] = next;
        break;
      }
      choice[index] = 0;
      index--;
    }
    if (index < 0) return false;
  }
}

/**
 * True when every condition of `entry` holds for the context's request.
 * Absent conditions hold; a `match: {}` entry matches everything.
 *
 * @throws RuntimePatternError when a regular expression with placeholders
 *   does not compile with this request's values.
 */
export function matchEntry(entry: CompiledEntry, context: MatchContext): boolean {
  if (context.trace !== undefined) context.trace.length = 0;
  for (const step of entry.steps) {
    if (step.kind === "ip") {
      const client = context.client;
      if (client === undefined || !step.rule.check(client.address, client.family)) return false;
    } else if (!matchField(step, context)) {
      return false;
    }
  }
  return true;
}
