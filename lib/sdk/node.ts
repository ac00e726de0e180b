/**
 * Node conveniences for the SDK and CLI: a requester or a volunteer from a key, an RPC URL,
 * relays and a contract address. Node only (onnxruntime-node). State is kept on disk when a
 * `dataDir` is given (lib/store/disk-node.ts: one SQLite file per key, `<dataDir>/<address>.sqlite`),
 * in memory otherwise.
 */

import { existsSync } from 'node:fs'
import { availableParallelism, totalmem } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { type Address, createWalletClient, type Hex, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  type ChainConfig,
  chainFor,
  checkClaims,
  payoutOf,
  publicClientFor,
  recordResults,
  redeemClaims,
  setPayouts,
  slash,
  validateChainConfig,
  type Wallet,
  workerOnChain,
} from '../chain'
import { createLogger, type Logger } from '../env/log'
import { probeCapability } from '../env/probe'
import { ConfigError, errorMessage, InvalidInputError } from '../errors'
import {
  type Compute,
  type Coordinator,
  createCoordinator,
  createWorker,
  type JobHandle,
  type Worker,
} from '../jobs'
import {
  createMeshNode,
  generateIdentity,
  type Identity,
  identityFromHex,
  installGossipValidators,
  type MeshNode,
  type PresenceService,
  startPresence,
  waitForReservation,
} from '../mesh'
import { packRecords, signRecord, type TensorMap } from '../proofs'
import { startRecoveryPool } from '../proofs/recover-pool-node'
import { createEngineCompute, createOrtEngine } from '../runtime'
import { sha256Hex } from '../runtime/model-source'
import type { Store } from '../store'
import { claimStore, openDiskStore } from '../store/disk-node'
import { openMemoryStore } from '../store/memory-node'
import { redeemHeldClaims } from './claims'
import { keepIdentity, loadIdentity } from './identity-store'
import { type JobRequest, resumeStoredJob, type SubmittedJob, submitJob } from './requester'

export interface NodeNetworkOptions extends ChainConfig {
  relays: string[]
  /** Allow loopback/private addresses (local networks). Default true. */
  allowPrivateAddresses?: boolean
  /** How long to wait for a relay reservation at start (ms). Default 20000. */
  joinTimeoutMs?: number
}

export interface NodeRequester {
  node: MeshNode
  /** The coordinator's key: named on chain as each job's coordinator, signs the claims. */
  identity: Identity
  store: Store
  coordinator: Coordinator
  wallet: ReturnType<typeof walletFor>
  client: ReturnType<typeof publicClientFor>
  contract: Address
  /** What this requester hears on the presence topic (volunteers online, their backends). */
  presence: PresenceService
  /** Pays createJob, stores the tasks and starts coordinating (see `submitJob`). */
  submit(req: JobRequest): Promise<SubmittedJob>
  /**
   * Coordinates again a job this requester's store holds (after a restart: `dataDir` and
   * `coordinator`), from its stored tasks, results and leases. Undefined when the store does
   * not hold the job or its model.
   */
  resume(jobId: Hex): Promise<JobHandle | undefined>
  stop(): Promise<void>
}

/** The store file of `address` in `dataDir`. */
export function storeFile(dataDir: string, address: Address): string {
  return join(dataDir, `${address.toLowerCase()}.sqlite`)
}

/**
 * Opens the disk store of `address` in `dataDir` for this process (locked against a second
 * process running as the same key). Its `close` also releases the lock.
 */
function openOwnStore(dataDir: string, address: Address): Store {
  const file = storeFile(dataDir, address)
  const release = claimStore(file)
  let store: Store
  try {
    store = openDiskStore(file)
  } catch (err) {
    release()
    throw err
  }
  return {
    ...store,
    close() {
      store.close()
      release()
    },
  }
}

/**
 * A viem wallet client for a private key (Node: the CLI and scripts). Nonces come from the chain
 * for each transaction: viem's nonce manager caches them per address and chain id in the
 * process, which left every transaction stuck after a local chain restarted (benchmarks and
 * harnesses start several anvil instances with the same dev keys).
 */
export function walletFor(key: Hex, cfg: Pick<ChainConfig, 'rpcUrl' | 'chainId'>) {
  return createWalletClient({
    account: privateKeyToAccount(key),
    chain: chainFor(cfg),
    transport: http(cfg.rpcUrl),
  })
}

