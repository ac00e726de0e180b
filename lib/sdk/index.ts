/**
 * `lib/sdk`: the requester API (submit a job, watch it, get results) over the lower layers.
 * `node.ts` adds Node conveniences (keys, onnxruntime-node, in-memory store) for the CLI.
 */

export * from './claims'
export * from './jobs'
export * from './requester'
