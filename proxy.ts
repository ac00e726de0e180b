/**
 * Response headers that depend on the operator's configuration at request time (next.config's
 * `headers()` are fixed at build time, so one build could not serve two deployments' lists).
 *
 * /embed: `Content-Security-Policy: frame-ancestors …` from `MESHWORK_EMBED_ORIGINS`
 * (lib/embed/origins.ts), so the browser refuses to show the frame inside any other site. An
 * unusable list fails closed: only the app itself may frame /embed, and the page says why.
 *
 * Every other page: `frame-ancestors 'self'`. The volunteer, request and job pages hold keys and
 * wallet buttons; framed by another site under a decoy (clickjacking), a click there could start
 * work, stake or send a transaction. Only /embed is made to be framed, and it asks before it works.
 */
import { type NextRequest, NextResponse } from 'next/server'
import { CLOSED_POLICY, frameAncestors, parseEmbedOrigins } from './lib/embed/origins'

export function proxy(req: NextRequest) {
  const res = NextResponse.next()
  const path = req.nextUrl.pathname
  if (path !== '/embed' && !path.startsWith('/embed/')) {
    res.headers.set('Content-Security-Policy', "frame-ancestors 'self'")
    return res
  }
  const parsed = parseEmbedOrigins(
    process.env.MESHWORK_EMBED_ORIGINS,
    process.env.MESHWORK_DEV === '1',
  )
  res.headers.set(
    'Content-Security-Policy',
    frameAncestors(parsed.ok ? parsed.policy : CLOSED_POLICY),
  )
  return res
}

// Pages only: not Next's static chunks, the models or the embed loader, which other sites load.
export const config = {
  matcher: ['/((?!_next/|models/|embed\\.m?js$|favicon\\.ico$).*)'],
}