/**
 * The wallet with its sends queued: each transaction is handed to the node before the next one
 * asks for its nonce (the node counts pending transactions), so a process that settles, delivers
 * and pays with one key at once does not send two transactions with the same nonce. Waiting
 * for receipts is not queued.
 */
export function oneSendAtATime<
  W extends Pick<Wallet, 'writeContract' | 'sendTransaction' | 'deployContract'>,
>(wallet: W): W {
  let last: Promise<unknown> = Promise.resolve()
  const queued =
    <A extends unknown[], R>(send: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      const next = last.then(
        () => send(...args),
        () => send(...args),
      )
      last = next.catch(() => {})
      return next
    }
  return {
    ...wallet,
    writeContract: queued(wallet.writeContract.bind(wallet)),
    sendTransaction: queued(wallet.sendTransaction.bind(wallet)),
    deployContract: queued(wallet.deployContract.bind(wallet)),
  }
}

async function meshNodeFor(
  identity: Identity,
  opts: NodeNetworkOptions,
  role: 'requester' | 'volunteer',
  log: Logger,
) {
  const node = await createMeshNode({
    identity,
    relays: opts.relays,
    allowPrivateAddresses: opts.allowPrivateAddresses ?? true,
  })
  installGossipValidators(node)
  try {
    await waitForReservation(node, opts.joinTimeoutMs ?? 20_000)
  } catch (err) {
    await node.stop()
    throw err
  }
  log.info('joined the mesh', { peerId: node.peerId.toString() })
  return { node, presence: startPresence({ node, role }) }
}

/**
 * A requester: `key` pays for jobs; the mesh identity, which is also the jobs' coordinator key,
 * is `coordinatorKey` or a fresh key of its own. When a job ends it records the accepted results
 * and redeems every worker's final claim from `key`'s wallet (`finishOnChain`, default on):
 * the requester pays that gas, and workers need not send anything.
 */
export async function startNodeRequester(
  key: Hex,
  opts: NodeNetworkOptions & {
    /** The coordinator's key (the node's identity). Default: a fresh one per start. */
    coordinatorKey?: Hex | undefined
    /** Record results and redeem workers' claims when a job ends. Default true. */
    finishOnChain?: boolean | undefined
    /**
     * Keep the coordinator's key and its jobs (tasks, results, leases, claims) on disk here, in
     * `<dataDir>/<coordinator address>.sqlite`, so that a killed requester can `resume` its jobs.
     * Default: in memory, lost with the process.
     */
    dataDir?: string | undefined
    /** With `dataDir`: reopen the store of this coordinator (its key is kept there). */
    coordinator?: Address | undefined
    /**
     * Worker threads that recover results' signers (lib/proofs/recover-pool-node.ts), most of
     * the CPU a result costs the coordinator; 0 keeps it on the event loop. Default 0.
     */
    recoveryThreads?: number | undefined
  },
): Promise<NodeRequester> {
  const cfg = validateChainConfig(opts)
  const threads = opts.recoveryThreads ?? 0
  if (!(Number.isInteger(threads) && threads >= 0))
    throw new InvalidInputError(`recoveryThreads must be a whole number ≥ 0, not ${threads}.`)
  const log = createLogger('requester')
  const { identity, store } = await requesterState(opts)
  let node: MeshNode
  let presence: PresenceService
  try {
    ;({ node, presence } = await meshNodeFor(identity, opts, 'requester', log))
  } catch (err) {
    store.close()
    throw err
  }
  // Queued: payout records, slashes, the end-of-job record and redemption (and a bridge's
  // deliveries) share this key, and two sends must not take the same nonce (a record once failed
  // so while a payout record was pending).
  const wallet = oneSendAtATime(walletFor(key, cfg))
  const client = publicClientFor(cfg)
  const domain = { chainId: cfg.chainId, contract: cfg.contract }
  const recovery = threads > 0 ? startRecoveryPool(threads) : undefined
  const coordinator = createCoordinator({
    node,
    identity,
    store,
    recoverSigner: recovery?.recover,
    chain:
      opts.finishOnChain === false
        ? undefined
        : {
            async record(jobId, entries) {
              const tasks = packRecords(entries)
              const signature = await signRecord(
                identity.account,
                domain,
                jobId,
                tasks,
                wallet.account.address,
              )
              return recordResults(
                wallet,
                client,
                cfg.contract,
                jobId,
                entries,
                signature,
                wallet.account.address,
              )
            },
            async redeem(claims) {
              // Only what the chain would pay now: a claim a worker redeemed itself meanwhile,
              // or one of a worker that unstaked below the job's minStake, must not make the
              // whole batch fail. Checked again once if one is refused between check and send.
              for (let attempt = 0; ; attempt++) {
                const { redeemable, refused } = await checkClaims(
                  client,
                  cfg.contract,
                  claims,
                  wallet.account.address,
                )
                for (const r of refused)
                  log.info('claim not redeemed for its worker', {
                    worker: r.claim.worker,
                    reason: r.reason,
                  })
                if (redeemable.length === 0) return { txHash: '0x' as Hex, gasUsed: 0n }
                try {
                  return await redeemClaims(wallet, client, cfg.contract, redeemable)
                } catch (err) {
                  if (attempt >= 1) throw err
                }
              }
            },
          },
    log: createLogger('coordinator'),
    stakeOf: async (worker) => (await workerOnChain(client, cfg.contract, worker)).stake,
    slasher: (e) => slash(wallet, client, cfg.contract, e),
    payouts: {
      current: (worker) => payoutOf(client, cfg.contract, worker),
      submit: (auths) => setPayouts(wallet, client, cfg.contract, auths),
    },
  })
  await coordinator.start()
  return {
    node,
    identity,
    store,
    coordinator,
    wallet,
    client,
    contract: cfg.contract,
    presence,
    submit: (req) =>
      submitJob(
        {
          wallet,
          client,
          contract: cfg.contract,
          store,
          coordinator,
          coordinatorAddress: identity.address,
        },
        req,
      ),
    resume: (jobId) => resumeStoredJob({ store, coordinator }, jobId),
    async stop() {
      presence.stop()
      await coordinator.stop()
      await node.stop()
      await recovery?.close()
      store.close()
    },
  }
}

