/**
 * Agreement policies: what "two workers computed the same result" means for a job.
 * The policy fixes the canonical bytes that are hashed (see `canonical.ts`).
 */
import { InvalidInputError } from '../errors'

export type AgreementPolicy =
  /** Byte-equal output tensors. */
  | { kind: 'exact' }
  /** Index of the largest value along the last axis of every output. */
  | { kind: 'argmax' }
  /** Indices of the K largest values along the last axis, largest first. */
  | { kind: 'topk'; k: number }
  /** Every float rounded to `digits` significant decimal digits. */
  | { kind: 'round'; digits: number }

export const MAX_ROUND_DIGITS = 17
export const MAX_TOPK = 1024

/** Parses `exact`, `argmax`, `topk:K` or `round:D`. */
export function parsePolicy(text: string): AgreementPolicy {
  const s = text.trim()
  if (s === 'exact') return { kind: 'exact' }
  if (s === 'argmax') return { kind: 'argmax' }
  const m = /^(topk|round):(\d{1,4})$/.exec(s)
  if (m) {
    const n = Number(m[2])
    if (m[1] === 'topk' && n >= 1 && n <= MAX_TOPK) return { kind: 'topk', k: n }
    if (m[1] === 'round' && n >= 1 && n <= MAX_ROUND_DIGITS) return { kind: 'round', digits: n }
  }
  throw new InvalidInputError(`Unknown agreement policy "${text}".`, {
    hint: `Use exact, argmax, topk:K (1..${MAX_TOPK}) or round:D (1..${MAX_ROUND_DIGITS}).`,
  })
}

export function formatPolicy(p: AgreementPolicy): string {
  switch (p.kind) {
    case 'exact':
    case 'argmax':
      return p.kind
    case 'topk':
      return `topk:${p.k}`
    case 'round':
      return `round:${p.digits}`
  }
}
