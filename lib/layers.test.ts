/**
 * The layer table in docs/ARCHITECTURE.md, enforced: a folder of lib/ imports only the folders
 * its row names (and lib/errors and lib/env, which every layer may use, unless its row says
 * `nothing` or `no dependencies`), and nothing outside lib/. Test files are left out: they may
 * use fixtures from elsewhere (scripts/, lib/runtime/examples).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(import.meta.dirname, '..')
const LIB = join(ROOT, 'lib')
const FOUNDATION = ['errors', 'env']

/** The folders of lib/. */
const libFolders = () =>
  readdirSync(LIB, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)

/** Folder → the folders it may import, from the table's `lib/…` rows. */
function layerRules(markdown: string): Map<string, Set<string>> {
  const rules = new Map<string, Set<string>>()
  for (const line of markdown.split('\n')) {
    const cells = line.split('|').map((c) => c.trim())
    if (cells.length < 5 || !cells[1]?.startsWith('`lib/')) continue
    const layers = [...cells[1].matchAll(/`lib\/([a-z]+)`/g)].map((m) => m[1]!)
    const deps = cells[3] ?? ''
    const none = /^nothing$|no dependencies/.test(deps)
    const allowed = new Set<string>(
      /everything in `lib\/`/.test(deps)
        ? libFolders()
        : [...deps.matchAll(/`lib\/([a-z]+)`/g)].map((m) => m[1]!),
    )
    if (!none) for (const f of FOUNDATION) allowed.add(f)
    for (const layer of layers) rules.set(layer, allowed)
  }
  return rules
}

/** Every relative import of a source file, as a path from the repository root. */
function importsOf(file: string, source: string): string[] {
  const specs = [
    ...source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/g),
    ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
    ...source.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g),
  ].map((m) => m[1]!)
  return specs
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(ROOT, resolve(dirname(file), s)))
}

/** What in `layer` imports what its row does not allow: `file → target` lines. */
function violations(layer: string, allowed: ReadonlySet<string>): string[] {
  const out: string[] = []
  const dir = join(LIB, layer)
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.tsx?$/.test(entry.name) || /\.test\.tsx?$/.test(entry.name)) continue
    const file = join(entry.parentPath, entry.name)
    for (const target of importsOf(file, readFileSync(file, 'utf8'))) {
      const [top, folder] = target.split('/')
      const ok = top === 'lib' && folder !== undefined && (folder === layer || allowed.has(folder))
      if (!ok) out.push(`${relative(ROOT, file)} → ${target}`)
    }
  }
  return out
}

const table = readFileSync(join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8')
const rules = layerRules(table)

describe('layers (docs/ARCHITECTURE.md)', () => {
  it('has a row for every folder of lib/', () => {
    expect(libFolders().filter((f) => !rules.has(f))).toEqual([])
  })

  for (const [layer, allowed] of rules)
    it(`lib/${layer} imports only ${[...allowed].sort().join(', ') || 'itself'}`, () => {
      expect(violations(layer, allowed)).toEqual([])
    })

  it('reads a row, and catches an upward import', () => {
    const rows = layerRules(
      '| `lib/a`, `lib/b` | x | nothing |\n| `lib/c` | y | `lib/a`, `lib/d` (types) |',
    )
    expect([...rows.get('a')!]).toEqual([])
    expect([...rows.get('c')!].sort()).toEqual(['a', 'd', 'env', 'errors'])
    const file = join(LIB, 'proofs', 'x.ts')
    expect(importsOf(file, "import { a } from '../jobs'\nexport * from './y'")).toEqual([
      'lib/jobs',
      'lib/proofs/y',
    ])
  })
})
