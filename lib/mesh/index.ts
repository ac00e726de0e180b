/**
 * `lib/mesh`: the peer-to-peer layer. The libp2p node factory (browser and Node), topics and
 * stream protocols, message schemas and their bounded codec, request/response over streams,
 * gossip validation, presence and discovery, and peer identity (one secp256k1 key for PeerId and
 * EVM address). Imports `lib/proofs` for types and encodings only.
 */
export * from './budget'
export * from './codec'
export * from './gossip'
export * from './identity'
export * from './messages'
export * from './model-transfer'
export * from './node'
export * from './presence'
export * from './protocol'
export * from './result-transfer'
export * from './rpc'
