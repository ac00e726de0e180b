/**
 * The store of long-running Node processes (`meshwork submit`, `meshwork volunteer`, the Node
 * SDK given a `dataDir`): the same `Store` as a tab's IndexedDB, kept on disk in SQLite
 * (better-sqlite3) so that `kill -9` loses nothing that was written.
 *
 * - One table holds every object store's records, keyed by (store, key), the value serialised
 *   with `node:v8` (the structured clone that IndexedDB itself uses: typed arrays, bigints and
 *   `undefined` survive as they do in a tab).
 * - Keys of (job, task) records are `jobId/taskIndex` with the index zero-padded, so a job's
 *   tasks are one ordered range.
 * - Each method is one SQLite transaction. WAL with `synchronous = NORMAL` makes a committed write
 *   survive the process being killed (only a power loss can take the last commits).
 * - The file is created readable by its owner only: it holds the process's key.
 * - One process at a time runs as an identity: `claimStore` takes the directory's lock file, and
 *   a lock left by a killed process is taken over. Readers (`meshwork claims`) need no lock.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { deserialize, serialize } from 'node:v8'
import Database from 'better-sqlite3'
import type { Hex } from 'viem'
import { ConfigError } from '../errors'
import { type SignedRecord, STORE_VERSION, type Store } from './index'

type StoreName = 'meta' | 'models' | 'jobs' | 'tasks' | 'outbox' | 'signed' | 'claims'

const taskKey = (jobId: Hex, taskIndex: number) =>
  `${jobId.toLowerCase()}/${String(taskIndex).padStart(10, '0')}`

/** Opens (creating when missing) the store at `file`. */
export function openDiskStore(file: string): Store {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  closeSync(openSync(file, 'a', 0o600))
  let db: Database.Database
  try {
    db = new Database(file, { timeout: 5_000 })
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
  } catch (err) {
    throw new ConfigError(`Cannot open the store ${file}.`, {
      details: (err as Error).message,
      cause: err,
    })
  }
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > STORE_VERSION)
    throw new ConfigError(
      `The store ${file} was written by a newer Meshwork (store version ${version}, this one reads ${STORE_VERSION}).`,
    )
  db.exec(
    'CREATE TABLE IF NOT EXISTS records (store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key)) WITHOUT ROWID',
  )
  db.pragma(`user_version = ${STORE_VERSION}`)

  const getStmt = db.prepare<[StoreName, string], { value: Buffer }>(
    'SELECT value FROM records WHERE store = ? AND key = ?',
  )
  const putStmt = db.prepare<[StoreName, string, Buffer]>(
    'INSERT OR REPLACE INTO records (store, key, value) VALUES (?, ?, ?)',
  )
  const deleteStmt = db.prepare<[StoreName, string]>(
    'DELETE FROM records WHERE store = ? AND key = ?',
  )
  const allStmt = db.prepare<[StoreName], { value: Buffer }>(
    'SELECT value FROM records WHERE store = ? ORDER BY key',
  )
  const rangeStmt = db.prepare<[StoreName, string, string], { value: Buffer }>(
    'SELECT value FROM records WHERE store = ? AND key >= ? AND key < ? ORDER BY key',
  )

  const get = <T>(store: StoreName, key: string): T | undefined => {
    const row = getStmt.get(store, key)
    return row ? (deserialize(row.value) as T) : undefined
  }
  const put = (store: StoreName, key: string, value: unknown) => {
    putStmt.run(store, key, serialize(value))
  }
  const all = <T>(store: StoreName): T[] => allStmt.all(store).map((r) => deserialize(r.value) as T)
  const putMany = db.transaction((store: StoreName, entries: Array<[string, unknown]>) => {
    for (const [key, value] of entries) put(store, key, value)
  })
  // One transaction: the read and the write cannot interleave with another signing.
  const putSignedOnce = db.transaction((record: SignedRecord): SignedRecord => {
    const key = taskKey(record.jobId, record.taskIndex)
    const earlier = get<SignedRecord>('signed', key)
    if (earlier === undefined) put('signed', key, record)
    return earlier ?? record
  })

  // The Store interface is asynchronous (IndexedDB is); these calls finish before they return.
  return {
    getMeta: async (key) => get('meta', key),
    setMeta: async (key, value) => put('meta', key, value),
    getModel: async (hash) => get('models', hash.toLowerCase()),
    putModel: async (r) => put('models', r.hash.toLowerCase(), r),
    getJob: async (id) => get('jobs', id.toLowerCase()),
    putJob: async (r) => put('jobs', r.jobId.toLowerCase(), r),
    listJobs: async () => all('jobs'),
    getTask: async (id, i) => get('tasks', taskKey(id, i)),
    putTask: async (r) => put('tasks', taskKey(r.jobId, r.taskIndex), r),
    putTasks: async (records) =>
      putMany(
        'tasks',
        records.map((r) => [taskKey(r.jobId, r.taskIndex), r]),
      ),
    listTasks: async (id) =>
      rangeStmt
        .all('tasks', `${id.toLowerCase()}/`, `${id.toLowerCase()}0`)
        .map((r) => deserialize(r.value)),
    putOutbox: async (r) => put('outbox', taskKey(r.jobId, r.taskIndex), r),
    deleteOutbox: async (id, i) => {
      deleteStmt.run('outbox', taskKey(id, i))
    },
    listOutbox: async () => all('outbox'),
    getSigned: async (id, i) => get('signed', taskKey(id, i)),
    putSignedOnce: async (r) => putSignedOnce(r),
    getClaim: async (id) => get('claims', id.toLowerCase()),
    putClaim: async (r) => put('claims', r.jobId.toLowerCase(), r),
    listClaims: async () => all('claims'),
    close: () => {
      if (db.open) db.close()
    },
  }
}

/**
 * Takes `<file>.lock` for this process, so that two processes never run as one identity (two
 * peers with one peer id, two workers signing from one record). A lock whose process is gone
 * (killed) is taken over. Returns the release function.
 */
export function claimStore(file: string): () => void {
  const lock = `${file}.lock`
  mkdirSync(dirname(lock), { recursive: true, mode: 0o700 })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 })
      let released = false
      const release = () => {
        if (released) return
        released = true
        rmSync(lock, { force: true })
      }
      process.once('exit', release)
      return release
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const pid = Number(readFileSync(lock, 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
        throw new ConfigError(`${file} is in use by another Meshwork process (pid ${pid}).`, {
          hint: 'Stop that process, or give this one another data directory or key.',
        })
      rmSync(lock, { force: true })
    }
  }
  throw new ConfigError(`Cannot take the lock ${lock}.`)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  // A process killed with SIGKILL stays a zombie until its parent reaps it, and where no one
  // does (a container whose init does not, a parent killed with it) it answers signal 0 for
  // good: a zombie holds no lock (Linux reports it with state Z; elsewhere, trust the signal).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true
  }
}
