/**
 * `lib/chain`: typed bindings to the JobEscrow and MeshworkRequests contracts (viem): deployment,
 * jobs, the coordinator's claims (pay) and records (results on chain), stake and payouts. Imports
 * only `lib/proofs` below it.
 */
export * from './claims'
export * from './config'
export * from './dev'
export * from './escrow'
export * from './events'
export { exampleConsumerAbi, jobEscrowAbi, meshworkRequestsAbi } from './generated'
export * from './records'
export * from './requests'