/** The requester's coordinator identity and store: on disk with `dataDir`, else in memory. */
async function requesterState(opts: {
  coordinatorKey?: Hex | undefined
  dataDir?: string | undefined
  coordinator?: Address | undefined
}): Promise<{ identity: Identity; store: Store }> {
  if (!opts.dataDir) {
    if (opts.coordinator)
      throw new ConfigError('Reopening a coordinator needs the data directory that keeps it.')
    const identity = opts.coordinatorKey
      ? identityFromHex(opts.coordinatorKey)
      : await generateIdentity()
    return { identity, store: await openMemoryStore() }
  }
  if (opts.coordinator) {
    const file = storeFile(opts.dataDir, opts.coordinator)
    if (!existsSync(file))
      throw new ConfigError(`No coordinator ${opts.coordinator} is kept in ${opts.dataDir}.`, {
        hint: 'Run it from the directory (or --data-dir) that submitted the job.',
      })
    const store = openOwnStore(opts.dataDir, opts.coordinator)
    const identity = await loadIdentity(store)
    if (identity?.address.toLowerCase() !== opts.coordinator.toLowerCase()) {
      store.close()
      throw new ConfigError(`${file} does not hold the key of coordinator ${opts.coordinator}.`)
    }
    return { identity, store }
  }
  const identity = opts.coordinatorKey
    ? identityFromHex(opts.coordinatorKey)
    : await generateIdentity()
  const store = openOwnStore(opts.dataDir, identity.address)
  await keepIdentity(store, identity)
  return { identity, store }
}

/**
 * The requester's own runtime for known-answer tasks (JobRequest.reference): onnxruntime-node,
 * one thread, the same build Node volunteers use. Dispose it when the job is submitted.
 */
export async function nodeReference(model: Uint8Array) {
  const engine = createOrtEngine(ort, {
    backend: 'cpu',
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
  })
  const hash = await sha256Hex(model)
  await engine.load(hash, model)
  return {
    run: (inputs: TensorMap) => engine.run(hash, inputs),
    dispose: () => engine.dispose(),
  }
}

export interface NodeVolunteer {
  identity: Identity
  node: MeshNode
  worker: Worker
  /** Redeems every claim held that the chain has not paid (no-op without a funded key). */
  redeem(): Promise<void>
  stop(): Promise<void>
}

