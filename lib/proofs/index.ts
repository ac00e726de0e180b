/**
 * `lib/proofs`: the bottom layer of trust. Canonical encodings, hashes, EIP-712 result signatures,
 * the input Merkle commitment and quorum aggregation. Knows nothing of the mesh, the UI or the chain
 * client; everything here is deterministic and runs the same in a browser, a worker and Node.
 */
export * from './canonical'
export * from './cbor'
export * from './ecdsa'
export * from './eip712'
export * from './inputs'
export * from './job'
export * from './policy'
export * from './quorum'
export * from './tensor'
export * from './units'
