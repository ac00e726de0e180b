import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CLOSED_POLICY,
  type EmbedPolicy,
  effectiveConsent,
  embedAccess,
  frameAncestors,
  frameMessageTarget,
  parseEmbedOrigins,
  statusTarget,
} from './origins'

const APP = 'https://meshwork.example'
const DAPP = 'https://dapp.example'
const OTHER = 'https://attacker.example'

const policy = (value: string): EmbedPolicy => {
  const r = parseEmbedOrigins(value, false)
  if (!r.ok) throw new Error(r.error)
  return r.policy
}
const framedBy = (p: EmbedPolicy, ...ancestors: string[]) =>
  embedAccess({ policy: p, appOrigin: APP, framed: true, ancestors })

describe('MESHWORK_EMBED_ORIGINS', () => {
  it('reads origins, * and none; normalises case and a trailing slash', () => {
    expect(policy('https://DApp.example/, http://127.0.0.1:8080')).toEqual({
      trusted: [DAPP, 'http://127.0.0.1:8080'],
      open: false,
    })
    expect(policy('*, https://dapp.example')).toEqual({ trusted: [DAPP], open: true })
    expect(policy('none')).toEqual(CLOSED_POLICY)
    expect(policy("'none'")).toEqual(CLOSED_POLICY)
  })

  it('keeps ports, localhost and IP hosts; drops empty entries and duplicates', () => {
    expect(
      policy(
        ' http://localhost:3000 ,, https://dapp.example:8443, http://10.0.0.7,HTTP://LOCALHOST:3000',
      ),
    ).toEqual({
      trusted: ['http://localhost:3000', 'https://dapp.example:8443', 'http://10.0.0.7'],
      open: false,
    })
  })

  it('unset: any site on a dev network (npm start), nobody but the app otherwise', () => {
    expect(parseEmbedOrigins(undefined, true)).toEqual({
      ok: true,
      policy: { trusted: [], open: true },
    })
    expect(parseEmbedOrigins('', false)).toEqual({ ok: true, policy: CLOSED_POLICY })
    expect(parseEmbedOrigins('  ', false)).toEqual({ ok: true, policy: CLOSED_POLICY })
    // Set, the list is what it says, on a dev network too.
    expect(parseEmbedOrigins(DAPP, true)).toEqual({
      ok: true,
      policy: { trusted: [DAPP], open: false },
    })
  })

  // Each entry ends up in a CSP header: a path, a wildcard host or a ';' must not get through.
  it.each([
    ['dapp.example', /not an origin/],
    ['ftp://dapp.example', /https:\/\/ or http:\/\//],
    ['https://dapp.example/page', /without a path/],
    ['https://dapp.example?x=1', /without a path/],
    ['https://user@dapp.example', /without a path/],
    ['https://dapp.example:443', /did you mean "https:\/\/dapp.example"/],
    ["https://dapp.example; script-src 'unsafe-inline'", /not an origin|not written as an origin/],
    ['https://*.dapp.example', /no wildcards/],
    ['none, https://dapp.example', /"none" cannot be listed/],
  ])('refuses %s with a reason', (value, reason) => {
    const r = parseEmbedOrigins(value, true)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error).toMatch(reason)
  })

  it('the frame-ancestors directive names the app and the listed origins, or * when open', () => {
    expect(frameAncestors(policy(`${DAPP},http://127.0.0.1:8080`))).toBe(
      "frame-ancestors 'self' https://dapp.example http://127.0.0.1:8080",
    )
    expect(frameAncestors(CLOSED_POLICY)).toBe("frame-ancestors 'self'")
    expect(frameAncestors(policy('*'))).toBe('frame-ancestors *')
    // Trusted sites still matter with * (they alone may ask in their own UI), not to the header.
    expect(frameAncestors(policy(`*,${DAPP}`))).toBe('frame-ancestors *')
  })

  it('any string either is refused or gives a directive of origins only (2,000 random lists)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.webUrl(), fc.string()), { maxLength: 4 }), (entries) => {
        const r = parseEmbedOrigins(entries.join(','), false)
        if (!r.ok) return
        const parts = frameAncestors(r.policy).split(' ').slice(1)
        for (const part of parts) expect(part).toMatch(/^('self'|\*|https?:\/\/[^\s;,/]+)$/)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('who embeds the frame, and what it may do', () => {
  const listed = policy(DAPP)

  it('a listed site is trusted: it gets the status at its own origin and may ask the visitor itself', () => {
    const a = framedBy(listed, DAPP)
    expect(a).toEqual({ status: 'trusted', origin: DAPP })
    expect(statusTarget(a)).toBe(DAPP)
    expect(effectiveConsent('host', a)).toBe('host')
  })

  // Why: with consent=host an unlisted site could otherwise make its visitors compute (and pay
  // its own treasury) without asking them, and read their address and earnings.
  it('an unlisted site is refused: no status target, no host consent', () => {
    const a = framedBy(listed, OTHER)
    expect(a.status).toBe('refused')
    expect(a.status === 'refused' && a.reason).toMatch(/attacker\.example is not among the sites/)
    expect(statusTarget(a)).toBeUndefined()
    expect(effectiveConsent('host', a)).toBe('frame')
  })

  it('with * an unlisted site may frame it, but only the visitor can consent', () => {
    const a = framedBy(policy(`*,${DAPP}`), OTHER)
    expect(a).toEqual({ status: 'open', origin: OTHER })
    expect(statusTarget(a)).toBe(OTHER)
    expect(effectiveConsent('host', a)).toBe('frame')
    expect(effectiveConsent('frame', a)).toBe('frame')
  })

  it('every ancestor must be allowed: a listed site inside an unlisted one is refused', () => {
    expect(framedBy(listed, DAPP, OTHER).status).toBe('refused')
    expect(framedBy(listed, DAPP, APP).status).toBe('trusted')
  })

  it('with * a listed site is still trusted, and still the only one whose consent counts', () => {
    const open = policy(`*,${DAPP}`)
    expect(framedBy(open, DAPP)).toEqual({ status: 'trusted', origin: DAPP })
    expect(effectiveConsent('host', framedBy(open, DAPP))).toBe('host')
    // The parent is the page that talks to the frame: a listed site framed by another decides.
    expect(framedBy(open, DAPP, OTHER)).toEqual({ status: 'trusted', origin: DAPP })
    expect(framedBy(open, OTHER, DAPP)).toEqual({ status: 'open', origin: OTHER })
  })

  it('an exact origin match only: no scheme, port or subdomain slack', () => {
    for (const near of [
      'http://dapp.example',
      'https://dapp.example:8443',
      'https://www.dapp.example',
      'https://dapp.example.attacker.example',
    ])
      expect(framedBy(listed, near).status).toBe('refused')
  })

  it('the app framing itself is trusted even with an empty list', () => {
    expect(framedBy(CLOSED_POLICY, APP)).toEqual({ status: 'trusted', origin: APP })
  })

  it('an opaque parent (sandboxed frame, data: page) is refused even when open', () => {
    expect(framedBy(policy('*'), 'null').status).toBe('refused')
    expect(framedBy(policy('*'), 'chrome-extension://abcdef').status).toBe('refused')
    expect(framedBy(policy('*'), DAPP, 'null').status).toBe('refused')
  })

  it('not framed: top; framed with the parent unknown yet: pending (nothing is posted)', () => {
    const top = embedAccess({ policy: listed, appOrigin: APP, framed: false, ancestors: [] })
    expect(top).toEqual({ status: 'top' })
    expect(effectiveConsent('host', top)).toBe('frame')
    const pending = embedAccess({
      policy: listed,
      appOrigin: APP,
      framed: true,
      ancestors: undefined,
    })
    expect(pending).toEqual({ status: 'pending' })
    expect(statusTarget(pending)).toBeUndefined()
  })

  // Why: '*' would hand the volunteer's address, peer id and earnings to whatever page holds
  // the frame, including one the operator does not list.
  it("a status goes only to the parent's exact origin, never '*'; only an empty ready may", () => {
    const cases: Array<[ReturnType<typeof embedAccess>, string | undefined, string | undefined]> = [
      // access, status target, ready target
      [{ status: 'top' }, undefined, undefined],
      [{ status: 'pending' }, undefined, '*'],
      [{ status: 'trusted', origin: DAPP }, DAPP, DAPP],
      [{ status: 'open', origin: OTHER }, OTHER, OTHER],
      [{ status: 'refused', origin: OTHER, reason: 'x' }, undefined, undefined],
    ]
    for (const [access, status, ready] of cases) {
      expect(frameMessageTarget('meshwork:status', access)).toBe(status)
      expect(frameMessageTarget('meshwork:ready', access)).toBe(ready)
    }
  })
})
