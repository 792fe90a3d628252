// What regauth logs of a backend's error never carries the request's password.
import { describe, expect, it } from "vitest";
import { describeError } from "../src/internal/describe-error.js";

describe("describeError", () => {
  it("replaces a long secret wherever it appears, causes included", () => {
    const error = new Error("bind failed for alice with SuperSecret123", {
      cause: new Error("server said: SuperSecret123 rejected"),
    });
    const text = JSON.stringify(describeError(error, ["SuperSecret123"]));
    expect(text).not.toContain("SuperSecret123");
    expect(text).toContain("bind failed for alice with [redacted]");
    expect(text).toContain("server said: [redacted] rejected");
  });

  it("withholds a text holding a short secret instead of spelling it out by the gaps", () => {
    // Reported: password "x" turned "ext_auth" into "e[redacted]t_auth".
    const described = describeError(new Error("ext_auth: program was killed by SIGSEGV"), [
      "x",
    ]) as {
      message: string;
      stack: string;
    };
    expect(described.message).toBe("[withheld: the text contains a secret]");
    expect(described.stack).toBe("[withheld: the text contains a secret]");
  });

  it("leaves a text without the secret as it is", () => {
    const described = describeError(new Error("connection refused"), ["x"]) as { message: string };
    expect(described.message).toBe("connection refused");
  });
});
