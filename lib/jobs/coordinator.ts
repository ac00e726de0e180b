/**
 * The coordinator: the requester's side of the protocol (a browser tab or the SDK/CLI process).
 * It serves the work, result and model protocols for its jobs, announces them on gossip, and pays
 * for accepted tasks with claims: its key (the job's coordinator, named on chain at createJob)
 * signs each worker's cumulative claim, handed to the worker with its next answer, which the
 * worker can redeem on chain without the requester. Nothing goes on chain per task; a
 * coordinator with gas (`chain`) records the results and redeems the final claims when a job
 * ends. Jobs, tasks and results live in the store, so a coordinator that restarts (a reloaded
 * tab) resumes its jobs with `resume`.
 */

import type { PeerId } from '@libp2p/interface'
import type { Address, Hex } from 'viem'
import type { Equivocation } from '../chain'
import { createLogger, type Logger } from '../env/log'
import { errorMessage, InvalidInputError } from '../errors'
import {
  addressOfPeer,
  createInboundBudget,
  dialableAddrs,
  errorResponse,
  type InboundLimits,
  type InboundStats,
  type JobAnnouncement,
  type MeshNode,
  onGossip,
  PROTOCOLS,
  type Presence,
  publishGossip,
  resultOutputsSchema,
  resultRequestSchema,
  serve,
  serveModels,
  TOPICS,
  workRequestSchema,
} from '../mesh'
import type { Identity } from '../mesh/identity'
import type { WorkResponse } from '../mesh/messages'
import { formatPolicy, signClaim } from '../proofs'
import type { JobRecord, Store, TaskRecord } from '../store'
import { type JobTrust, jobTrustKey, type WorkerRecord } from '../trust'
import { JobRun, type WorkerTiming } from './job-run'
import { createPayoutRelay, type PayoutPort } from './payouts'
import type { CoordinatorChain, JobProgress, TaskResult } from './types'

export interface CoordinatorInit {
  node: MeshNode
  /**
   * The node's own key: a job's coordinator on chain must be its address. It signs the
   * workers' claims (and, through `chain`, the results it records).
   */
  identity: Identity
  store: Store
  /** On-chain courtesies when a job ends (record results, redeem claims); none without it. */
  chain?: CoordinatorChain | undefined
  /** How often running jobs are announced (ms). Default 2000. */
  announceIntervalMs?: number
  /** How often accepted tasks are settled: their claims grow (ms). Default 2000. */
  settleIntervalMs?: number
  log?: Logger
  /** Reads a worker's slashable stake on chain (for adaptive replication). */
  stakeOf?: ((worker: Address) => Promise<bigint>) | undefined
  /** Recovers result signers off the event loop (JobRunInit.recoverSigner). Default: in thread. */
  recoverSigner?: ((digest: Hex, signature: Hex) => Promise<Address | undefined>) | undefined
  /** Sends equivocation evidence on chain (slash); failures are logged. */
  slasher?: ((e: Equivocation) => Promise<unknown>) | undefined
  /** Records paid workers' payout authorisations on chain (payouts.ts). Without it they are ignored. */
  payouts?: PayoutPort | undefined
  /**
   * Inbound stream and byte budgets over the work, result and model protocols (per peer and in
   * all). Default INBOUND_LIMITS (lib/mesh/protocol.ts); tests lower them.
   */
  inbound?: Partial<InboundLimits> | undefined
}

export interface CoordinatorStats {
  /** What peers' inbound streams hold now and at most, and what was refused or dropped, by reason. */
  inbound: InboundStats
}

/** Store meta key of the per-worker trust records. */
const REPUTATION_KEY = 'reputation'
/** At most one extra announcement round for newly heard volunteers per this long (ms). */
const NEWCOMER_ANNOUNCE_MS = 500
/** A volunteer not heard for this long counts as new again (ms): presence's expiry. */
const NEWCOMER_GAP_MS = 20_000
/** A worker's stake is read again after this long (ms). */
const STAKE_TTL_MS = 60_000
/** Results recorded per `record` transaction. */
const RECORD_BATCH = 500
/**
 * At the end of a job, how long the final redemption waits for replicas still leased (a third
 * replica of a task that two others settled is paid when it agrees): long enough for a timed
 * worker's answer, short enough that a stalled one does not hold the job's end (ms). A replica
 * that answers later still gets its claim and redeems it itself.
 */
const LATE_REPLICA_WAIT_MS = 10_000

export interface JobHandle {
  jobId: Hex
  progress(): JobProgress
  results(): TaskResult[]
  /** Resolves when every task is settled or failed, or the deadline passed. */
  done: Promise<JobProgress>
  /**
   * Fires `progress` (no detail) whenever something changed, and `accepted`
   * (CustomEvent<{ taskIndex: number }>) when a task reaches its quorum: cheaper to follow than
   * `progress()` and `results()`, which look at every task.
   */
  events: EventTarget
}

