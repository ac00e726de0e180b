'use client'
import { useEffect, useState } from 'react'
import { formatEther } from 'viem'
import type { AppConfig } from '../../lib/env/app-config'
import { errorMessage } from '../../lib/errors'
import type { JobHandle, JobProgress, TaskResult } from '../../lib/jobs'
import { formatPolicy } from '../../lib/proofs'
import { resultsFile } from '../../lib/sdk/requester'
import { requesterSession } from '../../lib/sdk/requester-browser'
import type { JobRecord } from '../../lib/store'
import { ConnectWallet, useWallet } from './wallet'

export function JobApp({ config, jobId: id }: { config: AppConfig; jobId: string }) {
  const jobId = id as `0x${string}`
  const wallet = useWallet()
  const [handle, setHandle] = useState<JobHandle | null>()
  const [record, setRecord] = useState<JobRecord>()
  const [progress, setProgress] = useState<JobProgress>()
  const [results, setResults] = useState<TaskResult[]>([])
  const [error, setError] = useState<string>()

  useEffect(() => {
    requesterSession(config)
      .then((s) => s.setWallet(wallet))
      .catch(() => {})
  }, [config, wallet])

  useEffect(() => {
    let cancelled = false
    requesterSession(config)
      .then(async (s) => {
        const [h, r] = await Promise.all([s.job(jobId), s.store.getJob(jobId)])
        if (cancelled) return
        setRecord(r)
        setHandle(h ?? null)
      })
      .catch((err) => setError(errorMessage(err)))
    return () => {
      cancelled = true
    }
  }, [config, jobId])

  useEffect(() => {
    if (!handle) return
    const update = () => {
      setProgress(handle.progress())
      setResults(handle.results())
    }
    update()
    handle.events.addEventListener('progress', update)
    const timer = setInterval(update, 1000)
    return () => {
      handle.events.removeEventListener('progress', update)
      clearInterval(timer)
    }
  }, [handle])

  if (error) return <div className="error">{error}</div>
  if (handle === undefined) return <p className="muted">Opening the job…</p>
  if (handle === null || !record) {
    return (
      <div className="error">
        This browser does not coordinate job {jobId}. Jobs are coordinated by the tab (or CLI) that
        created them.
      </div>
    )
  }
  const p = progress
  const pct = (n: number) => `${p && p.total > 0 ? (100 * n) / p.total : 0}%`
  const download = () => {
    const blob = new Blob([JSON.stringify(resultsFile(jobId, record.spec, results), null, 2)], {
      type: 'application/json',
    })
    const a = document.createElement('a')
    a.href = URL.createObjectURL(blob)
    a.download = `meshwork-${jobId.slice(0, 10)}.json`
    a.click()
    URL.revokeObjectURL(a.href)
  }
  const leasedOpen = p ? Math.min(p.leased, p.counts.open) : 0
  return (
    <>
      <h1>Job</h1>
      <p className="mono">{jobId}</p>
      <p className="muted">
        {record.modelName ?? 'model'} · {record.spec.taskCount} tasks · {record.spec.replicas}{' '}
        replicas, quorum {record.spec.quorum} · {formatPolicy(record.spec.policy)} ·{' '}
        {formatEther(record.spec.rewardPerResult)} ETH per agreeing result
      </p>
      {p && (
        <div
          className="card"
          data-testid="job-progress"
          data-status={p.status}
          data-settled={p.counts.settled}
          data-total={p.total}
        >
          <div className="progress" title="settled · accepted · failed · being computed">
            <div className="p-settled" style={{ width: pct(p.counts.settled) }} />
            <div className="p-accepted" style={{ width: pct(p.counts.accepted) }} />
            <div className="p-failed" style={{ width: pct(p.counts.failed) }} />
            <div className="p-leased" style={{ width: pct(leasedOpen) }} />
          </div>
          <p>
            <b>
              {p.status === 'running'
                ? 'Running'
                : p.status === 'complete'
                  ? 'Complete'
                  : 'Expired'}
            </b>{' '}
            · settled <b data-testid="settled-count">{p.counts.settled}</b> / {p.total} · accepted,
            awaiting settlement {p.counts.accepted} · open {p.counts.open} · failed{' '}
            {p.counts.failed} · {p.resultsReceived} results received · {p.settleTxs} settle
            transactions
          </p>
          {p.failure && <div className="error">{p.failure}</div>}
          {p.errors.map((e) => (
            <div className="notice" key={e.code}>
              {e.workers} worker{e.workers > 1 ? 's' : ''} reported {e.code}: {e.message}
            </div>
          ))}
          {p.counts.accepted > 0 && !wallet && (
            <div className="notice">Accepted tasks settle when a wallet is connected.</div>
          )}
          <div className="row">
            <button
              type="button"
              onClick={download}
              disabled={results.every((r) => !r.outputs)}
              data-testid="download"
            >
              Download results (JSON)
            </button>
          </div>
        </div>
      )}
      {!wallet && <ConnectWallet purpose="settle accepted tasks" />}
      <h2>Tasks</h2>
      <div className="tasks">
        {results.map((r) => (
          <div
            key={r.taskIndex}
            className={`task ${r.status}`}
            title={`task ${r.taskIndex}: ${r.status}${r.verifiedBy ? ` (${r.verifiedBy})` : ''}${r.agreeing.length ? `, ${r.agreeing.length} agreeing` : ''}${r.dissenting.length ? `, ${r.dissenting.length} dissenting` : ''}${r.voided.length ? `, ${r.voided.length} voided` : ''}${r.failure ? ` (${r.failure})` : ''}`}
          />
        ))}
      </div>
      <h2>Workers</h2>
      <table>
        <thead>
          <tr>
            <th>Address</th>
            <th>Backend</th>
            <th>Results</th>
            <th>Agreed</th>
            <th>Dissented</th>
            <th>Known answers</th>
            <th>Reputation</th>
            <th>Avg compute</th>
          </tr>
        </thead>
        <tbody>
          {p?.workers.map((w) => (
            <tr key={w.peerId || w.address}>
              <td className="mono">{w.address}</td>
              <td>{w.backend}</td>
              <td>{w.results}</td>
              <td>{w.agreed}</td>
              <td>{w.dissented}</td>
              <td>
                {w.canaryPassed} passed{w.canaryFailed ? `, ${w.canaryFailed} failed` : ''}
              </td>
              <td title={w.excluded}>{w.excluded ? 'excluded' : w.reputation.toFixed(2)}</td>
              <td>{w.avgComputeMs} ms</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  )
}
