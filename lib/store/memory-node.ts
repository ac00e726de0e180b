/**
 * The store in Node processes (SDK, CLI, tests): the same idb code over fake-indexeddb, which
 * keeps data in memory for the life of the process. Each call gets its own database unless a
 * name is given (the same name reopens the same data, as a reloaded tab would).
 */
import 'fake-indexeddb/auto'
import { openStore, type Store } from './index'

let counter = 0

export function openMemoryStore(name = `meshwork-${process.pid}-${++counter}`): Promise<Store> {
  return openStore({ name })
}
