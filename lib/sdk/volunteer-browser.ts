/**
 * Browser only: a volunteer session in a tab. libp2p runs on the page's main thread (WebRTC is
 * not available in workers); inference runs in a Web Worker. Nothing starts until `start` is
 * called, which the page does only when the person presses Start.
 */
import { type Address, createWalletClient, type Hex, http } from 'viem'
import {
  chainFor,
  creditedBalance,
  payoutOf,
  publicClientFor,
  requestUnstake,
  sendBalance,
  setPayouts,
  type Wallet,
  type WorkerOnChain,
  workerOnChain,
} from '../chain'
import type { AppConfig } from '../env/app-config'
import { createLogger } from '../env/log'
import { probeCapability } from '../env/probe'
import {
  createWorker,
  payoutAuthorisation,
  type ThrottleSettings,
  validateThrottle,
  type Worker,
  type WorkerStats,
} from '../jobs'
import {
  createMeshNode,
  installGossipValidators,
  type MeshNode,
  type PresenceService,
  startPresence,
  waitForReservation,
} from '../mesh'
import {
  type BackendPreference,
  createEngineCompute,
  originSource,
  parseManifest,
} from '../runtime'
import { createWorkerEngine, type WorkerEngine } from '../runtime/engine-worker-browser'
import { openStore } from '../store'
import { loadOrCreateIdentity } from './identity-store'

export interface VolunteerOptions {
  config: AppConfig
  prefer?: BackendPreference
  threads?: number
  /** Share of time to compute, visible and hidden (default: all of it visible, half hidden). */
  throttle?: Partial<ThrottleSettings>
  /** Where this tab's pay goes instead of its own key's address (an embedding site's treasury). */
  payout?: Address | undefined
}

export interface VolunteerSnapshot {
  peerId: string
  address: Address
  relayConnected: boolean
  reservation: boolean
  peers: number
  directPeers: number
  /** Peer ids this tab has a direct (WebRTC) connection to. */
  directPeerIds: string[]
  backend: string
  threads: number
  webgpu: string
  worker: WorkerStats
}

export interface VolunteerSession {
  address: Address
  /** Where withdrawals of this tab's pay go (`VolunteerOptions.payout`); undefined: `address`. */
  payout: Address | undefined
  node: MeshNode
  worker: Worker
  engine: WorkerEngine
  presence: PresenceService
  snapshot(): VolunteerSnapshot
  /** Changes the share of the machine given, from the next task on. */
  setThrottle(t: Partial<ThrottleSettings>): void
  /** Wei credited on chain and not yet withdrawn. */
  credited(): Promise<bigint>
  /** Pay, stake and record on chain. */
  onChain(): Promise<WorkerOnChain>
  /** Ether held by this tab's address (withdrawn pay and stake land here). */
  balance(): Promise<bigint>
  /** Starts unstaking `amount` wei; signed and paid for by this tab's key. */
  unstake(amount: bigint): Promise<{ unlockAt: number }>
  /** Sends everything this tab's address holds, less the fee, to `to`. */
  sendBalance(to: Address): Promise<{ amount: bigint }>
  /**
   * Makes the chain send this tab's pay to `payout` before a withdrawal: records the tab's
   * signed authorisation (the one its work requests carry), `wallet` paying the gas, unless the
   * chain has it already (a requester that paid the tab records it too). False: no payout set.
   */
  recordPayout(wallet: Wallet): Promise<boolean>
  stop(): Promise<void>
}

