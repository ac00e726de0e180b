/**
 * `lib/chain`: typed bindings to the JobEscrow contract (viem), deployment, and settlement
 * batching. Imports only `lib/proofs` below it.
 */
export * from './config'
export * from './dev'
export * from './escrow'
export { jobEscrowAbi } from './generated'
export * from './settlement'
