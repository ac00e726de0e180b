/**
 * Completes package-lock.json with the other platforms' optional binary packages (macOS, Windows,
 * Android, musl, arm64 builds of biome, anvil, forge and Next's SWC) when the registry this lock
 * was made against does not serve them: npm install then leaves them out, and `npm ci` refuses the
 * lock as "out of sync". Each added entry names only its version and os/cpu/libc, so npm ci skips
 * it on any other platform and fetches it (by version) on its own. Run after `npm install`:
 *   npm run lockfile
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..')
const LOCK = join(ROOT, 'package-lock.json')

function missing(): string[] {
  let out = ''
  try {
    execFileSync('npm', ['ci', '--dry-run', '--ignore-scripts'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    })
  } catch (err) {
    out = String((err as { stderr?: string }).stderr ?? '')
  }
  return [...out.matchAll(/Missing: (@?[^@\s]+)@/g)].map((m) => m[1]!)
}

function platformOf(name: string): { os: string[]; cpu: string[]; libc?: string[] } {
  const os = ['darwin', 'win32', 'linux', 'android', 'freebsd'].find((o) => name.includes(`-${o}-`))
  const cpu = /arm64/.test(name)
    ? 'arm64'
    : /(x64|amd64)/.test(name)
      ? 'x64'
      : /ia32/.test(name)
        ? 'ia32'
        : undefined
  if (!os || !cpu) throw new Error(`cannot tell the platform of ${name}`)
  return { os: [os], cpu: [cpu], ...(name.includes('musl') ? { libc: ['musl'] } : {}) }
}

const names = missing()
if (names.length === 0) {
  process.stderr.write('package-lock.json is complete.\n')
  process.exit(0)
}
const lock = JSON.parse(readFileSync(LOCK, 'utf8'))
const packages: Record<
  string,
  { version?: string; dev?: boolean; optionalDependencies?: Record<string, string> }
> = lock.packages
for (const name of names) {
  const parent = Object.entries(packages).find(([, p]) => p.optionalDependencies?.[name])
  if (!parent) throw new Error(`no package in the lock depends on ${name}`)
  const [, p] = parent
  packages[`node_modules/${name}`] = {
    version: p.optionalDependencies![name],
    ...platformOf(name),
    ...(p.dev ? { dev: true } : {}),
    optional: true,
  } as never
  process.stderr.write(`added ${name}@${p.optionalDependencies![name]}\n`)
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
)
writeFileSync(LOCK, `${JSON.stringify(lock, null, 2)}\n`)
const left = missing()
if (left.length > 0) throw new Error(`still missing: ${left.join(', ')}`)
