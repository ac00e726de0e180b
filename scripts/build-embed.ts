/**
 * Builds the embed loader for other sites' pages: public/embed.js (classic script, one tag) and
 * public/embed.mjs (ES module exporting startVolunteer), from lib/embed. Run before `next build`
 * (npm run build, and npm start when the app is stale); the outputs are not committed.
 */
import { join } from 'node:path'
import { build } from 'esbuild'

const ROOT = join(import.meta.dirname, '..')

export async function buildEmbed(): Promise<void> {
  const common = {
    bundle: true,
    minify: true,
    target: 'es2020',
    legalComments: 'none',
    logLevel: 'warning',
  } as const
  await build({
    ...common,
    entryPoints: [join(ROOT, 'lib/embed/script-tag.ts')],
    format: 'iife',
    outfile: join(ROOT, 'public/embed.js'),
    // document.currentScript gives the origin in a classic script; import.meta is for the module.
    logOverride: { 'empty-import-meta': 'silent' },
  })
  await build({
    ...common,
    entryPoints: [join(ROOT, 'lib/embed/loader.ts')],
    format: 'esm',
    outfile: join(ROOT, 'public/embed.mjs'),
  })
}

if (import.meta.url === `file://${process.argv[1]}`) await buildEmbed()
