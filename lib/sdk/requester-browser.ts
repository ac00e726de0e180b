/**
 * Browser only: the requester tab's coordinator. One per tab, kept across page navigations, and
 * rebuilt from IndexedDB after a reload: every running job is resumed with its stored tasks and
 * results. The tab's own key (IndexedDB) is each job's coordinator on chain: it signs the
 * workers' claims, so the connected wallet is asked exactly once per job, for `createJob` with
 * its escrow, and never again however long the job runs. Workers redeem their claims
 * themselves; equivocation evidence is kept for whoever wants to report it.
 */
import type { Hex } from 'viem'
import { publicClientFor, type Wallet, workerOnChain } from '../chain'
import type { AppConfig } from '../env/app-config'
import { createLogger } from '../env/log'
import { ChainError } from '../errors'
import { type Coordinator, createCoordinator, type JobHandle } from '../jobs'
import { createMeshNode, installGossipValidators, type MeshNode, startPresence } from '../mesh'
import { openStore, type Store } from '../store'
import { loadOrCreateIdentity } from './identity-store'
import { type JobRequest, resumeStoredJob, type SubmittedJob, submitJob } from './requester'
import { setTabCoordinator } from './tab-coordinator'

export interface RequesterSession {
  node: MeshNode
  store: Store
  coordinator: Coordinator
  setWallet(wallet: Wallet | undefined): void
  submit(req: JobRequest): Promise<SubmittedJob>
  /** The running handle for a job, resuming it from the store if needed. */
  job(jobId: Hex): Promise<JobHandle | undefined>
}

let session: Promise<RequesterSession> | undefined

export function requesterSession(config: AppConfig): Promise<RequesterSession> {
  session ??= open(config).catch((err) => {
    session = undefined
    throw err
  })
  return session
}

async function open(config: AppConfig): Promise<RequesterSession> {
  const store = await openStore({ name: 'meshwork-requester' })
  const identity = await loadOrCreateIdentity(store, { atRest: 'wrapped' })
  const node = await createMeshNode({
    identity,
    relays: config.relays,
    allowPrivateAddresses: config.dev,
  })
  installGossipValidators(node)
  startPresence({ node, role: 'requester' })
  const client = publicClientFor(config)
  let wallet: Wallet | undefined
  const coordinator = createCoordinator({
    node,
    identity,
    store,
    log: createLogger('coordinator'),
    stakeOf: async (worker) => (await workerOnChain(client, config.contract, worker)).stake,
  })
  await coordinator.start()
  setTabCoordinator(() => coordinator.stats())

  const resume = (jobId: Hex) => resumeStoredJob({ store, coordinator }, jobId)
  // A reloaded tab picks up every job it was coordinating.
  for (const job of await store.listJobs()) if (job.status === 'running') await resume(job.jobId)

  return {
    node,
    store,
    coordinator,
    setWallet: (w) => {
      wallet = w
    },
    submit(req) {
      if (!wallet) throw new ChainError('Connect a wallet first.')
      return submitJob(
        {
          wallet,
          client,
          contract: config.contract,
          store,
          coordinator,
          coordinatorAddress: identity.address,
        },
        req,
      )
    },
    job: resume,
  }
}
