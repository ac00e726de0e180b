import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeCbor } from '../proofs'
import {
  createNewJobLimit,
  createRateLimit,
  NEW_JOB_BURST,
  NEW_JOB_RATE,
  validateGossip,
} from './gossip'
import { generateIdentity } from './identity'
import { TOPICS } from './protocol'

const me = await generateIdentity()
const other = await generateIdentity()
const presence = {
  type: 'presence',
  peerId: me.peerId.toString(),
  addrs: [],
  role: 'volunteer',
  tasksDone: 1,
}
const announcement = {
  type: 'job',
  jobId: `0x${'ab'.repeat(32)}`,
  chainId: 31337,
  contract: `0x${'cd'.repeat(20)}`,
  coordinator: me.peerId.toString(),
  addrs: [],
  modelHash: `0x${'ef'.repeat(32)}`,
  policy: 'argmax',
  taskCount: 3,
  replicas: 3,
  quorum: 2,
  rewardPerResult: '1000',
  deadline: 2_000_000_000,
  open: 3,
}

describe('validateGossip', () => {
  it('accepts well-formed messages from the peer they name', () => {
    expect(validateGossip(TOPICS.presence, encodeCbor(presence), me.peerId).verdict).toBe('accept')
    expect(validateGossip(TOPICS.jobs, encodeCbor(announcement), me.peerId).verdict).toBe('accept')
  })

  // Without this, any peer could announce jobs in a coordinator's name and send workers to it.
  it('rejects a message naming a peer other than its signer', () => {
    const v = validateGossip(TOPICS.jobs, encodeCbor(announcement), other.peerId)
    expect(v).toEqual({ verdict: 'reject', reason: expect.stringMatching(/was signed by/) })
  })

  // Unsigned messages cannot be attributed or scored.
  it('rejects unsigned messages', () => {
    expect(validateGossip(TOPICS.presence, encodeCbor(presence), undefined)).toEqual({
      verdict: 'reject',
      reason: 'unsigned message',
    })
  })

  it('rejects messages that break their schema, saying which field', () => {
    const v = validateGossip(
      TOPICS.jobs,
      encodeCbor({ ...announcement, rewardPerResult: -1 }),
      me.peerId,
    )
    expect(v).toEqual({ verdict: 'reject', reason: expect.stringMatching(/rewardPerResult/) })
  })

  // Gossip is forwarded to everyone: an oversized message must die at the first hop.
  it('rejects oversized messages before decoding', () => {
    const big = encodeCbor({
      ...presence,
      addrs: Array(16).fill('x'.repeat(512)),
      pad: 'y'.repeat(20_000),
    })
    expect(validateGossip(TOPICS.presence, big, me.peerId)).toEqual({
      verdict: 'reject',
      reason: expect.stringMatching(/too large/),
    })
  })

  it('rejects messages on unknown topics', () => {
    expect(validateGossip('meshwork/9/x', encodeCbor(presence), me.peerId).verdict).toBe('reject')
  })

  it('rejects random and mutated bytes with a reason and never throws', () => {
    const valid = encodeCbor(announcement)
    const mutated = fc
      .tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }))
      .map(([i, b]) => {
        const m = valid.slice()
        m[i] = b
        return m
      })
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), mutated), (bytes) => {
        const v = validateGossip(TOPICS.jobs, bytes, me.peerId)
        if (v.verdict === 'reject') expect(v.reason.length).toBeGreaterThan(0)
      }),
      { numRuns: 3000 },
    )
  })
})

describe('no copying', () => {
  // Results travel only worker → coordinator over a direct stream. If a gossip message could
  // carry a result, its hash or a signature over one, a copier could hand it in as its own.
  it('gives no gossip message a field that could carry a result', async () => {
    const { jobAnnouncementSchema, jobClosedSchema, presenceSchema, resultSchema } = await import(
      './messages'
    )
    const resultFields = Object.keys(resultSchema.shape).filter(
      (k) => !['type', 'jobId', 'taskIndex', 'backend'].includes(k),
    )
    expect(resultFields).toEqual(expect.arrayContaining(['resultHash', 'signature', 'outputBytes']))
    // The outputs follow the header in a frame of their own, named so nowhere on gossip either.
    resultFields.push('outputs')
    for (const schema of [jobAnnouncementSchema, jobClosedSchema, presenceSchema]) {
      const fields = Object.keys(schema.shape)
      expect(fields.filter((f) => resultFields.includes(f))).toEqual([])
    }
  })
})

describe('new-job rate limit', () => {
  const job = (n: number) => `0x${n.toString(16).padStart(64, '0')}`

  it('lets a signer introduce its burst of new jobs, then its rate, and keeps signers apart', () => {
    let t = 0
    const pass = createNewJobLimit(() => t)
    let n = 0
    let passed = 0
    for (let i = 0; i < 100; i++) if (pass('flooder', job(n++))) passed++
    expect(passed).toBe(NEW_JOB_BURST)
    // Another signer is not held back by the flooder.
    expect(pass('coordinator', job(1))).toBe(true)
    t += 5000
    passed = 0
    for (let i = 0; i < 100; i++) if (pass('flooder', job(n++))) passed++
    expect(passed).toBe(5 * NEW_JOB_RATE)
  })

  it('never limits announcements of jobs already let through: repeats and replays cost nothing', () => {
    const pass = createNewJobLimit(() => 0)
    for (let j = 0; j < NEW_JOB_BURST; j++) expect(pass('coordinator', job(j))).toBe(true)
    // Its bucket is empty, yet its running jobs' announcements (and anyone replaying them) pass.
    for (let round = 0; round < 1000; round++)
      expect(pass('coordinator', job(round % NEW_JOB_BURST))).toBe(true)
    expect(pass('coordinator', job(999))).toBe(false)
  })

  it('a token bucket forgets the oldest key beyond its bound', () => {
    const limit = createRateLimit(1, 1, () => 0, 3)
    for (const k of ['a', 'b', 'c', 'd']) limit.take(k)
    expect(limit.size).toBe(3)
    // 'a' was forgotten: it starts with a full bucket again; 'd' has spent its one.
    expect(limit.take('a')).toBe(true)
    expect(limit.take('d')).toBe(false)
  })
})
