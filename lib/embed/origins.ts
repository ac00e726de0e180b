/**
 * Which sites may frame /embed, and what each may do there. The operator lists them in
 * `MESHWORK_EMBED_ORIGINS` (comma-separated):
 *
 *   https://dapp.example            a trusted site: it may frame /embed, receives the frame's
 *                                   status and may ask the visitor in its own UI (consent: 'host')
 *   *                               any other site may frame /embed too, but only the visitor can
 *                                   consent, in the frame's own question
 *   none                            no site but the app itself (same as an empty list)
 *
 * Unset: `*` on a dev network (`MESHWORK_DEV=1`, what `npm start` runs), `none` otherwise, so a
 * production deployment is framed only by the sites its operator names.
 *
 * The list is enforced twice: by the browser, from the `Content-Security-Policy: frame-ancestors`
 * header that proxy.ts puts on /embed (`frameAncestors`), and by the frame itself
 * (`embedAccess`), which decides from the origins the browser reports for its ancestors.
 * No dependencies: the app's proxy, its server page and the frame all use it.
 */

export interface EmbedPolicy {
  /** Origins (scheme://host[:port]) the operator trusts, lowercase, without duplicates. */
  trusted: readonly string[]
  /** `*` was listed: any other http(s) site may frame /embed, with the visitor's own consent. */
  open: boolean
}

export type EmbedPolicyResult = { ok: true; policy: EmbedPolicy } | { ok: false; error: string }

/** What an unusable list falls back to: framed by nobody but the app itself. */
export const CLOSED_POLICY: EmbedPolicy = Object.freeze({ trusted: Object.freeze([]), open: false })

/**
 * One origin as written in the list: http(s), a host, an optional port, no path, query or
 * credentials. Returns the browser's serialisation (what `event.origin` and
 * `location.ancestorOrigins` give), or an error naming the entry.
 */
