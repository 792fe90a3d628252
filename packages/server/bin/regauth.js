#!/usr/bin/env node
// The `regauth` command: runs the built CLI (dist/cli/main.js).
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