export interface Coordinator {
  start(): Promise<void>
  /** Starts coordinating a job whose tasks are already in the store. */
  run(
    job: JobRecord,
    tasks: TaskRecord[],
    model: Uint8Array,
    modelFile?: string,
    trust?: JobTrust,
  ): JobHandle
  /** Resumes a stored job (after a reload); needs the model bytes to serve them. */
  resume(jobId: Hex, model: Uint8Array, modelFile?: string): Promise<JobHandle | undefined>
  get(jobId: Hex): JobHandle | undefined
  stats(): CoordinatorStats
  stop(): Promise<void>
}

export function createCoordinator(init: CoordinatorInit): Coordinator {
  const log = init.log ?? createLogger('coordinator')
  const runs = new Map<
    Hex,
    { run: JobRun; handle: JobHandle; model: Uint8Array; modelFile?: string | undefined }
  >()
  const workerStats = new Map<string, WorkerTiming>()
  const reputation = new Map<string, WorkerRecord>()
  const stakes = new Map<string, { wei: bigint; readAt: number }>()
  let saveTimer: ReturnType<typeof setTimeout> | undefined
  /** The reputation write in flight, if any: `stop` waits for it before the store closes. */
  let savingReputation: Promise<void> = Promise.resolve()
  const saveReputation = () => {
    if (saveTimer) return
    saveTimer = setTimeout(() => {
      saveTimer = undefined
      savingReputation = init.store
        .setMeta(REPUTATION_KEY, Object.fromEntries(reputation))
        .catch((err) => log.warn('saving reputation failed', { error: errorMessage(err) }))
    }, 500)
  }
  /** The cached stake, refreshed in the background when stale (0n until first read). */
  const stakeOf = (worker: string): bigint => {
    const cached = stakes.get(worker)
    if (init.stakeOf && (!cached || Date.now() - cached.readAt > STAKE_TTL_MS)) {
      stakes.set(worker, { wei: cached?.wei ?? 0n, readAt: Date.now() })
      init
        .stakeOf(worker as Address)
        .then((wei) => stakes.set(worker, { wei, readAt: Date.now() }))
        .catch((err) => log.debug('reading stake failed', { error: errorMessage(err) }))
    }
    return cached?.wei ?? 0n
  }
  const timers: Array<ReturnType<typeof setInterval>> = []
  const { node } = init
  /** One budget for every protocol served: a peer's streams count together whatever they carry. */
  const budget = createInboundBudget(init.inbound)
  const payouts = init.payouts && createPayoutRelay(init.payouts, log)
  /** Workers with an agreeing result in a settled task of any job here (lowercase). */
  const paidWorkers = new Set<string>()

  const announce = async () => {
    for (const { run, modelFile } of runs.values()) {
      const j = run.job
      try {
        if (j.status === 'running') {
          const msg: JobAnnouncement = {
            type: 'job',
            jobId: j.jobId,
            chainId: j.chainId,
            contract: j.contract,
            coordinator: node.peerId.toString(),
            addrs: dialableAddrs(node),
            modelHash: j.spec.modelHash,
            ...(modelFile ? { modelFile } : {}),
            policy: formatPolicy(j.spec.policy),
            taskCount: j.spec.taskCount,
            replicas: j.spec.replicas,
            quorum: j.spec.quorum,
            rewardPerResult: j.spec.rewardPerResult.toString(),
            deadline: j.spec.deadline,
            open: run.openCount(),
          }
          await publishGossip(node, TOPICS.jobs, msg)
        } else {
          await publishGossip(node, TOPICS.jobs, {
            type: 'job-closed',
            jobId: j.jobId,
            coordinator: node.peerId.toString(),
          })
        }
      } catch (err) {
        log.debug('announce failed', { error: errorMessage(err) })
      }
    }
  }

  /**
   * A volunteer heard for the first time, again after NEWCOMER_GAP_MS of silence, or restarted (a
   * new presence session: a reloaded tab keeps its peer id) gets the running jobs' announcements
   * now rather than at the next interval (up to 2 s later): a newly opened tab starts work
   * sooner. At most one extra round per NEWCOMER_ANNOUNCE_MS.
   */
  const lastHeard = new Map<string, { at: number; session: string | undefined }>()
  let extraRound: ReturnType<typeof setTimeout> | undefined
  let lastExtraRound = 0
  const onPresence = (p: Presence) => {
    if (p.role !== 'volunteer') return
    const now = Date.now()
    const before = lastHeard.get(p.peerId)
    lastHeard.delete(p.peerId)
    lastHeard.set(p.peerId, { at: now, session: p.session })
    // Oldest first: forget the longest silent when the map is full.
    if (lastHeard.size > 10_000) lastHeard.delete(lastHeard.keys().next().value!)
    const known =
      before !== undefined && now - before.at < NEWCOMER_GAP_MS && p.session === before.session
    if (known || runs.size === 0 || extraRound) return
    const wait = Math.max(0, lastExtraRound + NEWCOMER_ANNOUNCE_MS - now)
    extraRound = setTimeout(() => {
      extraRound = undefined
      lastExtraRound = Date.now()
      void announce()
    }, wait)
  }
  let unsubscribePresence: (() => void) | undefined

  const settleAll = async () => {
    for (const { run } of runs.values()) {
      await run
        .settleReady()
        .catch((err) => log.warn('settle round failed', { error: errorMessage(err) }))
    }
    await payouts?.flush(paidWorkers)
  }

  const add = (
    job: JobRecord,
    tasks: TaskRecord[],
    model: Uint8Array,
    modelFile?: string,
    trust?: JobTrust,
  ): JobHandle => {
    const existing = runs.get(job.jobId)
    if (existing) return existing.handle
    if (job.spec.coordinator.toLowerCase() !== init.identity.address.toLowerCase())
      throw new InvalidInputError(
        `Job ${job.jobId} names ${job.spec.coordinator} as its coordinator, not this node (${init.identity.address}).`,
        { hint: 'Only the coordinator named on chain can sign the claims that pay its workers.' },
      )
    const events = new EventTarget()
    const domain = { chainId: job.chainId, contract: job.contract }
    const run = new JobRun({
      job,
      tasks,
      store: init.store,
      signClaim: (claim) => signClaim(init.identity.account, domain, claim),
      recoverSigner: init.recoverSigner,
      log,
      workerStats,
      trust: trust?.settings,
      known: new Map((trust?.canaries ?? []).map((c) => [c.taskIndex, c.outputs])),
      reputation,
      stakeOf,
      onTrustChange: saveReputation,
      onEquivocation: (e) => {
        log.warn('equivocation', { worker: e.worker, jobId: e.jobId, task: e.taskIndex })
        init
          .slasher?.(e)
          .catch((err) => log.warn('slash failed', { worker: e.worker, error: errorMessage(err) }))
      },
      onChange: () => events.dispatchEvent(new Event('progress')),
      onAccepted: (taskIndex) =>
        events.dispatchEvent(new CustomEvent('accepted', { detail: { taskIndex } })),
      onSettled: (certs) => {
        for (const c of certs) for (const a of c.signers) paidWorkers.add(a.toLowerCase())
      },
    })
    const handle: JobHandle = {
      jobId: job.jobId,
      progress: () => run.progress(),
      results: () => run.results(),
      done: run.done.then(async () => {
        await finishOnChain(run)
        return run.progress()
      }),
      events,
    }
    runs.set(job.jobId, { run, handle, model, modelFile })
    // A resumed job's tasks settled before the restart paid their workers too.
    if (payouts)
      for (const r of run.results())
        if (r.status === 'settled') for (const a of r.agreeing) paidWorkers.add(a.toLowerCase())
    void announce()
    return handle
  }

  /**
   * A job is over: with gas, record its accepted results and redeem every worker's final claim
   * for it (workers that redeemed already are skipped by the chain port). Failures are logged:
   * the workers still hold their claims.
   */
  let stopping = false
  const finishOnChain = async (run: JobRun) => {
    const chain = init.chain
    if (!chain) return
    const jobId = run.job.jobId
    if (chain.record) {
      const entries = run.settledResults()
      for (let i = 0; i < entries.length; i += RECORD_BATCH) {
        const batch = entries.slice(i, i + RECORD_BATCH)
        try {
          const r = await chain.record(jobId, batch)
          run.noteChainTx(
            r.gasUsed,
            r.txHash,
            batch.map((e) => e.taskIndex),
          )
        } catch (err) {
          log.warn('recording results failed', { jobId, error: errorMessage(err) })
        }
      }
    }
    if (chain.redeem) {
      const until = Date.now() + LATE_REPLICA_WAIT_MS
      while (run.outstandingLeases() > 0 && Date.now() < until && !stopping)
        await new Promise((r) => setTimeout(r, 200))
      try {
        const claims = await run.allClaims()
        if (claims.length > 0) {
          const r = await chain.redeem(
            claims.map((c) => ({
              jobId: c.jobId as Hex,
              worker: c.worker as Address,
              results: c.results,
              signature: c.signature as Hex,
            })),
          )
          run.noteChainTx(r.gasUsed)
        }
      } catch (err) {
        log.warn('redeeming claims for workers failed', { jobId, error: errorMessage(err) })
      }
    }
  }

  /** The response with the asking worker's latest claim in the job, if it has one. */
  const withClaim = async <R extends object>(run: JobRun, peer: PeerId, res: R): Promise<R> => {
    const worker = addressOfPeer(peer)
    if (!worker) return res
    try {
      // A worker asking for no lease (job over, claim only, nothing to do) gets the newest claim,
      // and so does every answer once the job is over: the ack of the result that completed it
      // carries a claim for it, whatever happens to this coordinator afterwards.
      const fresh = (res as { type?: string }).type === 'no-work' || run.job.status !== 'running'
      const claim = await run.claimFor(worker, { fresh })
      return claim ? { ...res, claim } : res
    } catch (err) {
      log.warn('signing a claim failed', { error: errorMessage(err) })
      return res
    }
  }

  return {
    async start() {
      const saved = await init.store.getMeta<Record<string, WorkerRecord>>(REPUTATION_KEY)
      for (const [k, v] of Object.entries(saved ?? {})) reputation.set(k, v)
      node.services.pubsub.subscribe(TOPICS.jobs)
      await serve(
        node,
        PROTOCOLS.work,
        workRequestSchema,
        async (req, ctx) => {
          const entry = runs.get(req.jobId as Hex)
          if (!entry) return { type: 'no-work', reason: 'unknown-job', retryAfterMs: 0 }
          const worker = req.payout && addressOfPeer(ctx.remotePeer)
          if (payouts && req.payout && worker)
            void payouts.offer(worker, req.payout, {
              chainId: entry.run.job.chainId,
              contract: entry.run.job.contract,
            })
          const res: WorkResponse =
            req.want === 'claim'
              ? { type: 'no-work', reason: 'claim-only', retryAfterMs: 2000 }
              : entry.run.assign(ctx.remotePeer, req)
          return res.type === 'error' ? res : withClaim(entry.run, ctx.remotePeer, res)
        },
        { log, maxInboundStreams: 16, budget },
      )
      await serve(
        node,
        PROTOCOLS.result,
        resultRequestSchema,
        async (req, ctx) => {
          const entry = runs.get(req.jobId as Hex)
          if (!entry) return errorResponse('unknown-job', 'This coordinator does not run that job.')
          const { run } = entry
          if (req.type === 'task-error')
            return withClaim(run, ctx.remotePeer, run.reportError(ctx.remotePeer, req))
          // The header is checked before a single output byte is taken: a stranger, a task
          // never leased to the sender or a duplicate costs a control frame, not its outputs.
          const early = run.admit(ctx.remotePeer, req)
          if (early) return withClaim(run, ctx.remotePeer, early)
          const { outputBytes, ...header } = req
          const outputs = await ctx.readBody(outputBytes, resultOutputsSchema)
          return withClaim(
            run,
            ctx.remotePeer,
            await run.submit(ctx.remotePeer, { ...header, outputs }),
          )
        },
        { log, maxInboundStreams: 16, budget },
      )
      await serveModels(
        node,
        (hash) =>
          [...runs.values()].find((r) => r.run.job.spec.modelHash.toLowerCase() === hash)?.model,
        log,
        budget,
      )
      timers.push(setInterval(() => void announce(), init.announceIntervalMs ?? 2000))
      unsubscribePresence = onGossip<Presence>(node, TOPICS.presence, onPresence)
      timers.push(setInterval(() => void settleAll(), init.settleIntervalMs ?? 2000))
    },
    run: add,
    async resume(jobId, model, modelFile) {
      const job = await init.store.getJob(jobId)
      if (!job) return undefined
      const tasks = await init.store.listTasks(jobId)
      const trust = await init.store.getMeta<JobTrust>(jobTrustKey(jobId))
      return add(job, tasks, model, modelFile ?? job.modelFile, trust)
    },
    get: (jobId) => runs.get(jobId)?.handle,
    stats: () => ({ inbound: budget.stats() }),
    async stop() {
      stopping = true
      for (const t of timers) clearInterval(t)
      if (extraRound) clearTimeout(extraRound)
      unsubscribePresence?.()
      // No new requests, so no new writes, from here on.
      await Promise.all(
        [PROTOCOLS.work, PROTOCOLS.result, PROTOCOLS.model].map((p) =>
          node.unhandle(p).catch(() => {}),
        ),
      )
      if (saveTimer) {
        clearTimeout(saveTimer)
        saveTimer = undefined
        await init.store.setMeta(REPUTATION_KEY, Object.fromEntries(reputation)).catch(() => {})
      }
      await savingReputation
      await settleAll()
      for (const { run } of runs.values()) run.stop()
      // Every task, claim and job write finishes before the caller closes the store.
      await Promise.all([...runs.values()].map(({ run }) => run.flush()))
    },
  }
}
