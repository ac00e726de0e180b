/**
 * Response headers that depend on the operator's configuration at request time (next.config's
 * `headers()` are fixed at build time, so one build could not serve two deployments' lists).
 *
 * /embed: `Content-Security-Policy: frame-ancestors …` from `MESHWORK_EMBED_ORIGINS`
 * (lib/embed/origins.ts), so the browser refuses to show the frame inside any other site. An
 * unusable list fails closed: only the app itself may frame /embed, and the page says why.
 */
import { NextResponse } from 'next/server'
import { CLOSED_POLICY, frameAncestors, parseEmbedOrigins } from './lib/embed/origins'

export function proxy() {
  const parsed = parseEmbedOrigins(
    process.env.MESHWORK_EMBED_ORIGINS,
    process.env.MESHWORK_DEV === '1',
  )
  const res = NextResponse.next()
  res.headers.set(
    'Content-Security-Policy',
    frameAncestors(parsed.ok ? parsed.policy : CLOSED_POLICY),
  )
  return res
}

export const config = { matcher: ['/embed', '/embed/:path*'] }
