#!/usr/bin/env node
// The `pipeline` command (package.json "bin"): runs the TypeScript CLI through tsx, so there is no build step.
require('tsx/cjs/api').register();
const { main } = require('../cli/pipeline.ts');

main(process.argv).then((code) => {
  process.exitCode = code;
});
