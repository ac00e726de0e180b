/**
 * `lib/store`: the one persistent schema of Meshwork, on IndexedDB through idb. Browsers use the
 * page's IndexedDB; Node processes (SDK, CLI, tests) pass another `IDBFactory` (fake-indexeddb,
 * in memory). Imports nothing above it.
 *
 * Invariants:
 * - a model is stored only after its sha256 matched its hash key (the runtime checks first);
 * - a task's results are append-only: a stored result is never replaced or dropped (one that
 *   stops counting, because its worker was excluded, is marked `void`);
 * - an outbox entry is deleted only after the coordinator acknowledged the result;
 * - a worker's signed record of a (job, task) is written before its signature leaves the process
 *   and is never replaced: a worker signs at most one result per task (docs/trust.md);
 * - a worker's stored claim for a job is replaced only by one covering more results.
 */
import { type DBSchema, type IDBPDatabase, openDB } from 'idb'
import type { Address, Hex } from 'viem'
import type { Certificate, JobSpec, SignedResult, TensorMap } from '../proofs'

export interface ModelRecord {
  /** sha256 of `bytes`, 0x-prefixed. */
  hash: Hex
  bytes: Uint8Array
  name?: string | undefined
  storedAt: number
}

/** What a coordinator remembers about a job it runs. */
export interface JobRecord {
  jobId: Hex
  spec: JobSpec
  chainId: number
  contract: Address
  requester: Address
  createdAt: number
  status: 'running' | 'complete' | 'expired'
  /** Model name shown to people; the hash is the identity. */
  modelName?: string | undefined
  /** Catalogue file name, announced so that tabs can fetch the model from the app origin. */
  modelFile?: string | undefined
}

export type TaskStatus = 'open' | 'accepted' | 'settled' | 'failed'

/** One task of a job, as its coordinator tracks it. */
export interface TaskRecord {
  jobId: Hex
  taskIndex: number
  status: TaskStatus
  inputs: TensorMap
  /** Signed results received, one per worker, in arrival order. */
  results: Array<
    SignedResult & {
      receivedAt: number
      backend: string
      outputs: TensorMap
      /** Equivalence class of the worker when it computed this (backend/precision/runtime). */
      class?: string | undefined
      /** Set when the result no longer counts: its worker was excluded (why). */
      void?: string | undefined
    }
  >
  certificate?: Certificate | undefined
  settleTx?: Hex | undefined
  failure?: string | undefined
  /** Addresses (lowercase) of every worker ever leased this task; results only from these. */
  leasedTo?: string[] | undefined
  /** Excluded workers given this task by a lease that counts toward nothing (JobRun). */
  shadowLeasedTo?: string[] | undefined
  /**
   * The task's leases as last written (when one was issued): a restarted coordinator keeps those
   * not expired and not answered, instead of handing their replicas out again.
   */
  leases?: StoredLease[] | undefined
  /** Adaptive replication: the trusted worker (lowercase) whose result alone decides this task. */
  single?: string | undefined
  /** Homogeneous redundancy: the equivalence class every replica of this task comes from. */
  class?: string | undefined
}

export interface StoredLease {
  id: string
  /** Lowercase address. */
  worker: string
  issuedAt: number
  expiresAt: number
  canary: boolean
}

/** A worker's signed result kept until the coordinator acknowledges it. */
export interface OutboxRecord {
  jobId: Hex
  taskIndex: number
  coordinator: string
  leaseId: string
  resultHash: Hex
  signature: Hex
  outputs: TensorMap
  backend: string
  createdAt: number
  /** The coordinator's addresses when the result was made (newer announcements win). */
  coordinatorAddrs?: string[] | undefined
  /** How long the compute took (ms), reported to the coordinator with the result. */
  computeMs?: number | undefined
  /** The job's deadline (unix seconds): past it the result can no longer be paid. */
  deadline?: number | undefined
}

/**
 * What a worker signed for one task. Kept for as long as the job can be settled or slashed: a
 * worker that signed two different results for one task could be slashed with both, so before it
 * signs it looks here, and it never signs a second, different result (another backend, a
 * nondeterministic model, a re-lease under changed terms).
 */
export interface SignedRecord {
  jobId: Hex
  taskIndex: number
  resultHash: Hex
  signature: Hex
  signedAt: number
  /** The job's deadline (unix seconds). */
  deadline: number
}

/**
 * A worker's latest claim for one job: the coordinator's signature over the cumulative number of
 * this worker's results it accepted. The newest supersedes the older ones; redeemable by anyone
 * for the worker until the job's deadline plus the escrow's claim window.
 */
export interface ClaimRecord {
  jobId: Hex
  chainId: number
  contract: Address
  /** The job's coordinator as named on chain (the claim's signer). */
  coordinator: Address
  worker: Address
  /** Cumulative results paid by this claim. */
  results: number
  signature: Hex
  /** Wei per result (the job's reward). */
  rewardPerResult: string
  deadline: number
  /** Results this worker signed for the job's coordinator (delivered, or on their way). */
  delivered: number
  /** Of those, how many the coordinator has decided (paid, or not paid: disagreed, voided). */
  decided: number
  /** Results already redeemed on chain, as last seen (0 until then). */
  redeemed: number
  updatedAt: number
}