export async function startVolunteer(opts: VolunteerOptions): Promise<VolunteerSession> {
  const { config } = opts
  const log = createLogger('volunteer')
  const store = await openStore({ name: 'meshwork-volunteer' })
  const identity = await loadOrCreateIdentity(store, { atRest: 'wrapped' })
  const engine = await createWorkerEngine({
    prefer: opts.prefer ?? 'auto',
    ...(opts.threads ? { threads: opts.threads } : {}),
  })
  const manifest = await fetch(`${config.modelsBase}/manifest.json`)
    .then((r) => r.json())
    .then(parseManifest)
    .catch(() => undefined)
  const fileFor = (hash: string) =>
    manifest?.models.find((m) => m.sha256.toLowerCase() === hash.toLowerCase())?.file
  const compute = createEngineCompute({
    engine,
    runtime: 'onnxruntime-web 1.30.0',
    store,
    sources: [originSource(config.modelsBase, fileFor)],
  })
  const node = await createMeshNode({
    identity,
    relays: config.relays,
    allowPrivateAddresses: config.dev,
  })
  installGossipValidators(node)
  const client = publicClientFor(config)
  /** This tab's own key as a wallet: it pays gas from what it earned. */
  const tabWallet = () =>
    createWalletClient({
      account: identity.account,
      chain: chainFor(config),
      transport: http(config.rpcUrl),
    })
  const workerChain = { client, chainId: config.chainId, contract: config.contract }
  let throttle = validateThrottle(opts.throttle ?? {})
  const worker = createWorker({
    payout: opts.payout,
    // A ~5–50 ms kernel on this thread, once at start.
    capability: probeCapability(),
    throttle: () => ({
      settings: throttle,
      hidden: typeof document !== 'undefined' && document.visibilityState === 'hidden',
    }),
    node,
    identity,
    store,
    compute,
    chain: workerChain,
    log,
  })
  const presence = startPresence({
    node,
    role: 'volunteer',
    info: () => ({ backend: compute.backend, tasksDone: worker.stats().tasksDone }),
  })
  worker.start()
  waitForReservation(node, 60_000).catch((err) =>
    log.warn('no reservation yet', { error: String(err) }),
  )
  // A closing or reloading page hangs up its connections, so that coordinators see it gone at
  // once: otherwise they listed its WebRTC connections as open for up to 6.8 s (measured).
  const onPageHide = (e: PageTransitionEvent) => {
    if (!e.persisted) for (const c of node.getConnections()) c.abort(new Error('page closed'))
  }
  if (typeof window !== 'undefined') window.addEventListener('pagehide', onPageHide)
  const relayPeers = new Set(config.relays.map((r) => r.split('/p2p/').pop()))
  const gpu = engine.init.capabilities.webgpu
  return {
    address: identity.address,
    payout: opts.payout,
    node,
    worker,
    engine,
    presence,
    snapshot: () => ({
      peerId: node.peerId.toString(),
      address: identity.address,
      relayConnected: node.getConnections().some((c) => relayPeers.has(c.remotePeer.toString())),
      reservation: node.getMultiaddrs().some((m) => m.toString().includes('/p2p-circuit')),
      peers: presence.peers().length,
      directPeers: presence.directPeers().length,
      directPeerIds: presence.directPeers(),
      backend: compute.backend,
      threads: engine.init.threads,
      webgpu: gpu
        ? `${gpu.vendor || 'unknown'} ${gpu.architecture}${gpu.software ? ' (software)' : ''}`.trim()
        : 'none',
      worker: worker.stats(),
    }),
    setThrottle(t) {
      throttle = validateThrottle({ ...throttle, ...t })
    },
    credited: () => creditedBalance(client, config.contract, identity.address),
    onChain: () => workerOnChain(client, config.contract, identity.address),
    balance: () => client.getBalance({ address: identity.address }),
    unstake: (amount) => requestUnstake(tabWallet(), client, config.contract, amount),
    sendBalance: (to) => sendBalance(tabWallet(), client, to),
    async recordPayout(wallet) {
      if (!opts.payout) return false
      const onChain = await payoutOf(client, config.contract, identity.address)
      if (onChain.payout?.toLowerCase() === opts.payout.toLowerCase()) return true
      const auth = await payoutAuthorisation(store, identity, workerChain, opts.payout)
      await setPayouts(wallet, client, config.contract, [
        {
          worker: identity.address,
          payout: opts.payout,
          nonce: BigInt(auth.nonce),
          signature: auth.signature as Hex,
        },
      ])
      return true
    },
    async stop() {
      if (typeof window !== 'undefined') window.removeEventListener('pagehide', onPageHide)
      await worker.stop()
      presence.stop()
      await node.stop()
      await engine.dispose()
      store.close()
    },
  }
}
