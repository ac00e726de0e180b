/**
 * The adversary harness (`npm run adversary`): Node peers speaking the real protocol over a real
 * relay against JobEscrow on anvil, each playing a role:
 *
 * - honest: runs the model (onnxruntime-node);
 * - random-wrong: runs it, then answers random numbers;
 * - colluding: runs it, then answers a wrong value that every colluder computes identically;
 * - copier: has no way to see another worker's result (results travel only to the coordinator,
 *   over a direct stream; nothing on gossip carries one), so it watches every gossip message for
 *   one, and answers zeros when it finds none;
 * - free-rider: takes leases and never answers;
 * - divergent: an honest worker on another backend ("webgpu"), whose floats differ from the
 *   others' in the last bits;
 * - sleeper: honest until `sleeperSwitch.awake`, then like a colluder;
 * - broken-webgpu: an honest volunteer whose WebGPU path computes garbage, until its claims show
 *   its WebGPU results unpaid and it switches that model to WASM (`Compute.demote`).
 *
 * Each scenario measures what the requester got: tasks accepted whose outputs are far from the
 * true ones (computed here with onnxruntime-node), honest workers punished, how fast colluders
 * were excluded, and results computed per accepted result.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { type Address, createWalletClient, type Hex, http, parseEther } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { chainFor, creditedBalance, DEV_PRIVATE_KEYS, stake, workerOnChain } from '../../lib/chain'
import { jobEscrowAbi } from '../../lib/chain/generated'
import type { Compute, JobHandle, JobProgress, TaskResult } from '../../lib/jobs'
import { MAX_CONSECUTIVE_TIMEOUTS, MAX_LEASES_PER_WORKER } from '../../lib/jobs/job-run'
import {
  createMeshNode,
  fromWireTensors,
  identityFromHex,
  type JobAnnouncement,
  onGossip,
  PROTOCOLS,
  request,
  sendResult,
  TOPICS,
  toWireTensors,
  waitForReservation,
  workResponseSchema,
} from '../../lib/mesh'
import type { Lease } from '../../lib/mesh/messages'
import {
  parseInputsJson,
  parsePolicy,
  resultHash,
  signResult,
  type TensorMap,
} from '../../lib/proofs'
import { seededInputs } from '../../lib/runtime/examples'
import {
  type NodeRequester,
  type NodeVolunteer,
  nodeReference,
  startNodeRequester,
  startNodeVolunteer,
} from '../../lib/sdk/node'
import {
  closeness,
  DEFAULT_RULE,
  type ReplicationRule,
  type TrustSettings,
  trustSettings,
  UNDEFENDED,
} from '../../lib/trust'
import { CHAIN_SCENARIOS } from './adversary-chain'
import { resultFlood } from './adversary-flood'
import { MESH_AUTHORITY_SCENARIOS } from './adversary-mesh'
import {
  allHeard,
  type ChaosNet,
  finishJob,
  MODEL,
  networkOf,
  onNet,
  type ScenarioSize,
  startFreeRider,
  when,
  withTimeout,
} from './chaos'

export type Role =
  | 'honest'
  | 'random-wrong'
  | 'colluding'
  | 'copier'
  | 'divergent'
  | 'sleeper'
  | 'broken-webgpu'

/** A sleeper answers honestly until `awake` is set, then like a colluder. */
export const sleeperSwitch = { awake: false }

export interface AdversaryResult {
  name: string
  tasks: number
  /** Accepted tasks whose outputs are far from the true ones. */
  wrongAccepted: number
  /** Honest workers excluded, failing a known-answer task, or counted wrong. */
  honestPunished: number
  /** Most tasks any colluder was leased before its exclusion; null if one was never excluded. */
  colludersExcludedWithin: number | null
  /** Results computed per accepted result. */
  effectiveRedundancy: number
  pass: boolean
  reasons: string[]
  details: Record<string, unknown>
  wallMs: number
}

export interface AdversaryScenario {
  name: string
  description: string
  run(size: ScenarioSize, log: (line: string) => void): Promise<AdversaryResult>
}

const POLICY = 'round:3'
const TASK_MS = 150

/** Compute for a role: the real model, then the role's twist on its outputs. */
export function roleCompute(role: Role, inner: Compute, copier?: CopierWatch): Compute {
  const mapFloats = (out: TensorMap, f: (x: number, i: number) => number): TensorMap =>
    Object.fromEntries(
      Object.entries(out).map(([k, t]) => {
        if (t.type !== 'float32') return [k, t]
        const data = Float32Array.from(t.data as Float32Array, f)
        return [k, { ...t, data }]
      }),
    )
  // Every run takes 0.7–1.3 × TASK_MS, drawn afresh: no worker is steadily first to ask.
  const padded: Compute = {
    ...inner,
    async run(h, inputs) {
      const started = performance.now()
      const out = await inner.run(h, inputs)
      const left = TASK_MS * (0.7 + 0.6 * Math.random()) - (performance.now() - started)
      if (left > 0) await new Promise((r) => setTimeout(r, left))
      return out
    },
  }
  const twist: Record<Role, (out: TensorMap) => TensorMap> = {
    honest: (o) => o,
    'broken-webgpu': (o) => o,
    'random-wrong': (o) => mapFloats(o, () => Math.random() * 10 - 5),
    colluding: (o) => mapFloats(o, (x) => x * 1.5 + 0.25),
    sleeper: (o) => (sleeperSwitch.awake ? mapFloats(o, (x) => x * 1.5 + 0.25) : o),
    copier: (o) => {
      copier?.attempt()
      return mapFloats(o, () => 0)
    },
    // A few float32 ulps, in a direction fixed per value: another backend's rounding.
    divergent: (o) => mapFloats(o, (x, i) => x * (1 + (i % 2 === 0 ? 3e-7 : -3e-7))),
  }
  if (role === 'broken-webgpu') {
    let demoted = false
    return {
      get backend() {
        return demoted ? inner.backend : 'webgpu'
      },
      get runtime() {
        return demoted ? inner.runtime : 'onnxruntime-web 1.30.0 (simulated broken WebGPU)'
      },
      prepare: (h, f) => padded.prepare(h, f),
      run: async (h, inputs) => {
        const out = await padded.run(h, inputs)
        return demoted ? out : mapFloats(out, (x) => x * 2 + 1)
      },
      demote: () => {
        demoted = true
      },
    }
  }
  return {
    backend: role === 'divergent' ? 'webgpu' : inner.backend,
    runtime: role === 'divergent' ? 'onnxruntime-web 1.30.0 (simulated WebGPU)' : inner.runtime,
    prepare: (h, f) => padded.prepare(h, f),
    run: async (h, inputs) => twist[role](await padded.run(h, inputs)),
  }
}