interface MeshworkSchema extends DBSchema {
  meta: { key: string; value: unknown }
  models: { key: Hex; value: ModelRecord }
  jobs: { key: Hex; value: JobRecord }
  tasks: { key: [Hex, number]; value: TaskRecord; indexes: { byJob: Hex } }
  outbox: { key: [Hex, number]; value: OutboxRecord }
  signed: { key: [Hex, number]; value: SignedRecord }
  claims: { key: Hex; value: ClaimRecord }
}

export const STORE_VERSION = 2

export interface Store {
  getMeta<T>(key: string): Promise<T | undefined>
  setMeta(key: string, value: unknown): Promise<void>
  getModel(hash: Hex): Promise<ModelRecord | undefined>
  putModel(record: ModelRecord): Promise<void>
  getJob(jobId: Hex): Promise<JobRecord | undefined>
  putJob(record: JobRecord): Promise<void>
  listJobs(): Promise<JobRecord[]>
  getTask(jobId: Hex, taskIndex: number): Promise<TaskRecord | undefined>
  putTask(record: TaskRecord): Promise<void>
  /** Writes many tasks in one transaction (job creation). */
  putTasks(records: readonly TaskRecord[]): Promise<void>
  listTasks(jobId: Hex): Promise<TaskRecord[]>
  putOutbox(record: OutboxRecord): Promise<void>
  deleteOutbox(jobId: Hex, taskIndex: number): Promise<void>
  listOutbox(): Promise<OutboxRecord[]>
  getSigned(jobId: Hex, taskIndex: number): Promise<SignedRecord | undefined>
  /**
   * Stores what was signed for a task, unless something is stored for it already; resolves to
   * the record that is stored afterwards (the earlier one, if there was one).
   */
  putSignedOnce(record: SignedRecord): Promise<SignedRecord>
  getClaim(jobId: Hex): Promise<ClaimRecord | undefined>
  putClaim(record: ClaimRecord): Promise<void>
  listClaims(): Promise<ClaimRecord[]>
  close(): void
}

export interface OpenStoreOptions {
  /** Database name; one per identity in a browser profile. Default `meshwork`. */
  name?: string
}

/** Opens the store on the global `indexedDB` (in Node, see `memory-node.ts`). */
export async function openStore(opts: OpenStoreOptions = {}): Promise<Store> {
  if (typeof indexedDB === 'undefined') {
    throw new Error(
      'No IndexedDB in this environment: in Node use openMemoryStore() from lib/store/memory-node.',
    )
  }
  const db: IDBPDatabase<MeshworkSchema> = await openDB<MeshworkSchema>(
    opts.name ?? 'meshwork',
    STORE_VERSION,
    {
      upgrade(database, oldVersion) {
        // Versioned upgrades: each step moves the schema from one version to the next.
        if (oldVersion < 1) {
          database.createObjectStore('meta')
          database.createObjectStore('models', { keyPath: 'hash' })
          database.createObjectStore('jobs', { keyPath: 'jobId' })
          const tasks = database.createObjectStore('tasks', { keyPath: ['jobId', 'taskIndex'] })
          tasks.createIndex('byJob', 'jobId')
          database.createObjectStore('outbox', { keyPath: ['jobId', 'taskIndex'] })
        }
        if (oldVersion < 2) {
          database.createObjectStore('signed', { keyPath: ['jobId', 'taskIndex'] })
          database.createObjectStore('claims', { keyPath: 'jobId' })
        }
      },
    },
  )
  return {
    getMeta: async <T>(key: string) => (await db.get('meta', key)) as T | undefined,
    setMeta: async (key, value) => {
      await db.put('meta', value, key)
    },
    getModel: (hash) => db.get('models', hash),
    putModel: async (r) => {
      await db.put('models', r)
    },
    getJob: (id) => db.get('jobs', id),
    putJob: async (r) => {
      await db.put('jobs', r)
    },
    listJobs: () => db.getAll('jobs'),
    getTask: (id, i) => db.get('tasks', [id, i]),
    putTask: async (r) => {
      await db.put('tasks', r)
    },
    putTasks: async (records) => {
      const tx = db.transaction('tasks', 'readwrite')
      await Promise.all([...records.map((r) => tx.store.put(r)), tx.done])
    },
    listTasks: (id) => db.getAllFromIndex('tasks', 'byJob', id),
    putOutbox: async (r) => {
      await db.put('outbox', r)
    },
    deleteOutbox: (id, i) => db.delete('outbox', [id, i]),
    listOutbox: () => db.getAll('outbox'),
    getSigned: (id, i) => db.get('signed', [id, i]),
    putSignedOnce: async (r) => {
      // One transaction: the read and the write cannot interleave with another signing.
      const tx = db.transaction('signed', 'readwrite')
      const earlier = await tx.store.get([r.jobId, r.taskIndex])
      if (!earlier) await tx.store.put(r)
      await tx.done
      return earlier ?? r
    },
    getClaim: (id) => db.get('claims', id),
    putClaim: async (r) => {
      await db.put('claims', r)
    },
    listClaims: () => db.getAll('claims'),
    close: () => db.close(),
  }
}
