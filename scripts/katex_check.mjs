// Render math blocks with KaTeX and report every error.
// stdin: JSON list of {"tex": "...", "display": true|false}; stdout: JSON list of
// {"index": n, "error": "..."} for the blocks that failed (an empty list when all render).
// KaTeX is looked up in $KATEX_DIR/node_modules (default: <repo>/.tools/node_modules).
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const base = process.env.KATEX_DIR || path.join(here, "..", ".tools");
const require = createRequire(path.join(base, "node_modules", "noop.js"));
const katex = require("katex");

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const blocks = JSON.parse(input);
const errors = [];
blocks.forEach((block, index) => {
  try {
    katex.renderToString(block.tex, {
      displayMode: Boolean(block.display),
      throwOnError: true,
      strict: "error",
      trust: false,
    });
  } catch (err) {
    errors.push({ index, error: String(err.message || err) });
  }
});
process.stdout.write(JSON.stringify(errors));