/**
 * A volunteer in Node with onnxruntime-node: servers can donate too. `key` is its payout key
 * (its mesh identity is the same key); a fresh one is made when omitted.
 */
export interface NodeVolunteerOptions extends NodeNetworkOptions {
  /** Payout and mesh key; a fresh one when omitted. */
  key?: Hex
  threads?: number
  /**
   * The volunteer's store (its outbox of undelivered results, what it signed, its claims).
   * Default: on disk in `dataDir` when given, else a fresh in-memory one; either is closed on
   * stop. One passed in stays open, so a restarted volunteer can deliver its outbox.
   */
  store?: Store
  /**
   * Keep the volunteer's state on disk here, in `<dataDir>/<address>.sqlite` (needs `key`): a
   * restarted volunteer delivers its outbox, never signs a second result for a task, and keeps
   * its claims for `meshwork claims` / `meshwork redeem`.
   */
  dataDir?: string
  /** Wraps the compute port: test harnesses make slow, faulty or adversarial volunteers. */
  wrapCompute?: (compute: Compute) => Compute
  /** Where its pay goes instead of `key`'s address (recorded by the coordinators that pay it). */
  payout?: Address
  /**
   * Redeem its claims from `key`'s own wallet when a job ends and when it stops. Default: on
   * when `key` is given (a fresh key holds no ether to pay the gas).
   */
  redeem?: boolean
}

export async function startNodeVolunteer(opts: NodeVolunteerOptions): Promise<NodeVolunteer> {
  const cfg = validateChainConfig(opts)
  const log = createLogger('volunteer')
  if (opts.dataDir && !opts.key && !opts.store)
    throw new ConfigError('A volunteer kept on disk (dataDir) needs its key.')
  const identity = opts.key ? identityFromHex(opts.key) : await generateIdentity()
  const store =
    opts.store ??
    (opts.dataDir ? openOwnStore(opts.dataDir, identity.address) : await openMemoryStore())
  let node: MeshNode
  let presence: PresenceService
  try {
    ;({ node, presence } = await meshNodeFor(identity, opts, 'volunteer', log))
  } catch (err) {
    if (!opts.store) store.close()
    throw err
  }
  const engine = createOrtEngine(ort, {
    backend: 'cpu',
    executionProviders: ['cpu'],
    intraOpNumThreads: opts.threads ?? 1,
  })
  const base = createEngineCompute({ engine, runtime: 'onnxruntime-node 1.30.0', store })
  const compute = opts.wrapCompute ? opts.wrapCompute(base) : base
  const worker = createWorker({
    node,
    identity,
    store,
    compute,
    chain: { client: publicClientFor(cfg), chainId: cfg.chainId, contract: cfg.contract },
    log,
    payout: opts.payout,
    capability: probeCapability({ memoryGb: totalmem() / 2 ** 30, cores: availableParallelism() }),
  })
  worker.start()
  const wallet =
    (opts.redeem ?? opts.key !== undefined) && opts.key ? walletFor(opts.key, cfg) : undefined
  const client = publicClientFor(cfg)
  let redeeming: Promise<unknown> = Promise.resolve()
  const redeem = (jobIds?: Hex[]) => {
    if (!wallet) return redeeming
    redeeming = redeeming
      .then(async () => {
        // A key with no ether cannot pay the gas: its claims wait (the coordinator, or anyone,
        // may redeem them for it).
        if ((await client.getBalance({ address: identity.address })) === 0n) return
        const r = await redeemHeldClaims(
          worker,
          wallet,
          client,
          cfg.contract,
          jobIds ? { jobIds } : {},
        )
        if (r.redeemed > 0) log.info('claims redeemed', { claims: r.redeemed, wei: String(r.paid) })
      })
      .catch((err) => log.warn('redeeming claims failed', { error: errorMessage(err) }))
    return redeeming
  }
  worker.events.addEventListener(
    'job-ended',
    (e) => void redeem([(e as CustomEvent<{ jobId: Hex }>).detail.jobId]),
  )
  return {
    identity,
    node,
    worker,
    redeem: async () => {
      await redeem()
    },
    async stop() {
      // Bounded: a chain that went away must not hold up the stop.
      await Promise.race([redeem(), new Promise((r) => setTimeout(r, 10_000).unref())])
      await worker.stop()
      presence.stop()
      await engine.dispose()
      await node.stop()
      if (!opts.store) store.close()
    },
  }
}
