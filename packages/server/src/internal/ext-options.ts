import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import { type Logger, silentLogger } from "@regauth/core";
import { z } from "zod";

/** Default of `timeoutMs`: 5 seconds. */
export const DEFAULT_EXT_TIMEOUT_MS = 5_000;
/** Default of `maxConcurrent`: 8 programs at once. */
export const DEFAULT_EXT_MAX_CONCURRENT = 8;
/** Default of `maxOutputBytes`: 64 KiB. */
export const DEFAULT_EXT_MAX_OUTPUT_BYTES = 65_536;

const hasLoggerMethods = (value: unknown) =>
  typeof value === "object" &&
  value !== null &&
  ["debug", "info", "warn", "error"].every(
    (method) => typeof (value as Record<string, unknown>)[method] === "function",
  );

/** The options both external-program backends take; see their TSDoc. */
export const extOptionsSchema = z.strictObject({
  command: z.string().min(1, { error: "expected a program path or name" }),
  args: z.array(z.string()).default([]),
  timeoutMs: z.number().int().min(1).max(600_000).default(DEFAULT_EXT_TIMEOUT_MS),
  maxConcurrent: z.number().int().min(1).max(1024).default(DEFAULT_EXT_MAX_CONCURRENT),
  maxOutputBytes: z.number().int().min(1024).max(16_777_216).default(DEFAULT_EXT_MAX_OUTPUT_BYTES),
  env: z.record(z.string(), z.string()).optional(),
  name: z.string().min(1).optional(),
  logger: z
    .custom<Logger>(hasLoggerMethods, "expected a logger with debug, info, warn and error")
    .default(silentLogger),
});

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Finds `command` as `spawn` will: a name without `/` is looked up on PATH,
 * anything else is a path. Returns the problem, or `undefined` when it is an
 * executable file.
 */
export function checkCommand(command: string, path = process.env.PATH ?? ""): string | undefined {
  if (command.includes("/")) {
    if (!isAbsolute(command)) return "expected an absolute path or a name found on PATH";
    return isExecutableFile(command) ? undefined : "not an executable file";
  }
  for (const dir of path.split(delimiter)) {
    if (dir !== "" && isExecutableFile(join(dir, command))) return undefined;
  }
  return "not found on PATH";
}
