// Validates an AsyncAPI document with the official parser (@asyncapi/parser).
//
//   node scripts/validate-asyncapi.cjs <parser-dir> docs/asyncapi.yaml
//
// <parser-dir> is where scripts/install-asyncapi-parser.sh installed the parser. Prints every
// diagnostic; exits 1 when one is an error (warnings and hints are allowed), 2 on bad usage.
"use strict";

const fs = require("fs");
const path = require("path");

const [parserDir, documentPath] = process.argv.slice(2);
if (!parserDir || !documentPath) {
  console.error("usage: validate-asyncapi.cjs <parser-dir> <document>");
  process.exit(2);
}
const { Parser, DiagnosticSeverity } = require(
  path.join(path.resolve(parserDir), "node_modules", "@asyncapi", "parser"),
);

const SEVERITY = ["error", "warning", "information", "hint"];

async function main() {
  const parser = new Parser();
  const text = fs.readFileSync(documentPath, "utf8");
  const { document, diagnostics } = await parser.parse(text, { source: path.resolve(documentPath) });
  for (const diagnostic of diagnostics) {
    const where = (diagnostic.path || []).join(".") || "(document)";
    console.log(`${SEVERITY[diagnostic.severity]} ${diagnostic.code} at ${where}: ${diagnostic.message}`);
  }
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  if (errors.length > 0 || document === undefined) {
    console.log(`${documentPath}: ${errors.length} error(s)`);
    process.exit(1);
  }
  console.log(`${documentPath}: valid AsyncAPI ${document.version()}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
