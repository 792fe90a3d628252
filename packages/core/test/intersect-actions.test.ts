import { describe, expect, it } from "vitest";
import { intersectActions } from "../src/index.js";

describe("intersectActions", () => {
  it.each([
    [["pull", "push"], ["pull"], ["pull"]],
    [["pull", "push"], ["*"], ["pull", "push"]],
    [
      ["push", "pull"],
      ["pull", "push", "delete"],
      ["push", "pull"],
    ],
    [["pull"], [], []],
    [["*"], ["pull", "push", "delete"], []],
    [["*"], ["*"], ["*"]],
    [["frobnicate"], ["frobnicate"], ["frobnicate"]],
    [[], ["*"], []],
  ])("requested %j, allowed %j -> %j", (requested, allowed, expected) => {
    expect(intersectActions(requested, allowed)).toEqual(expected);
  });

  it("returns a new array, never the requested one", () => {
    const requested = ["pull"];
    const granted = intersectActions(requested, ["*"]);
    expect(granted).not.toBe(requested);
  });
});
