/**
 * Cross-origin isolation on every response (page, worker chunks, ONNX Runtime's .mjs and .wasm,
 * public/models): ONNX Runtime's WASM threads need SharedArrayBuffer, and a worker script served
 * without these headers makes session creation hang with no error (see ../shared/STACK.md).
 */
const isolation = [
  { key: 'Cross-Origin-Opener-Policy', value: 'same-origin' },
  { key: 'Cross-Origin-Embedder-Policy', value: 'require-corp' },
  { key: 'Cross-Origin-Resource-Policy', value: 'same-origin' },
]

const embedHeaders = [
  { key: 'Cross-Origin-Resource-Policy', value: 'cross-origin' },
  { key: 'Access-Control-Allow-Origin', value: '*' },
  { key: 'Cache-Control', value: 'public, max-age=300' },
]

/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  // libp2p's WebRTC transport pulls a native addon into server rendering otherwise.
  serverExternalPackages: ['node-datachannel', 'onnxruntime-node'],
  async headers() {
    return [
      { source: '/:path*', headers: isolation },
      // The embed loader is loaded by other sites' pages (a classic script, or a module, which
      // the browser fetches with CORS): it must be readable cross-origin. Later rules win.
      ...['/embed.js', '/embed.mjs'].map((source) => ({ source, headers: embedHeaders })),
    ]
  },
}

export default nextConfig