export function parseOrigin(
  entry: string,
): { ok: true; origin: string } | { ok: false; error: string } {
  let url: URL
  try {
    url = new URL(entry)
  } catch {
    return {
      ok: false,
      error: `"${entry}" is not an origin (write it as https://host or https://host:port)`,
    }
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return { ok: false, error: `"${entry}" must start with https:// or http://` }
  // An origin has no path, query, fragment or credentials: "https://a.example/" is the origin
  // with the empty path, anything longer names a page, which frame-ancestors cannot express.
  if (
    url.username ||
    url.password ||
    url.search ||
    url.hash ||
    (url.pathname !== '/' && url.pathname !== '')
  )
    return {
      ok: false,
      error: `"${entry}" must be an origin only (scheme://host[:port]), without a path`,
    }
  // A wildcard host would mean one thing to frame-ancestors and another to embedAccess.
  if (!/^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/.test(url.hostname))
    return { ok: false, error: `"${entry}" must name one host (no wildcards)` }
  if (entry.replace(/\/$/, '').toLowerCase() !== url.origin.toLowerCase())
    return {
      ok: false,
      error: `"${entry}" is not written as an origin; did you mean "${url.origin}"?`,
    }
  return { ok: true, origin: url.origin }
}

/** Reads `MESHWORK_EMBED_ORIGINS`; `dev` decides the default when it is unset. */
export function parseEmbedOrigins(value: string | undefined, dev: boolean): EmbedPolicyResult {
  if (value === undefined || value.trim() === '')
    return { ok: true, policy: dev ? { trusted: [], open: true } : CLOSED_POLICY }
  const trusted: string[] = []
  let open = false
  let none = false
  for (const raw of value.split(',')) {
    const entry = raw.trim()
    if (entry === '') continue
    if (entry === '*') open = true
    else if (entry === 'none' || entry === "'none'") none = true
    else {
      const o = parseOrigin(entry)
      if (!o.ok) return { ok: false, error: `MESHWORK_EMBED_ORIGINS: ${o.error}` }
      if (!trusted.includes(o.origin)) trusted.push(o.origin)
    }
  }
  if (none && (open || trusted.length > 0))
    return {
      ok: false,
      error: 'MESHWORK_EMBED_ORIGINS: "none" cannot be listed with other entries',
    }
  return { ok: true, policy: { trusted, open } }
}

/**
 * The CSP directive for /embed. The app's own origin ('self') may always frame it; only
 * origins that passed parseOrigin reach this string, so nothing in it can end the directive.
 */
export function frameAncestors(policy: EmbedPolicy): string {
  if (policy.open) return 'frame-ancestors *'
  return ['frame-ancestors', "'self'", ...policy.trusted].join(' ')
}

/** What the frame may do for the page around it. */
export type EmbedAccess =
  /** /embed is the top page (opened by itself): the visitor is on the app's own origin. */
  | { status: 'top' }
  /** Framed, and the parent's origin is not known yet (no ancestorOrigins: wait for its hello). */
  | { status: 'pending' }
  /** Framed by the app itself or by a listed site: statuses go to it; consent: 'host' honoured. */
  | { status: 'trusted'; origin: string }
  /** Framed by an unlisted site while `*` is listed: statuses go to it; only the visitor consents. */
  | { status: 'open'; origin: string }
  /** Framed by a site that may not frame /embed: nothing is sent to it and nothing starts. */
  | { status: 'refused'; origin: string; reason: string }

export interface EmbedContext {
  policy: EmbedPolicy
  /** The app's own origin (the frame's `location.origin`). */
  appOrigin: string
  /** Whether the frame has a parent (`window.parent !== window`). */
  framed: boolean
  /**
   * The origins of the frame's ancestors, parent first, as the browser reports them
   * (`location.ancestorOrigins`, Chromium and Safari), or only the parent's origin as the
   * browser stamped it on the parent's hello message (`event.origin`, every browser);
   * undefined while neither is known.
   */
  ancestors: readonly string[] | undefined
}

const allows = (policy: EmbedPolicy, appOrigin: string, origin: string) =>
  origin === appOrigin || policy.trusted.includes(origin)

/**
 * Decides from the ancestors' origins, as frame-ancestors does: every ancestor must be allowed
 * (a listed site framed by an unlisted one is refused), and the parent, who talks to the frame,
 * decides between trusted and open.
 */
export function embedAccess(ctx: EmbedContext): EmbedAccess {
  if (!ctx.framed) return { status: 'top' }
  const parent = ctx.ancestors?.[0]
  if (!ctx.ancestors || parent === undefined) return { status: 'pending' }
  for (const origin of ctx.ancestors) {
    // An opaque origin (a sandboxed frame, a data: page) cannot be addressed by postMessage
    // except with '*', and cannot be listed.
    if (origin === 'null' || !/^https?:\/\//.test(origin))
      return {
        status: 'refused',
        origin: parent,
        reason: `a page without a web origin (${origin}) cannot embed Meshwork`,
      }
    if (!allows(ctx.policy, ctx.appOrigin, origin) && !ctx.policy.open)
      return {
        status: 'refused',
        origin: parent,
        reason: `${origin} is not among the sites this Meshwork app (${ctx.appOrigin}) may be embedded in`,
      }
  }
  return allows(ctx.policy, ctx.appOrigin, parent)
    ? { status: 'trusted', origin: parent }
    : { status: 'open', origin: parent }
}

/** Where the frame may post its status: the parent's exact origin, never '*'. */
export function statusTarget(access: EmbedAccess): string | undefined {
  return access.status === 'trusted' || access.status === 'open' ? access.origin : undefined
}

/**
 * The target origin for one of the frame's messages to its parent, or undefined: do not send.
 * A status only ever goes to the parent's exact origin (`statusTarget`), never to '*': it names
 * the volunteer's address, peer id, payout and earnings. `ready` carries nothing, so while the
 * parent's origin is unknown (`pending`: no `location.ancestorOrigins`) it may go to '*' to ask
 * the loader for its hello; a refused parent gets nothing at all.
 */
export function frameMessageTarget(
  type: 'meshwork:ready' | 'meshwork:status',
  access: EmbedAccess,
): string | undefined {
  if (type === 'meshwork:ready' && access.status === 'pending') return '*'
  return statusTarget(access)
}

/** How consent is asked: the host page's answer counts only from a trusted parent. */
export function effectiveConsent(asked: 'frame' | 'host', access: EmbedAccess): 'frame' | 'host' {
  return asked === 'host' && access.status === 'trusted' ? 'host' : 'frame'
}
