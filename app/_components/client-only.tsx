'use client'
/**
 * Loads the P2P and ML parts of a page in the browser only: libp2p, ONNX Runtime and IndexedDB
 * have no place in server rendering (and libp2p's WebRTC would pull a native addon into it).
 */
import dynamic from 'next/dynamic'
import type { EmbedPolicyResult } from '../../lib/embed/origins'
import type { AppConfig } from '../../lib/env/app-config'

const loading = () => <p className="muted">Loading…</p>

const Volunteer = dynamic(() => import('./volunteer-app').then((m) => m.VolunteerApp), {
  ssr: false,
  loading,
})
const Request = dynamic(() => import('./request-app').then((m) => m.RequestApp), {
  ssr: false,
  loading,
})
const Job = dynamic(() => import('./job-app').then((m) => m.JobApp), { ssr: false, loading })
const Network = dynamic(() => import('./network-app').then((m) => m.NetworkApp), {
  ssr: false,
  loading,
})

const Bench = dynamic(() => import('./bench-app').then((m) => m.BenchApp), {
  ssr: false,
  loading,
})

const Embed = dynamic(() => import('./embed-frame').then((m) => m.EmbedFrame), {
  ssr: false,
  loading,
})

export function EmbedPage({ config, embed }: { config: AppConfig; embed: EmbedPolicyResult }) {
  return <Embed config={config} embed={embed} />
}
export function BenchPage({ config }: { config: AppConfig }) {
  return <Bench config={config} />
}
export function VolunteerPage({ config }: { config: AppConfig }) {
  return <Volunteer config={config} />
}
export function RequestPage({ config }: { config: AppConfig }) {
  return <Request config={config} />
}
export function JobPage({ config, jobId }: { config: AppConfig; jobId: string }) {
  return <Job config={config} jobId={jobId} />
}
export function NetworkPage({ config }: { config: AppConfig }) {
  return <Network config={config} />
}
