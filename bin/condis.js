#!/usr/bin/env node
'use strict';
// The `condis` command. npm install/ci builds dist/ (the "prepare" script); from a source tree
// without dist/, run `npm run build:all` first.
// A closed pipe (condis ... | head) ends the command quietly, as other Unix tools do; a command
// that must clean up first (a demo's cluster) is interrupted instead, and does (cli/interrupts.ts).
let brokenPipe = () => false;
process.stdout.on('error', (e) => {
  if (e?.code !== 'EPIPE') throw e;
  if (!brokenPipe()) process.exit(0);
});
let main;
try {
  main = require('../dist/lib/cli/main.js').main;
  brokenPipe = require('../dist/lib/cli/interrupts.js').interruptOnBrokenPipe;
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND') {
    process.stderr.write('condis: dist/ is not built; run "npm run build:all" (or npm ci) first\n');
    process.exit(2);
  }
  throw e;
}
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`condis: ${err?.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
