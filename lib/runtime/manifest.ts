/**
 * The model catalogue, `public/models/manifest.json`: every shipped model with its sha256, size,
 * inputs, outputs, license and source. A model's identity is its hash; the name is for people.
 */
import { type Hex, isHex } from 'viem'
import { z } from 'zod'
import { InvalidInputError } from '../errors'
import { TENSOR_TYPES } from '../proofs'

const valueSchema = z.object({
  name: z.string().min(1),
  type: z.enum(TENSOR_TYPES),
  /** Numbers are fixed sizes; strings name dynamic dimensions. */
  dims: z.array(z.union([z.number().int().nonnegative(), z.string()])),
})

export const manifestEntrySchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  file: z.string().regex(/^[\w.-]+\.onnx$/),
  sha256: z
    .string()
    .refine((s) => isHex(s) && s.length === 66, 'sha256 must be 0x + 64 hex digits'),
  size: z.number().int().positive(),
  description: z.string(),
  inputs: z.array(valueSchema).min(1),
  outputs: z.array(valueSchema).min(1),
  /** Concrete shapes for generated example inputs (dynamic dims filled in). */
  exampleDims: z.record(z.string(), z.array(z.number().int().positive())),
  defaultPolicy: z.string(),
  license: z.string().min(1),
  source: z.string().min(1),
})

export const manifestSchema = z.object({
  version: z.literal(1),
  models: z.array(manifestEntrySchema),
})

export type ManifestEntry = z.infer<typeof manifestEntrySchema> & { sha256: Hex }
export type Manifest = { version: 1; models: ManifestEntry[] }

export function parseManifest(json: unknown): Manifest {
  const r = manifestSchema.safeParse(json)
  if (!r.success) {
    throw new InvalidInputError('Invalid model manifest.', { details: z.prettifyError(r.error) })
  }
  return r.data as Manifest
}

/** Finds a catalogue model by name or by hash. */
export function findModel(manifest: Manifest, nameOrHash: string): ManifestEntry | undefined {
  const key = nameOrHash.toLowerCase()
  return manifest.models.find((m) => m.name === key || m.sha256.toLowerCase() === key)
}
