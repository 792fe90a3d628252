import type { BlockList } from "node:net";
import type { AclEntry } from "../acl-schema.js";
import { parseIpRule } from "./ip.js";
import { compilePattern, type Pattern, REQUEST_FIELDS, type RequestField } from "./pattern.js";

/**
 * One condition of an entry on a string: a request field (`target`) or the
 * values of a label (`labelKey`, some value must match).
 */
export interface FieldStep {
  readonly kind: "field";
  /** Where it sits under `match`, for messages and `explain`: `name`, `labels.groups`. */
  readonly path: string;
  readonly target: RequestField | undefined;
  readonly labelKey: string | undefined;
  readonly pattern: Pattern;
  /** True when another field uses this field's capture groups: run with `exec`, keep the groups. */
  readonly captures: boolean;
  /** Scratch: the value lists of `pattern.labelKeys` during one evaluation. */
  readonly lists: (readonly string[])[];
  /** Scratch: which value of each list is being tried. */
  readonly choice: number[];
}

/** The `ip` condition of an entry. */
export interface IpStep {
  readonly kind: "ip";
  readonly path: "ip";
  readonly rule: BlockList;
}

export type Step = FieldStep | IpStep;

/**
 * An ACL entry compiled once: its conditions in evaluation order (cheap ones
 * first, capture sources before the fields that use their groups), its
 * actions, and the literal `account` / `name` values the index keys on.
 */
export interface CompiledEntry {
  readonly steps: readonly Step[];
  readonly actions: readonly string[];
  readonly comment: string | undefined;
  /** The `account` value when it is a literal (no wildcard, no placeholder). */
  readonly accountLiteral: string | undefined;
  /** The `name` value when it is a literal (no wildcard, no placeholder). */
  readonly nameLiteral: string | undefined;
}

/** A config mistake in one entry, `path` relative to the entry. */
export interface EntryProblem {
  readonly path: readonly string[];
  readonly message: string;
}

function cost(step: Step): number {
  if (step.kind === "ip") return 2;
  const { pattern } = step;
  let value = pattern.kind === "literal" ? 0 : pattern.kind === "glob" ? 1 : pattern.regex ? 3 : 6;
  if (step.labelKey !== undefined) value += 1;
  if (pattern.labelKeys.length > 0) value += 10;
  return value;
}

function usesCaptures(step: Step): boolean {
  return (
    step.kind === "field" && step.pattern.placeholders.some((holder) => holder.kind === "capture")
  );
}

function fieldStep(
  path: string,
  target: RequestField | undefined,
  labelKey: string | undefined,
  pattern: Pattern,
): FieldStep {
  return {
    kind: "field",
    path,
    target,
    labelKey,
    pattern,
    captures: false,
    lists: pattern.labelKeys.map(() => []),
    choice: pattern.labelKeys.map(() => 0),
  };
}

/**
 * Compiles one validated-shape entry. Returns the problems (paths relative to
 * the entry, such as `["match", "name"]`) when a pattern, placeholder or `ip`
 * value is wrong; the schema reports them as config errors.
 */
export function compileEntry(entry: AclEntry): CompiledEntry | EntryProblem[] {
  const problems: EntryProblem[] = [];
  const match = entry.match ?? {};
  const steps: FieldStep[] = [];
  const byField = new Map<RequestField, FieldStep>();

  for (const field of REQUEST_FIELDS) {
    const text = match[field];
    if (text === undefined) continue;
    const pattern = compilePattern(text);
    if (typeof pattern === "string") {
      problems.push({ path: ["match", field], message: pattern });
      continue;
    }
    const step = fieldStep(field, field, undefined, pattern);
    steps.push(step);
    byField.set(field, step);
  }
  for (const [key, text] of Object.entries(match.labels ?? {})) {
    const pattern = compilePattern(text);
    if (typeof pattern === "string") {
      problems.push({ path: ["match", "labels", key], message: pattern });
      continue;
    }
    steps.push(fieldStep(`labels.${key}`, undefined, key, pattern));
  }
  let ipStep: IpStep | undefined;
  if (match.ip !== undefined) {
    const rule = parseIpRule(match.ip);
    if (rule === undefined) {
      problems.push({
        path: ["match", "ip"],
        message: "expected an ip address or a cidr block such as 10.0.0.0/8 or 2001:db8::/32",
      });
    } else {
      ipStep = { kind: "ip", path: "ip", rule };
    }
  }

  // Capture placeholders: the source must be another field of this entry, a
  // regular expression with that many groups, and must not itself depend on
  // labels or captures (so captures are computed once, before their users).
  const sources = new Set<FieldStep>();
  for (const step of steps) {
    for (const holder of step.pattern.placeholders) {
      if (holder.kind !== "capture") continue;
      const where = step.path.startsWith("labels.")
        ? ["match", "labels", step.path.slice("labels.".length)]
        : ["match", step.path];
      const source = byField.get(holder.field);
      let message: string | undefined;
      if (source === step) {
        message = `\${${holder.text}} refers to this field's own capture groups`;
      } else if (source === undefined) {
        message = `\${${holder.text}} needs match.${holder.field}, which is not set`;
      } else if (source.pattern.kind !== "regex") {
        message = `\${${holder.text}} needs match.${holder.field} to be a regular expression (/.../)`;
      } else if (holder.group > source.pattern.groupCount) {
        message = `\${${holder.text}} refers to group ${holder.group} but match.${holder.field} has ${source.pattern.groupCount}`;
      } else {
        sources.add(source);
      }
      if (message !== undefined) problems.push({ path: where, message });
    }
  }
  for (const source of steps) {
    if (!sources.has(source)) continue;
    if (source.pattern.placeholders.some((holder) => holder.kind !== "request")) {
      problems.push({
        path: ["match", source.path],
        message:
          "a field whose capture groups are used elsewhere can only use ${account}, ${type}, ${name} and ${service} placeholders",
      });
    }
  }
  if (problems.length > 0) return problems;

  const ordered: Step[] = steps.map((step) =>
    sources.has(step) ? { ...step, captures: true } : step,
  );
  if (ipStep) ordered.push(ipStep);
  const phase = (step: Step) =>
    step.kind === "field" && step.captures ? 1 : usesCaptures(step) ? 2 : 0;
  ordered.sort((a, b) => phase(a) - phase(b) || cost(a) - cost(b));

  const literal = (field: RequestField) => {
    const pattern = byField.get(field)?.pattern;
    return pattern?.kind === "literal" ? pattern.text : undefined;
  };
  return {
    steps: ordered,
    actions: Object.freeze([...entry.actions]),
    comment: entry.comment,
    accountLiteral: literal("account"),
    nameLiteral: literal("name"),
  };
}

const compiled = new WeakMap<object, CompiledEntry>();

/**
 * Compiles an entry as {@link compileEntry} does, remembering the result for
 * that entry object. The schema compiles every entry to validate it; the
 * authorizer then reuses the result for the objects the schema returned
 * instead of compiling (RE2 programs included) a second time.
 */
export function compileEntryOnce(entry: AclEntry): CompiledEntry | EntryProblem[] {
  const known = compiled.get(entry);
  if (known !== undefined) return known;
  const result = compileEntry(entry);
  if (!Array.isArray(result)) compiled.set(entry, result);
  return result;
}
