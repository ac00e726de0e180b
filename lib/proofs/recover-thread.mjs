// A recovery thread of recover-pool-node.ts: loads the TypeScript half through tsx (as cli/bin.mjs
// does), since worker threads do not inherit a loader registered with tsx's API.
import { register } from 'tsx/esm/api'

register()
await import('./recover-thread.ts')
