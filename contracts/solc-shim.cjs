#!/usr/bin/env node
// Makes solc-js (from npm) answer like a native solc for the two calls forge makes, so that
// forge builds offline: `--version` and `--standard-json` (stdin -> stdout). Path flags that
// forge adds (--allow-paths, --base-path, --include-path) are ignored: forge sends every source's
// content in the standard JSON input. Loaded from contracts/foundry.toml.
const solc = require('solc')
const fs = require('node:fs')
const path = require('node:path')

const args = process.argv.slice(2)
if (args.includes('--version')) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`)
  process.exit(0)
}
if (!args.includes('--standard-json')) {
  process.stderr.write(`solc-shim: only --version and --standard-json are supported (got ${args.join(' ')})\n`)
  process.exit(1)
}
const input = fs.readFileSync(0, 'utf8')
const root = path.resolve(__dirname, '..')
const findImports = (p) => {
  for (const base of [root, path.join(root, 'node_modules')]) {
    const full = path.join(base, p)
    if (fs.existsSync(full)) return { contents: fs.readFileSync(full, 'utf8') }
  }
  return { error: `File not found: ${p}` }
}
process.stdout.write(solc.compile(input, { import: findImports }))
