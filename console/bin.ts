#!/usr/bin/env node
// The one `sealpost` bin: `daemon` loads daemon/main; everything else stays on the client side.
import { runCli } from './cli/program.js';

const code = await runCli(process.argv.slice(2));
// The daemon keeps running on its own; every other command ends here.
if (process.argv[2] !== 'daemon' || code !== 0) process.exitCode = code;
