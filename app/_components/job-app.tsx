'use client'
import { useEffect, useState } from 'react'
import { formatEther } from 'viem'
import { CLAIM_WINDOW_SECONDS } from '../../lib/chain'
import type { AppConfig } from '../../lib/env/app-config'
import { errorMessage } from '../../lib/errors'
import type { JobHandle, JobProgress, TaskResult } from '../../lib/jobs'
import type { InboundStats } from '../../lib/mesh'
import { formatPolicy } from '../../lib/proofs'
import { resultsFile } from '../../lib/sdk/requester'
import { type RequesterSession, requesterSession } from '../../lib/sdk/requester-browser'
import type { JobRecord } from '../../lib/store'
import { InboundStatsView } from './inbound-stats'
import { useWallet } from './wallet'

/** Shortest time between two renders of a running job's progress and results (ms). */
const UPDATE_MS = 250

export function JobApp({ config, jobId: id }: { config: AppConfig; jobId: string }) {
  const jobId = id as `0x${string}`
  const wallet = useWallet()
  const [handle, setHandle] = useState<JobHandle | null>()
  const [record, setRecord] = useState<JobRecord>()
  const [progress, setProgress] = useState<JobProgress>()
  const [results, setResults] = useState<TaskResult[]>([])
  const [error, setError] = useState<string>()
  const [selected, setSelected] = useState<number>()
  const [session, setSession] = useState<RequesterSession>()
  const [inbound, setInbound] = useState<InboundStats>()

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
        setSession(s)
      })
      .catch((err) => setError(errorMessage(err)))
    return () => {
      cancelled = true
    }
  }, [config, jobId])

  // The coordinator's inbound limits: what peers' streams hold, what was refused or dropped.
  useEffect(() => {
    if (!session) return
    const tick = () => setInbound(session.coordinator.stats().inbound)
    tick()
    const t = setInterval(tick, 1000)
    return () => clearInterval(t)
  }, [session])

  useEffect(() => {
    if (!handle) return
    const update = () => {
      setProgress(handle.progress())
      setResults(handle.results())
    }
    // progress() and results() look at every task, and this tab also coordinates the job: at
    // most one update per UPDATE_MS however many results arrive, the last change included.
    let last = 0
    let pending: ReturnType<typeof setTimeout> | undefined
    const onProgress = () => {
      if (pending) return
      const wait = Math.max(0, last + UPDATE_MS - performance.now())
      pending = setTimeout(() => {
        pending = undefined
        last = performance.now()
        update()
      }, wait)
    }
    update()
    last = performance.now()
    handle.events.addEventListener('progress', onProgress)
    const timer = setInterval(onProgress, 1000)
    return () => {
      handle.events.removeEventListener('progress', onProgress)
      clearInterval(timer)
      clearTimeout(pending)
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
            {p.counts.failed} · {p.resultsReceived} results received
          </p>
          <p className="muted" data-testid="claims-note">
            Settled tasks are paid by claims this tab signs with its coordinator key (
            <span className="mono">{record.spec.coordinator}</span>); each worker redeems its own on
            chain, until{' '}
            {new Date(
              (record.spec.deadline + Number(CLAIM_WINDOW_SECONDS)) * 1000,
            ).toLocaleString()}
            . Your wallet is not asked again for this job. Unclaimed escrow can be refunded after
            that.
          </p>
          {p.failure && <div className="error">{p.failure}</div>}
          {p.errors.map((e) => (
            <div className="notice" key={e.code}>
              {e.workers} worker{e.workers > 1 ? 's' : ''} reported {e.code}: {e.message}
            </div>
          ))}
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
      {inbound && (
        <div className="card">
          <h3>This tab's coordinator: inbound limits</h3>
          <InboundStatsView stats={inbound} />
        </div>
      )}
      <h2>Tasks</h2>
      <p className="muted">Select a task to see its quorum.</p>
      <div className="tasks" data-testid="task-grid">
        {results.map((r) => (
          <button
            type="button"
            key={r.taskIndex}
            className={`task ${r.status}${selected === r.taskIndex ? ' selected' : ''}`}
            aria-label={`task ${r.taskIndex}: ${r.status}`}
            onClick={() => setSelected(r.taskIndex)}
            title={`task ${r.taskIndex}: ${r.status}${r.verifiedBy ? ` (${r.verifiedBy})` : ''}${r.agreeing.length ? `, ${r.agreeing.length} agreeing` : ''}${r.dissenting.length ? `, ${r.dissenting.length} dissenting` : ''}${r.voided.length ? `, ${r.voided.length} voided` : ''}${r.failure ? ` (${r.failure})` : ''}`}
          />
        ))}
      </div>
      {selected !== undefined && results[selected] && (
        <TaskQuorum result={results[selected]} quorum={record.spec.quorum} />
      )}
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
            <th title="Capability probe: multiply-adds per µs, measured when the volunteer started">
              Probe
            </th>
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
              <td>{w.probeScore !== undefined ? Math.round(w.probeScore) : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  )
}

/** One task's quorum: who agreed on which result, who dissented, how it was verified and settled. */
function TaskQuorum({ result: r, quorum: jobQuorum }: { result: TaskResult; quorum: number }) {
  // A known-answer task needs one result equal to the requester's answer; a trusted worker's one.
  const quorum = r.verifiedBy === 'known-answer' || r.verifiedBy === 'single' ? 1 : jobQuorum
  const workers = (label: string, list: readonly string[], className: string) =>
    list.length > 0 && (
      <div>
        <span className="muted">{label}</span>
        <ul className="mono">
          {list.map((a) => (
            <li key={a} className={className}>
              {a}
            </li>
          ))}
        </ul>
      </div>
    )
  return (
    <div
      className="card"
      data-testid="task-quorum"
      data-task={r.taskIndex}
      data-agreeing={r.agreeing.length}
    >
      <strong>Task {r.taskIndex}</strong>: {r.status}
      {r.verifiedBy &&
        ` · verified by ${r.verifiedBy === 'known-answer' ? 'a known answer' : r.verifiedBy === 'single' ? 'a trusted worker alone' : 'quorum'}`}
      <div className="quorum-bar" title={`${r.agreeing.length} agreeing of ${quorum} needed`}>
        {Array.from({ length: Math.max(quorum, r.agreeing.length) }, (_, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: fixed slots of the quorum
          <span key={i} className={i < r.agreeing.length ? 'agree' : 'missing'} />
        ))}
        {r.dissenting.map((d) => (
          <span key={d} className="dissent" />
        ))}
        <span className="muted">
          {' '}
          {r.agreeing.length} agreeing / {quorum} needed
          {r.dissenting.length > 0 && `, ${r.dissenting.length} dissenting`}
        </span>
      </div>
      {r.resultHash && (
        <div>
          <span className="muted">result hash</span> <span className="mono">{r.resultHash}</span>
        </div>
      )}
      {r.classes.length > 0 && (
        <div>
          <span className="muted">computed with</span> {r.classes.join(', ')}
        </div>
      )}
      {workers('agreeing', r.agreeing, 'ok')}
      {workers('dissenting', r.dissenting, 'bad')}
      {workers('voided (worker excluded)', r.voided, 'muted')}
      {r.settleTx && (
        <div>
          <span className="muted">settled in</span> <span className="mono">{r.settleTx}</span>
        </div>
      )}
      {r.failure && <div className="bad">{r.failure}</div>}
    </div>
  )
}
