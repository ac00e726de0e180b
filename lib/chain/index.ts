/**
 * `lib/chain`: typed bindings to the JobEscrow contract (viem), deployment, and settlement
 * batching. Imports only `lib/proofs` below it.
 */
export * from './config'
export * from './dev'
export * from './escrow'
export { exampleConsumerAbi, jobEscrowAbi, meshworkRequestsAbi } from './generated'
export * from './packed'
export * from './requests'
export * from './settlement'
