// End to end through examples/koa: docker-registry 2.8 trusts the bundle the
// Koa app exported, and skopeo pushes and pulls with its tokens.
import { describeExampleEndToEnd } from "../support/example-e2e.js";

describeExampleEndToEnd("koa");
