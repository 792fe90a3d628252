import {
  type Authorizer,
  type AuthzResult,
  type Logger,
  parseOptions,
  RegauthError,
} from "@regauth/core";
import { checkCommand, extOptionsSchema } from "./internal/ext-options.js";
import { createProgramRunner } from "./internal/run-program.js";

/**
 * Options of {@link createExtAuthorizer} (docker_auth's `ext_authz`): the
 * same as those of `createExtAuthenticator`, see there. `name` defaults to
 * `"ext_authz"`.
 */
export interface ExtAuthorizerOptions {
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

/**
 * Authorizes by running an external program once per scope, as docker_auth's
 * `ext_authz` (protocol.md §4). The program gets one JSON object on stdin:
 *
 * `{"Account": "alice", "Type": "repository", "Name": "team/app",
 *   "Service": "registry", "IP": "10.0.0.7", "Actions": ["pull", "push"],
 *   "Labels": {"groups": ["dev"]}}`
 *
 * (`IP` is `""` when the client address is unknown) and answers with its exit code:
 *
 * - 0: grant every requested action;
 * - 1: an explicit deny: nothing for this scope, later authorizers are not asked;
 * - anything else, a signal, a timeout or too much output: a backend fault,
 *   503 (`ERR_BACKEND_UNAVAILABLE`). stdout is read but not used.
 *
 * As in docker_auth there is no "no match" answer: put it last in the chain.
 * Spawned without a shell, in its own process group; stderr is logged at warn level.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction for bad options,
 *   such as `command: not found on PATH`.
 *
 * @example
 * const authorizer = createExtAuthorizer({ command: "/usr/local/bin/may-access", timeoutMs: 2000 });
 */
export function createExtAuthorizer(options: ExtAuthorizerOptions): Authorizer {
  const config = parseOptions(optionsSchema, options);
  const name = config.name ?? "ext_authz";
  const runner = createProgramRunner(config.maxConcurrent);
  const log = config.logger;

  return {
    name,
    async authorize({ account, service, clientIp, labels, scope }): Promise<AuthzResult> {
      const input = JSON.stringify({
        Account: account,
        Type: scope.type,
        Name: scope.name,
        Service: service,
        IP: clientIp ?? "",
        Actions: scope.actions,
        Labels: labels,
      });
      const result = await runner.run({
        command: config.command,
        args: config.args,
        input,
        timeoutMs: config.timeoutMs,
        maxOutputBytes: config.maxOutputBytes,
        env: config.env,
        label: name,
      });
      if (result.stderr.trim() !== "") {
        log.warn(
          {
            authorizer: name,
            account,
            scope: `${scope.type}:${scope.name}`,
            stderr: result.stderr,
            ...(result.stderrTruncated ? { stderrTruncated: true } : {}),
          },
          "ext_authz program wrote to stderr",
        );
      }
      if (result.code === 0) return { result: "grant", actions: [...scope.actions] };
      if (result.code === 1) return { result: "grant", actions: [] };
      throw new RegauthError(
        "ERR_BACKEND_UNAVAILABLE",
        result.code === null
          ? `${name}: program was killed by ${result.signal}`
          : `${name}: program exited ${result.code} (0 allow, 1 deny; anything else is an error)`,
      );
    },
  };
}