/** What a copier watches: every gossip message it receives, for anything carrying a result. */
export interface CopierWatch {
  attempt(): void
  stats: { attempts: number; messagesSeen: number; resultsFound: number }
}

function watchGossip(v: NodeVolunteer): CopierWatch {
  const stats = { attempts: 0, messagesSeen: 0, resultsFound: 0 }
  const pubsub = v.node.services.pubsub
  pubsub.addEventListener('message', (evt) => {
    stats.messagesSeen++
    const text = new TextDecoder().decode(evt.detail.data)
    if (/resultHash|outputs|signature/.test(text)) stats.resultsFound++
  })
  return { attempt: () => void stats.attempts++, stats }
}

interface Population {
  requester: NodeRequester
  volunteers: Array<{ v: NodeVolunteer; role: Role; key: Hex; watch?: CopierWatch | undefined }>
  roleOf: Map<string, Role>
}

async function startPopulation(
  net: ChaosNet,
  cleanup: Array<() => Promise<unknown>>,
  roles: Role[],
): Promise<Population> {
  const volunteers = await Promise.all(
    roles.map(async (role) => {
      const key = generatePrivateKey()
      const holder: { watch?: CopierWatch } = {}
      const v = await startNodeVolunteer({
        ...networkOf(net),
        key,
        wrapCompute: (c) => roleCompute(role, c, role === 'copier' ? lazyWatch(holder) : undefined),
      })
      if (role === 'copier') holder.watch = watchGossip(v)
      return { v, role, key, watch: holder.watch }
    }),
  )
  cleanup.push(() => Promise.all(volunteers.map((x) => x.v.stop())))
  const requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, networkOf(net))
  cleanup.push(() => requester.stop())
  const roleOf = new Map(volunteers.map((x) => [x.v.identity.address.toLowerCase(), x.role]))
  // Every volunteer in the gossip mesh before the job starts, so that all of them take part.
  await allHeard(
    requester,
    volunteers.map((x) => x.v),
  )
  return { requester, volunteers, roleOf }
}

/** The copier's watch exists only once its node does; the compute wrapper is made before. */
function lazyWatch(holder: { watch?: CopierWatch }): CopierWatch {
  return {
    attempt: () => holder.watch?.attempt(),
    get stats() {
      return holder.watch?.stats ?? { attempts: 0, messagesSeen: 0, resultsFound: 0 }
    },
  }
}

/** Gives each volunteer 1 ETH of stake (funded from a labelled dev account). */
async function stakeAll(net: ChaosNet, pop: Population, amount = parseEther('1')) {
  const funder = createWalletClient({
    account: privateKeyToAccount(DEV_PRIVATE_KEYS[2]!),
    chain: chainFor(net.chain),
    transport: http(net.chain.rpcUrl),
  })
  for (const { v } of pop.volunteers) {
    const hash = await funder.sendTransaction({
      to: v.identity.address,
      value: amount + parseEther('0.01'),
    })
    await net.client.waitForTransactionReceipt({ hash })
  }
  await Promise.all(
    pop.volunteers.map(({ key }) => {
      const wallet = createWalletClient({
        account: privateKeyToAccount(key),
        chain: chainFor(net.chain),
        transport: http(net.chain.rpcUrl),
      })
      return stake(wallet, net.client, net.chain.contract, amount)
    }),
  )
}

interface JobOptions {
  tasks: number
  replicas: number
  quorum: number
  trust: TrustSettings
  seed: number
  /** Known-answer tasks the requester computes itself (0: none). */
  canaries: number
  policy?: string
  /** Runs alongside the job once it is submitted (e.g. peers that join mid-job). */
  during?: ((handle: JobHandle) => Promise<unknown>) | undefined
}

interface Measured {
  final: JobProgress | undefined
  results: TaskResult[]
  settled: number
  doublePaid: number
  wrongAccepted: number
  accepted: number
  honestPunished: string[]
  colludersExcludedWithin: number | null
  effectiveRedundancy: number
}

async function runJob(net: ChaosNet, pop: Population, o: JobOptions): Promise<Measured> {
  const model = MODEL()
  const tasks = parseInputsJson(seededInputs(o.seed, o.tasks, { x: [1, 16] }))
  const ref = await nodeReference(model)
  try {
    const truth: TensorMap[] = []
    for (const t of tasks) truth.push(await ref.run(t))
    const job = await pop.requester.submit({
      model,
      modelFile: 'mlp-16x4.onnx',
      modelName: 'mlp-16x4',
      tasks,
      replicas: o.replicas,
      quorum: o.quorum,
      policy: parsePolicy(o.policy ?? POLICY),
      rewardPerResult: parseEther('0.0001'),
      durationSeconds: 3600,
      trust: o.trust,
      reference: o.canaries > 0 ? ref.run : undefined,
      canaryTasks: o.canaries,
    })
    const side = o.during?.(job.handle)
    const { final, settled, doublePaid } = await finishJob(net, job, 240_000)
    await side
    const results = job.handle.results()
    const progress = final ?? job.handle.progress()
    return { final, results, settled, doublePaid, ...judge(pop, progress, results, truth) }
  } finally {
    await ref.dispose()
  }
}

