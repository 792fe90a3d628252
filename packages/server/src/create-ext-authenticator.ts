import {
  type Authenticator,
  type AuthnResult,
  type Labels,
  type Logger,
  parseOptions,
  RegauthError,
} from "@regauth/core";
import { z } from "zod";
import { checkCommand, extOptionsSchema } from "./internal/ext-options.js";
import { createProgramRunner, type ProgramResult } from "./internal/run-program.js";

/**
 * Options of {@link createExtAuthenticator} (docker_auth's `ext_auth`).
 *
 * - `command`: the program, an absolute path or a name looked up on PATH.
 *   Checked at construction. Required.
 * - `args`: its arguments. Default `[]`.
 * - `timeoutMs`: milliseconds a run may take before the program (its whole
 *   process group) is killed and the request fails with 503. Default 5000.
 * - `maxConcurrent`: programs of this authenticator running at once; up to
 *   four times as many requests wait, more get 503 (`ERR_OVERLOADED`). Default 8.
 * - `maxOutputBytes`: most bytes read from stdout (more kills the program
 *   and fails the request) and kept from stderr (the rest is dropped).
 *   Default 65536.
 * - `env`: the program's whole environment. Default: this process's.
 * - `name`: for logs. Default `"ext_auth"`.
 * - `logger`: where the program's stderr goes (warn level, the password
 *   masked). Default: silent.
 */
export interface ExtAuthenticatorOptions {
  readonly command: string;
  readonly args?: readonly string[];
  readonly timeoutMs?: number;
  readonly maxConcurrent?: number;
  readonly maxOutputBytes?: number;
  readonly env?: Readonly<Record<string, string>>;
  readonly name?: string;
  readonly logger?: Logger;
}

const optionsSchema = extOptionsSchema.superRefine((options, context) => {
  const problem = checkCommand(options.command);
  if (problem) context.addIssue({ code: "custom", path: ["command"], message: problem });
});

const responseSchema = z.object({
  labels: z.record(z.string(), z.array(z.string())).optional(),
});

/** Replaces every occurrence of `secret` in `text` with `***`. */
function maskSecret(text: string, secret: string): string {
  return secret === "" ? text : text.split(secret).join("***");
}

/** The labels of an allowing run: stdout empty, or `{"labels": {...}}`. */
function parseLabels(stdout: string, label: string): Labels | undefined {
  if (stdout.trim() === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (error) {
    throw new RegauthError(
      "ERR_BACKEND_UNAVAILABLE",
      `${label}: program exited 0 but its stdout is not JSON`,
      { cause: error },
    );
  }
  const result = responseSchema.safeParse(parsed);
  if (!result.success) {
    throw new RegauthError(
      "ERR_BACKEND_UNAVAILABLE",
      `${label}: program exited 0 but its stdout is not {"labels": {"name": ["value", ...]}}`,
    );
  }
  return result.data.labels;
}

/**
 * Authenticates by running an external program, as docker_auth's `ext_auth`
 * (protocol.md §4): the program gets `"<account> <password>"` on stdin, with
 * no newline, and answers with its exit code (an account holding white space
 * or a control character, or a password holding a line break or NUL, is
 * answered no-match without running the program: the line would be ambiguous):
 *
 * - 0: allow. stdout, when not empty, must be JSON `{"labels": {"k": ["v"]}}`;
 *   the labels go to the authorizers. Other members are ignored.
 * - 1: deny (401, the chain stops).
 * - 2: no-match (the next authenticator is asked).
 * - anything else, a signal, a timeout, too much output, or stdout that is
 *   not that JSON: a backend fault, 503 (`ERR_BACKEND_UNAVAILABLE`), never a token.
 *
 * The program is spawned without a shell, in its own process group. Its
 * stderr is logged (warn level) with the password replaced by `***`; the
 * password is never logged otherwise. Anonymous requests run the program
 * too, with an empty account and password, as docker_auth does.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction for bad options,
 *   such as `command: not found on PATH`.
 *
 * @example
 * const authenticator = createExtAuthenticator({
 *   command: "/usr/local/bin/check-user",
 *   args: ["--realm", "registry"],
 *   timeoutMs: 2000,
 * });
 */
export function createExtAuthenticator(options: ExtAuthenticatorOptions): Authenticator {
  const config = parseOptions(optionsSchema, options);
  const name = config.name ?? "ext_auth";
  const runner = createProgramRunner(config.maxConcurrent);
  const log = config.logger;

  function logStderr(result: ProgramResult, account: string, password: string) {
    if (result.stderr.trim() === "") return;
    log.warn(
      {
        authenticator: name,
        account,
        stderr: maskSecret(result.stderr, password),
        ...(result.stderrTruncated ? { stderrTruncated: true } : {}),
      },
      "ext_auth program wrote to stderr",
    );
  }

  return {
    name,
    async authenticate({ account, password }): Promise<AuthnResult> {
      // The program reads one line, "<account> <password>": an account with a
      // space or a control character, or a password with a line break or NUL,
      // cannot be told apart from another account there. Never ask about it.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
      if (/[\s\u0000-\u001f\u007f]/.test(account) || /[\u0000\r\n]/.test(password)) {
        return { result: "no-match" };
      }
      const result = await runner.run({
        command: config.command,
        args: config.args,
        input: `${account} ${password}`,
        timeoutMs: config.timeoutMs,
        maxOutputBytes: config.maxOutputBytes,
        env: config.env,
        label: name,
      });
      logStderr(result, account, password);
      switch (result.code) {
        case 0: {
          const labels = parseLabels(result.stdout, name);
          return labels === undefined ? { result: "allow" } : { result: "allow", labels };
        }
        case 1:
          return { result: "deny" };
        case 2:
          return { result: "no-match" };
        default:
          throw new RegauthError(
            "ERR_BACKEND_UNAVAILABLE",
            result.code === null
              ? `${name}: program was killed by ${result.signal}`
              : `${name}: program exited ${result.code} (0 allow, 1 deny, 2 no match; anything else is an error)`,
          );
      }
    },
  };
}
