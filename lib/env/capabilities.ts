/**
 * The one place that decides what environment code runs in: browser page, Web Worker or Node;
 * cross-origin isolation (threads); a WebGPU adapter and whether it is software. Detected once
 * and frozen.
 */

export interface GpuAdapterSummary {
  vendor: string
  architecture: string
  description: string
  /** A software adapter (e.g. SwiftShader): correct but slower than WASM for inference. */
  software: boolean
}

export interface Capabilities {
  kind: 'page' | 'worker' | 'node'
  crossOriginIsolated: boolean
  hardwareConcurrency: number
  webgpu: GpuAdapterSummary | undefined
}

interface NavigatorGpu {
  gpu?: {
    requestAdapter(): Promise<{
      info?: { vendor?: string; architecture?: string; description?: string }
      isFallbackAdapter?: boolean
    } | null>
  }
}

let detected: Promise<Readonly<Capabilities>> | undefined

export function detectCapabilities(): Promise<Readonly<Capabilities>> {
  detected ??= (async () => {
    const isNode =
      typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined'
    const kind: Capabilities['kind'] = isNode
      ? 'node'
      : typeof window === 'undefined'
        ? 'worker'
        : 'page'
    const nav =
      typeof navigator === 'undefined' ? undefined : (navigator as Navigator & NavigatorGpu)
    let webgpu: GpuAdapterSummary | undefined
    try {
      const adapter = await nav?.gpu?.requestAdapter()
      if (adapter) {
        const info = adapter.info ?? {}
        const text =
          `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`.toLowerCase()
        webgpu = {
          vendor: info.vendor ?? '',
          architecture: info.architecture ?? '',
          description: info.description ?? '',
          software:
            adapter.isFallbackAdapter === true ||
            text.includes('swiftshader') ||
            text.includes('llvmpipe'),
        }
      }
    } catch {
      webgpu = undefined
    }
    return Object.freeze({
      kind,
      crossOriginIsolated:
        typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated === true,
      hardwareConcurrency: nav?.hardwareConcurrency ?? 1,
      webgpu,
    })
  })()
  return detected
}