function judge(pop: Population, p: JobProgress, results: TaskResult[], truth: TensorMap[]) {
  let wrongAccepted = 0
  let accepted = 0
  for (const r of results) {
    if (r.status !== 'accepted' && r.status !== 'settled') continue
    accepted++
    if (!r.outputs || closeness(r.outputs, truth[r.taskIndex]!) === 'far') wrongAccepted++
  }
  const honest = (a: string) => {
    const role = pop.roleOf.get(a.toLowerCase())
    return role === 'honest' || role === 'divergent'
  }
  const honestPunished = p.workers
    .filter((w) => honest(w.address) && (w.excluded || w.canaryFailed > 0 || w.wrong > 0))
    .map((w) => w.address)
  // A broken GPU's garbage is wrong, and counted so; it must not cost the volunteer its place.
  for (const w of p.workers)
    if (
      pop.roleOf.get(w.address.toLowerCase()) === 'broken-webgpu' &&
      (w.excluded || w.canaryFailed > 0)
    )
      honestPunished.push(w.address)
  const colluders = p.workers.filter((w) => pop.roleOf.get(w.address.toLowerCase()) === 'colluding')
  const colludersExcludedWithin =
    colluders.length > 0 && colluders.every((w) => w.excluded)
      ? Math.max(...colluders.map((w) => w.leased))
      : null
  return {
    wrongAccepted,
    accepted,
    honestPunished,
    colludersExcludedWithin,
    effectiveRedundancy: accepted > 0 ? round2(p.resultsReceived / accepted) : 0,
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100

/** `n` roles, `bad` of them `role`, in random positions (earlier-started peers join first). */
function roles(n: number, bad: number, role: Role): Role[] {
  const r: Role[] = Array.from({ length: n }, (_, i) => (i < bad ? role : 'honest'))
  for (let i = r.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[r[i], r[j]] = [r[j]!, r[i]!]
  }
  return r
}

function finish(
  name: string,
  started: number,
  m: Pick<
    AdversaryResult,
    'tasks' | 'wrongAccepted' | 'honestPunished' | 'colludersExcludedWithin' | 'effectiveRedundancy'
  >,
  details: Record<string, unknown>,
  checks: Array<[boolean, string]>,
): AdversaryResult {
  const reasons = checks.filter(([ok]) => !ok).map(([, why]) => why)
  return { name, ...m, pass: reasons.length === 0, reasons, details, wallMs: Date.now() - started }
}

/** Wilson score interval for k successes in n trials. */
export function wilson(k: number, n: number, z: number): [number, number] {
  if (n === 0) return [0, 1]
  const p = k / n
  const d = 1 + (z * z) / n
  const c = (p + (z * z) / (2 * n)) / d
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d
  return [Math.max(0, c - h), Math.min(1, c + h)]
}

/** C(a, b) for real a ≥ 0 and whole b (the product formula). */
function choose(a: number, b: number): number {
  let r = 1
  for (let i = 1; i <= b; i++) r = (r * (a - b + i)) / i
  return Math.max(0, r)
}

/**
 * The rate at which colluders win a task undefended: at least `quorum` of its `replicas`
 * results come from colluders. Binomial: each result is a colluder's with probability `share`
 * (their measured share of all results). Hypergeometric: a task's replicas are distinct workers
 * drawn from `workers`, `share × workers` of them colluders — what the scheduler actually does
 * (no worker gets two replicas of one task), so this is the prediction the scenario checks.
 */
export function collusionWinRate(
  share: number,
  replicas: number,
  quorum: number,
  workers?: number,
): number {
  let p = 0
  for (let k = quorum; k <= replicas; k++) {
    p +=
      workers === undefined
        ? choose(replicas, k) * share ** k * (1 - share) ** (replicas - k)
        : (choose(share * workers, k) * choose(workers - share * workers, replicas - k)) /
          choose(workers, replicas)
  }
  return p
}

const sizeOf = (size: ScenarioSize, full: number, short: number) => (size === 'full' ? full : short)

const randomWrong: AdversaryScenario = {
  name: 'random-wrong',
  description:
    '30 % of the workers answer random numbers. No wrong result is accepted (two random answers never agree, and known-answer tasks exclude them); every task completes.',
  async run(size) {
    const started = Date.now()
    const n = sizeOf(size, 10, 6)
    const bad = Math.round(n * 0.3)
    const tasks = sizeOf(size, 100, 20)
    return onNet({}, async (net, cleanup) => {
      const pop = await startPopulation(net, cleanup, roles(n, bad, 'random-wrong'))
      const m = await runJob(net, pop, {
        tasks,
        replicas: 3,
        quorum: 2,
        trust: trustSettings('standard'),
        seed: 11,
        canaries: Math.ceil(tasks * 0.05),
      })
      const excluded = m.final?.workers.filter(
        (w) => pop.roleOf.get(w.address.toLowerCase()) === 'random-wrong' && w.excluded,
      ).length
      return finish(
        'random-wrong',
        started,
        { tasks, ...pick(m) },
        { workers: n, randomWrong: bad, randomWrongExcluded: excluded, settled: m.settled },
        [
          [m.wrongAccepted === 0, `${m.wrongAccepted} wrong results accepted`],
          [m.settled === tasks, `${tasks - m.settled} tasks not settled`],
          [m.doublePaid === 0, `${m.doublePaid} double payments`],
          [m.honestPunished.length === 0, `honest workers punished: ${m.honestPunished}`],
        ],
      )
    })
  },
}

const pick = (m: Measured) => ({
  wrongAccepted: m.wrongAccepted,
  honestPunished: m.honestPunished.length,
  colludersExcludedWithin: m.colludersExcludedWithin,
  effectiveRedundancy: m.effectiveRedundancy,
})

const colludingUndefended: AdversaryScenario = {
  name: 'colluding-undefended',
  description:
    '30 % of the workers collude (identical wrong answers), defences off (plain quorum 2 of 3, no known-answer tasks, no exclusions). The measured wrong-accept rate must match the prediction (≥ 2 of a task’s 3 distinct workers are colluders, given their measured share of the work; hypergeometric, the binomial is reported beside it) within its confidence interval: the harness measures what it claims.',
  async run(size) {
    const started = Date.now()
    const n = 10
    const bad = 3
    const tasks = sizeOf(size, 150, 40)
    return onNet({}, async (net, cleanup) => {
      const pop = await startPopulation(net, cleanup, roles(n, bad, 'colluding'))
      const m = await runJob(net, pop, {
        tasks,
        replicas: 3,
        quorum: 2,
        trust: UNDEFENDED,
        seed: 12,
        canaries: 0,
      })
      const all = m.results.flatMap((r) => [...r.agreeing, ...r.dissenting])
      const share =
        all.filter((a) => pop.roleOf.get(a.toLowerCase()) === 'colluding').length / all.length
      const predicted = collusionWinRate(share, 3, 2, n)
      const binomial = collusionWinRate(share, 3, 2)
      // 99 % interval at full size; 99.9 % in the short run CI makes (fewer tasks, no flakes).
      const z = size === 'full' ? 2.576 : 3.291
      const [lo, hi] = wilson(m.wrongAccepted, m.accepted, z)
      return finish(
        'colluding-undefended',
        started,
        { tasks, ...pick(m) },
        {
          workers: n,
          colluders: bad,
          measuredRate: round3(m.accepted ? m.wrongAccepted / m.accepted : 0),
          predictedRate: round3(predicted),
          binomialRate: round3(binomial),
          colluderShareOfResults: round3(share),
          interval: [round3(lo), round3(hi)],
          confidence: size === 'full' ? 0.99 : 0.999,
          accepted: m.accepted,
          // Tasks by how many colluders / workers returned a result for them.
          colludersPerTask: histogram(
            m.results.map(
              (r) =>
                [...r.agreeing, ...r.dissenting].filter(
                  (a) => pop.roleOf.get(a.toLowerCase()) === 'colluding',
                ).length,
            ),
          ),
          resultsPerTask: histogram(m.results.map((r) => r.agreeing.length + r.dissenting.length)),
          perWorker: participation(pop),
        },
        [
          [m.accepted === tasks, `${tasks - m.accepted} tasks not accepted`],
          [
            predicted >= lo && predicted <= hi,
            `predicted ${round3(predicted)} outside measured interval [${round3(lo)}, ${round3(hi)}]`,
          ],
        ],
      )
    })
  },
}

/** Per volunteer: its role, tasks delivered, and how it is connected to the requester. */
function participation(pop: Population) {
  return pop.volunteers.map((x) => {
    const st = x.v.worker.stats()
    const conns = x.v.node
      .getConnections(pop.requester.node.peerId)
      .map((c) => (c.remoteAddr.toString().includes('p2p-circuit') ? 'relayed' : 'direct'))
    return {
      role: x.role,
      done: st.tasksDone,
      conns,
      problems: st.problems.slice(-2).map((p) => p.message),
    }
  })
}

function histogram(xs: number[]): Record<number, number> {
  const h: Record<number, number> = {}
  for (const x of xs) h[x] = (h[x] ?? 0) + 1
  return h
}

const round3 = (x: number) => Math.round(x * 1000) / 1000

const colludingDefended: AdversaryScenario = {
  name: 'colluding-defended',
  description:
    '30 % colluders, defences on (known-answer tasks, held-back settlement, exclusion voiding their results). No wrong result is accepted; every colluder is excluded within 20 of its tasks.',
  async run(size) {
    const started = Date.now()
    const n = 10
    const bad = 3
    const tasks = sizeOf(size, 150, 40)
    return onNet({}, async (net, cleanup) => {
      const pop = await startPopulation(net, cleanup, roles(n, bad, 'colluding'))
      const m = await runJob(net, pop, {
        tasks,
        replicas: 3,
        quorum: 2,
        trust: trustSettings('standard'),
        seed: 13,
        canaries: Math.ceil(tasks * 0.05),
      })
      return finish(
        'colluding-defended',
        started,
        { tasks, ...pick(m) },
        {
          workers: n,
          colluders: bad,
          settled: m.settled,
          voidedResults: m.results.reduce((k, r) => k + r.voided.length, 0),
          colluderDetail: m.final?.workers
            .filter((w) => pop.roleOf.get(w.address.toLowerCase()) === 'colluding')
            .map((w) => ({ leased: w.leased, results: w.results, excluded: w.excluded })),
          workersSeen: m.final?.workers.length,
          perWorker: participation(pop),
        },
        [
          [m.wrongAccepted === 0, `${m.wrongAccepted} wrong results accepted`],
          [
            m.colludersExcludedWithin !== null && m.colludersExcludedWithin <= 20,
            `colluders excluded within ${m.colludersExcludedWithin ?? 'never'} tasks`,
          ],
          [m.settled === tasks, `${tasks - m.settled} tasks not settled`],
          [m.honestPunished.length === 0, `honest workers punished: ${m.honestPunished}`],
        ],
      )
    })
  },
}

const copier: AdversaryScenario = {
  name: 'copier',
  description:
    'Copiers look for other workers’ results (every gossip message they receive) to hand in as their own. Results travel only to the coordinator over direct streams, so they find none; their guesses gain no accepted result and no pay.',
  async run(size) {
    const started = Date.now()
    const n = sizeOf(size, 8, 5)
    const bad = 2
    const tasks = sizeOf(size, 60, 16)
    return onNet({}, async (net, cleanup) => {
      const pop = await startPopulation(net, cleanup, roles(n, bad, 'copier'))
      const m = await runJob(net, pop, {
        tasks,
        replicas: 3,
        quorum: 2,
        trust: trustSettings('standard'),
        seed: 14,
        canaries: Math.ceil(tasks * 0.05),
      })
      const copiers = pop.volunteers.filter((x) => x.role === 'copier')
      const agreed = m.results.reduce(
        (k, r) => k + r.agreeing.filter((a) => pop.roleOf.get(a.toLowerCase()) === 'copier').length,
        0,
      )
      const pay = await Promise.all(
        copiers.map((c) =>
          creditedBalance(net.client, net.chain.contract, c.v.identity.address as Address),
        ),
      )
      const found = copiers.reduce((k, c) => k + (c.watch?.stats.resultsFound ?? 0), 0)
      return finish(
        'copier',
        started,
        { tasks, ...pick(m) },
        {
          workers: n,
          copiers: bad,
          copierAgreeing: agreed,
          copierPayWei: pay.map(String),
          gossipMessagesSeen: copiers.map((c) => c.watch?.stats.messagesSeen ?? 0),
          copyAttempts: copiers.map((c) => c.watch?.stats.attempts ?? 0),
          resultsFoundOnGossip: found,
        },
        [
          [agreed === 0, `copiers in ${agreed} agreeing sets`],
          [
            pay.every((p) => p === 0n),
            `copiers were paid ${pay.filter((p) => p > 0n).length} times`,
          ],
          [found === 0, `${found} results seen on gossip`],
          [m.wrongAccepted === 0, `${m.wrongAccepted} wrong results accepted`],
          [m.settled === tasks, `${tasks - m.settled} tasks not settled`],
        ],
      )
    })
  },
}

const honestDivergence: AdversaryScenario = {
  name: 'honest-divergence',
  description:
    'All workers honest, half on another backend whose floats differ in the last bits, under a fine policy (round:5) and a coarse one (round:3); one more volunteer has a WebGPU path that computes garbage. Replicas come from one class where the policy needs it; a known-answer task answered within floating-point noise is not a failure; a wrong WebGPU answer to one stops the WebGPU results of that volunteer counting (it is not told, nor excluded) and it switches to WASM itself when its claim shows them unpaid. No honest worker is punished; every task completes.',
  async run(size) {
    const started = Date.now()
    const n = sizeOf(size, 8, 4)
    const tasks = sizeOf(size, 60, 16)
    return onNet({}, async (net, cleanup) => {
      const pop = await startPopulation(net, cleanup, [
        ...Array.from({ length: n }, (_, i): Role => (i % 2 === 0 ? 'divergent' : 'honest')),
        'broken-webgpu',
      ])
      const runs: Record<string, Measured> = {}
      for (const policy of ['round:5', 'round:3']) {
        runs[policy] = await runJob(net, pop, {
          tasks,
          replicas: 2,
          quorum: 2,
          trust: trustSettings('standard'),
          seed: policy === 'round:5' ? 15 : 16,
          canaries: Math.ceil(tasks * 0.05),
          policy,
        })
      }
      const all = Object.values(runs)
      const punished = new Set(all.flatMap((m) => m.honestPunished))
      const last = all.at(-1)!
      const divergent = last.final?.workers.reduce((k, w) => k + (w.dissented ?? 0), 0) ?? 0
      const broken = pop.volunteers.find((x) => x.role === 'broken-webgpu')!
      const brokenAddr = broken.v.identity.address.toLowerCase()
      const brokenSummary = all.map((m) =>
        m.final?.workers.find((w) => w.address.toLowerCase() === brokenAddr),
      )
      const brokenDemoted = broken.v.worker.stats().backend !== 'webgpu'
      const brokenExcluded = brokenSummary.some((w) => w?.excluded || (w?.canaryFailed ?? 0) > 0)
      const brokenAgreedAfter = all
        .at(-1)!
        .results.filter((r) => r.agreeing.some((a) => a.toLowerCase() === brokenAddr)).length
      return finish(
        'honest-divergence',
        started,
        {
          tasks: tasks * all.length,
          wrongAccepted: all.reduce((k, m) => k + m.wrongAccepted, 0),
          honestPunished: punished.size,
          colludersExcludedWithin: null,
          effectiveRedundancy: round2(
            all.reduce((k, m) => k + m.effectiveRedundancy, 0) / all.length,
          ),
        },
        {
          workers: n,
          perPolicy: Object.fromEntries(
            Object.entries(runs).map(([p, m]) => [
              p,
              {
                settled: m.settled,
                effectiveRedundancy: m.effectiveRedundancy,
                classes: [...new Set(m.results.flatMap((r) => r.classes))],
                mixedClassTasks: m.results.filter((r) => r.classes.length > 1).length,
                failed: m.results.filter((r) => r.status === 'failed').length,
              },
            ]),
          ),
          dissentsInLastJob: divergent,
          brokenWebgpu: {
            demoted: brokenDemoted,
            excluded: brokenExcluded,
            why: brokenSummary.map((w) => w?.excluded ?? null),
            agreeingResultsInLastJob: brokenAgreedAfter,
            leased: brokenSummary.map((w) => w?.leased ?? 0),
          },
        },
        [
          [punished.size === 0, `honest workers punished: ${[...punished]}`],
          [!brokenExcluded, 'the volunteer with a broken WebGPU path was excluded'],
          [
            brokenDemoted || brokenSummary.every((w) => (w?.leased ?? 0) === 0),
            'the broken WebGPU path was never switched to WASM',
          ],
          ...all.map((m, i): [boolean, string] => [
            m.settled === tasks,
            `job ${i + 1}: ${tasks - m.settled} tasks not settled`,
          ]),
        ],
      )
    })
  },
}

const freeRider: AdversaryScenario = {
  name: 'free-rider',
  description:
    'Free riders take leases and never answer. Each is refused work after at most 3 expired leases (it may hold one more lease at the moment it is refused); their tasks go to others; nothing is lost.',
  async run(size) {
    const started = Date.now()
    const honest = sizeOf(size, 4, 3)
    const riders = 2
    // Full size: long enough (over a minute) for three of a rider's leases to expire in turn.
    const tasks = sizeOf(size, 1000, 24)
    return onNet({}, async (net, cleanup) => {
      const pop = await startPopulation(net, cleanup, roles(honest, 0, 'honest'))
      const fr: Array<Awaited<ReturnType<typeof startFreeRider>>> = []
      cleanup.push(() => Promise.all(fr.map((f) => f.stop())))
      const m = await runJob(net, pop, {
        // Riders arrive once honest workers are timed, so their leases are sized from that.
        during: async (handle) => {
          await when(handle, (p) => p.resultsReceived >= honest)
          fr.push(...(await Promise.all(Array.from({ length: riders }, () => startFreeRider(net)))))
        },
        tasks,
        replicas: 2,
        quorum: 2,
        // Every task replicated: the job's length does not depend on how fast workers earn trust.
        trust: trustSettings('high'),
        seed: 17,
        canaries: Math.ceil(tasks * 0.05),
      })
      const leases = fr.map((f) => f.stats.leases)
      const timeouts = fr.map(
        (f) => m.final?.workers.find((w) => w.address.toLowerCase() === f.address)?.timeouts ?? 0,
      )
      const excluded = fr.filter((f) => f.stats.excludedAt !== undefined).length
      const limit = MAX_CONSECUTIVE_TIMEOUTS + MAX_LEASES_PER_WORKER - 1
      const checks: Array<[boolean, string]> = [
        [m.settled === tasks, `${tasks - m.settled} tasks lost`],
        [Math.max(...leases) <= limit, `a free rider got ${Math.max(...leases)} leases`],
      ]
      // A short job can end before the riders' third lease expires.
      if (size === 'full')
        checks.push([excluded === riders, `${riders - excluded} free riders never refused`])
      return finish(
        'free-rider',
        started,
        { tasks, ...pick(m) },
        {
          honest,
          freeRiders: riders,
          leasesPerFreeRider: leases,
          timeoutsPerFreeRider: timeouts,
          refused: excluded,
        },
        checks,
      )
    })
  },
}

/**
 * Trusted honest workers: after a warm-up job builds their records, a job under each adaptive
 * rule. The default rule must reach ≤ 1.3 results per accepted result.
 */
const steadyTrusted: AdversaryScenario = {
  name: 'steady-trusted',
  description:
    'Honest workers with a record (a warm-up job first; each stakes 1 ETH): results computed per accepted result under each adaptive rule (BOINC, P_verify) and under `high` (always replicated). The default rule must reach ≤ 1.3.',
  async run(size) {
    const started = Date.now()
    const n = sizeOf(size, 6, 4)
    const tasks = sizeOf(size, 200, 60)
    return onNet({}, async (net, cleanup) => {
      const pop = await startPopulation(net, cleanup, roles(n, 0, 'honest'))
      await stakeAll(net, pop)
      const warm = await runJob(net, pop, {
        tasks: sizeOf(size, 120, 60),
        replicas: 2,
        quorum: 2,
        trust: trustSettings('high'),
        seed: 18,
        canaries: 6,
      })
      const measured: Partial<Record<ReplicationRule, Measured>> = {}
      for (const rule of ['boinc', 'pverify', 'always'] as ReplicationRule[]) {
        measured[rule] = await runJob(net, pop, {
          tasks,
          replicas: 2,
          quorum: 2,
          trust: rule === 'always' ? trustSettings('high') : trustSettings('standard', rule),
          seed: 19,
          canaries: Math.ceil(tasks * 0.02),
        })
      }
      const def = measured[DEFAULT_RULE]!
      const all = [warm, ...Object.values(measured)]
      return finish(
        'steady-trusted',
        started,
        {
          tasks,
          wrongAccepted: all.reduce((k, m) => k + m.wrongAccepted, 0),
          honestPunished: new Set(all.flatMap((m) => m.honestPunished)).size,
          colludersExcludedWithin: null,
          effectiveRedundancy: def.effectiveRedundancy,
        },
        {
          workers: n,
          defaultRule: DEFAULT_RULE,
          warmUpRedundancy: warm.effectiveRedundancy,
          perRule: Object.fromEntries(
            Object.entries(measured).map(([r, m]) => [
              r,
              {
                effectiveRedundancy: m.effectiveRedundancy,
                single: m.results.filter((x) => x.verifiedBy === 'single').length,
                quorum: m.results.filter((x) => x.verifiedBy === 'quorum').length,
                knownAnswer: m.results.filter((x) => x.verifiedBy === 'known-answer').length,
                settled: m.settled,
              },
            ]),
          ),
        },
        [
          [def.effectiveRedundancy <= 1.3, `effective redundancy ${def.effectiveRedundancy} > 1.3`],
          ...all.map((m, i): [boolean, string] => [
            m.settled === m.results.length,
            `job ${i + 1}: ${m.results.length - m.settled} tasks not settled`,
          ]),
        ],
      )
    })
  },
}

/**
 * A trusted worker turns bad: after a warm-up job gives every worker a record, one of them
 * starts answering wrong. Under each adaptive rule (on a network of its own): wrong results
 * accepted before it is caught, and tasks it was leased meanwhile. This is what decides between
 * the rules; steady-trusted measures what each costs.
 */
const trustedTurnsBad: AdversaryScenario = {
  name: 'trusted-turns-bad',
  description:
    'After a warm-up job, one trusted worker of six starts answering wrong. Under BOINC and under P_verify (each staked 1 ETH): known-answer tasks must exclude it under both, and no wrong result may be accepted (what it decided alone is held back from settlement for a minute, and voided when it is caught).',
  async run(size) {
    const started = Date.now()
    const n = 6
    const tasks = sizeOf(size, 300, 80)
    const perRule: Record<string, Record<string, unknown>> = {}
    const measured: Partial<Record<ReplicationRule, Measured>> = {}
    for (const rule of ['boinc', 'pverify'] as ReplicationRule[]) {
      sleeperSwitch.awake = false
      await onNet({}, async (net, cleanup) => {
        const pop = await startPopulation(net, cleanup, ['sleeper', ...roles(n - 1, 0, 'honest')])
        await stakeAll(net, pop)
        await runJob(net, pop, {
          tasks: sizeOf(size, 120, 60),
          replicas: 2,
          quorum: 2,
          trust: trustSettings('high'),
          seed: 20,
          canaries: 6,
        })
        sleeperSwitch.awake = true
        const m = await runJob(net, pop, {
          tasks,
          replicas: 2,
          quorum: 2,
          // Short runs give the sleeper few leases: a higher canary rate makes its capture sure.
          trust: {
            ...trustSettings('standard', rule),
            ...(size === 'short' ? { canaryRate: 0.5 } : {}),
          },
          seed: 21,
          canaries: Math.ceil(tasks * 0.05),
        })
        measured[rule] = m
        const sleeper = m.final?.workers.find(
          (w) => pop.roleOf.get(w.address.toLowerCase()) === 'sleeper',
        )
        perRule[rule] = {
          wrongAccepted: m.wrongAccepted,
          sleeperLeased: sleeper?.leased,
          sleeperExcluded: sleeper?.excluded,
          effectiveRedundancy: m.effectiveRedundancy,
          settled: m.settled,
        }
      })
    }
    sleeperSwitch.awake = false
    const b = measured.boinc!
    const p = measured.pverify!
    const better: ReplicationRule = b.wrongAccepted <= p.wrongAccepted ? 'boinc' : 'pverify'
    return finish(
      'trusted-turns-bad',
      started,
      {
        tasks: tasks * 2,
        wrongAccepted: measured[DEFAULT_RULE]!.wrongAccepted,
        honestPunished: new Set([...b.honestPunished, ...p.honestPunished]).size,
        colludersExcludedWithin: null,
        effectiveRedundancy: measured[DEFAULT_RULE]!.effectiveRedundancy,
      },
      { workers: n, defaultRule: DEFAULT_RULE, fewerWrongUnder: better, perRule },
      [
        [
          Object.values(perRule).every((r) => r.sleeperExcluded),
          'the worker that turned bad was not excluded under every rule',
        ],
        [b.honestPunished.length + p.honestPunished.length === 0, 'honest workers punished'],
        [
          b.wrongAccepted + p.wrongAccepted === 0,
          `wrong accepted: ${b.wrongAccepted} (boinc), ${p.wrongAccepted} (pverify)`,
        ],
        [b.settled === tasks && p.settled === tasks, 'tasks not settled'],
      ],
    )
  },
}

/**
 * A staked peer that computes its task honestly (onnxruntime-node), sends that result, then
 * signs and sends a different one for the same task. Returns what it saw; `stop` ends it.
 */
async function startEquivocator(net: ChaosNet, stakeWei: bigint) {
  const key = generatePrivateKey()
  const identity = identityFromHex(key)
  const funder = createWalletClient({
    account: privateKeyToAccount(DEV_PRIVATE_KEYS[2]!),
    chain: chainFor(net.chain),
    transport: http(net.chain.rpcUrl),
  })
  await net.client.waitForTransactionReceipt({
    hash: await funder.sendTransaction({
      to: identity.address,
      value: stakeWei + parseEther('0.01'),
    }),
  })
  const wallet = createWalletClient({
    account: privateKeyToAccount(key),
    chain: chainFor(net.chain),
    transport: http(net.chain.rpcUrl),
  })
  await stake(wallet, net.client, net.chain.contract, stakeWei)
  const node = await createMeshNode({
    identity,
    relays: [net.relayAddr],
    allowPrivateAddresses: true,
  })
  await waitForReservation(node, 60_000)
  const stats = { leases: 0, acks: [] as string[] }
  const jobs = new Map<string, JobAnnouncement>()
  const unsubscribe = onGossip<JobAnnouncement>(node, TOPICS.jobs, (m) => {
    if (m.type === 'job') jobs.set(m.jobId, m)
  })
  const ref = await nodeReference(MODEL())
  const send = async (ann: JobAnnouncement, lease: Lease, outputs: TensorMap) => {
    const hash = resultHash(outputs, parsePolicy(ann.policy))
    const signature = await signResult(
      identity.account,
      { chainId: ann.chainId, contract: ann.contract as Address },
      { jobId: ann.jobId as Hex, taskIndex: lease.taskIndex, resultHash: hash },
    )
    const ack = await sendResult(
      node,
      ann.addrs.map((a) => multiaddr(a)),
      {
        type: 'result',
        jobId: ann.jobId,
        taskIndex: lease.taskIndex,
        leaseId: lease.leaseId,
        resultHash: hash,
        signature,
        backend: 'cpu',
        computeMs: 100,
      },
      toWireTensors(outputs),
    )
    stats.acks.push(
      ack.type === 'result-ack'
        ? `${ack.status}${ack.reason ? `: ${ack.reason}` : ''}`
        : ack.message,
    )
  }
  let stopped = false
  const loop = (async () => {
    while (!stopped && stats.leases === 0) {
      for (const ann of jobs.values()) {
        try {
          const res = await request(
            node,
            ann.addrs.map((a) => multiaddr(a)),
            PROTOCOLS.work,
            { type: 'work-request', jobId: ann.jobId, backend: 'cpu', runtime: 'equivocator' },
            workResponseSchema,
          )
          if (res.type !== 'lease') continue
          stats.leases++
          const honest = await ref.run(fromWireTensors(res.inputs))
          await send(ann, res, honest)
          const other = Object.fromEntries(
            Object.entries(honest).map(([k, t]) => [
              k,
              { ...t, data: Float32Array.from(t.data as Float32Array, (x) => x + 1) },
            ]),
          )
          await send(ann, res, other)
        } catch {}
      }
      await new Promise((r) => setTimeout(r, 300))
    }
  })()
  return {
    address: identity.address,
    stats,
    async stop() {
      stopped = true
      unsubscribe()
      await loop
      await node.stop()
      await ref.dispose()
    },
  }
}

const equivocator: AdversaryScenario = {
  name: 'equivocator',
  description:
    'A staked peer (1 ETH) signs two different results for the task it is leased and sends both. The coordinator refuses the second, excludes it, and slashes it on chain with the two signatures: its stake goes to zero, half is credited to the requester that reported it, half is burned. Honest work completes.',
  async run(size) {
    const started = Date.now()
    const tasks = sizeOf(size, 60, 16)
    const stakeWei = parseEther('1')
    return onNet({}, async (net, cleanup) => {
      const pop = await startPopulation(net, cleanup, roles(sizeOf(size, 5, 3), 0, 'honest'))
      const eq = await startEquivocator(net, stakeWei)
      cleanup.push(() => eq.stop())
      const reporter = pop.requester.wallet.account.address
      const before = await creditedBalance(net.client, net.chain.contract, reporter)
      // The honest volunteers wait (up to 30 s) until the equivocator holds a lease: on a small
      // job they could otherwise finish it before gossip brought the equivocator the announcement.
      for (const { v } of pop.volunteers) v.worker.pause()
      const m = await runJob(net, pop, {
        tasks,
        replicas: 2,
        quorum: 2,
        trust: trustSettings('standard'),
        seed: 22,
        canaries: Math.ceil(tasks * 0.05),
        during: async () => {
          for (let i = 0; i < 150 && eq.stats.leases === 0; i++)
            await new Promise((r) => setTimeout(r, 200))
          for (const { v } of pop.volunteers) v.worker.resume()
        },
      })
      // The slash is sent when the second result arrives; give its transaction a moment.
      let stakeLeft = stakeWei
      for (let i = 0; i < 40 && stakeLeft > 0n; i++) {
        stakeLeft = (await workerOnChain(net.client, net.chain.contract, eq.address)).stake
        if (stakeLeft > 0n) await new Promise((r) => setTimeout(r, 250))
      }
      const gained = (await creditedBalance(net.client, net.chain.contract, reporter)) - before
      const burned = await net.client.readContract({
        address: net.chain.contract,
        abi: jobEscrowAbi,
        functionName: 'burned',
      })
      const summary = m.final?.workers.find(
        (w) => w.address.toLowerCase() === eq.address.toLowerCase(),
      )
      return finish(
        'equivocator',
        started,
        { tasks, ...pick(m) },
        {
          leases: eq.stats.leases,
          acks: eq.stats.acks,
          excluded: summary?.excluded,
          stakeLeftWei: stakeLeft.toString(),
          reporterGainedWei: gained.toString(),
          burnedWei: burned.toString(),
          settled: m.settled,
        },
        [
          [eq.stats.leases > 0, 'the equivocator never got a lease'],
          [stakeLeft === 0n, `stake left ${stakeLeft}`],
          [gained === stakeWei / 2n, `reporter gained ${gained}`],
          [burned === stakeWei - stakeWei / 2n, `burned ${burned}`],
          [m.settled === tasks, `${tasks - m.settled} tasks not settled`],
          [m.wrongAccepted === 0, `${m.wrongAccepted} wrong accepted`],
        ],
      )
    })
  },
}

/** The harness scenarios, in the order `npm run adversary` runs them. */
export const ADVERSARY_SCENARIOS: AdversaryScenario[] = [
  randomWrong,
  colludingUndefended,
  colludingDefended,
  copier,
  honestDivergence,
  freeRider,
  steadyTrusted,
  trustedTurnsBad,
  equivocator,
  ...MESH_AUTHORITY_SCENARIOS,
  resultFlood,
  ...CHAIN_SCENARIOS,
]

export { withTimeout }
