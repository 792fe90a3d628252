// End to end through examples/express: docker-registry 2.8 trusts the bundle
// the Express app exported, and skopeo pushes and pulls with its tokens.
import { describeExampleEndToEnd } from "../support/example-e2e.js";

describeExampleEndToEnd("express");
