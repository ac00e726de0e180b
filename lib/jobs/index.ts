/**
 * `lib/jobs`: the two sides of a job. The coordinator (requester: a tab or the SDK/CLI) leases
 * tasks, verifies and tallies signed results and settles quorum certificates; the worker
 * (volunteer) pulls tasks, computes through a `Compute` port, signs and delivers. Imports
 * `lib/mesh`, `lib/proofs`, `lib/store` and `lib/chain`.
 */
export * from './coordinator'
export * from './job-run'
export * from './throttle'
export * from './types'
export * from './worker'
