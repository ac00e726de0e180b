'use client'
import { useEffect, useMemo, useRef, useState } from 'react'
import { type Address, bytesToHex, formatEther, parseEther } from 'viem'
import { stake, type Wallet, type WorkerOnChain, withdraw, withdrawStake } from '../../lib/chain'
import { publicClientFor } from '../../lib/chain/config'
import type { AppConfig } from '../../lib/env/app-config'
import { errorMessage } from '../../lib/errors'
import type { WorkerStats } from '../../lib/jobs'
import type { BackendPreference } from '../../lib/runtime'
import { redeemHeldClaims } from '../../lib/sdk/claims'
import {
  startVolunteer,
  type VolunteerSession,
  type VolunteerSnapshot,
} from '../../lib/sdk/volunteer-browser'
import { ConnectWallet, useWallet } from './wallet'

type Phase =
  | { kind: 'idle' }
  | { kind: 'starting' }
  | { kind: 'running' }
  | { kind: 'failed'; message: string }

/** What a dev network's tab (MESHWORK_DEV=1) offers the benchmark: gossip arrival times. */
export interface MeshworkDevHooks {
  /** From now on, log every message of `topic` this tab receives: wall-clock ms and hex bytes. */
  recordGossip(topic: string): void
  gossipLog: Array<{ at: number; data: string }>
}

function exposeDevHooks(s: VolunteerSession) {
  const gossipLog: MeshworkDevHooks['gossipLog'] = []
  const hooks: MeshworkDevHooks = {
    gossipLog,
    recordGossip(topic) {
      s.node.services.pubsub.addEventListener('message', (e) => {
        if (e.detail.topic !== topic) return
        gossipLog.push({
          at: performance.timeOrigin + performance.now(),
          data: bytesToHex(e.detail.data),
        })
      })
    },
  }
  ;(window as Window & { meshworkDev?: MeshworkDevHooks }).meshworkDev = hooks
}

export function VolunteerApp({ config }: { config: AppConfig }) {
  const session = useRef<VolunteerSession | undefined>(undefined)
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' })
  const [snap, setSnap] = useState<VolunteerSnapshot>()
  const [credited, setCredited] = useState<bigint>()
  const [share, setShare] = useState(1)
  const [hiddenShare, setHiddenShare] = useState(0.5)
  const walletAddress = useWallet()?.account.address
  /** The visitor chose this tab's own key as the payee although a wallet is connected. */
  const [payToTab, setPayToTab] = useState(false)
  const payout = payToTab ? undefined : walletAddress
  const [prefer, setPrefer] = useState<BackendPreference>(() => {
    const p =
      typeof location === 'undefined' ? null : new URLSearchParams(location.search).get('backend')
    return p === 'wasm' || p === 'webgpu' ? p : 'auto'
  })

  useEffect(() => {
    if (phase.kind !== 'running') return
    const s = session.current!
    const tick = () => setSnap(s.snapshot())
    const chain = () =>
      s
        .credited()
        .then(setCredited)
        .catch(() => {})
    tick()
    void chain()
    s.worker.events.addEventListener('stats', tick)
    const t1 = setInterval(tick, 1000)
    const t2 = setInterval(chain, 3000)
    return () => {
      s.worker.events.removeEventListener('stats', tick)
      clearInterval(t1)
      clearInterval(t2)
    }
  }, [phase.kind])

  useEffect(() => () => void session.current?.stop(), [])

  const start = async () => {
    setPhase({ kind: 'starting' })
    try {
      session.current = await startVolunteer({
        config,
        prefer,
        throttle: { dutyCycle: share, hiddenDutyCycle: hiddenShare },
        payout,
      })
      if (config.dev) exposeDevHooks(session.current)
      setPhase({ kind: 'running' })
    } catch (err) {
      setPhase({ kind: 'failed', message: errorMessage(err) })
    }
  }

  const w = snap?.worker
  return (
    <>
      <h1>Volunteer this tab</h1>
      {phase.kind === 'idle' || phase.kind === 'failed' ? (
        <div className="card">
          <p>
            Pressing Start connects this tab to the Meshwork network and runs other people’s models
            here, in a background worker. You are paid on chain for every result a quorum agrees
            with. Nothing runs before you press Start, and Stop ends it.
          </p>
          <div className="row">
            <div>
              <label htmlFor="backend">Compute with</label>
              <select
                id="backend"
                value={prefer}
                onChange={(e) => setPrefer(e.target.value as BackendPreference)}
              >
                <option value="auto">
                  Automatic (WebGPU if a real GPU passes its check, else WebAssembly)
                </option>
                <option value="wasm">WebAssembly only</option>
                <option value="webgpu">WebGPU, even a software one (testing)</option>
              </select>
            </div>
            <div>
              <label htmlFor="share">Share of this machine</label>
              <select id="share" value={share} onChange={(e) => setShare(Number(e.target.value))}>
                <option value={1}>All it can (100 %)</option>
                <option value={0.5}>Half (50 %)</option>
                <option value={0.25}>A quarter (25 %)</option>
              </select>
            </div>
            <div>
              <label htmlFor="hidden-share">While this tab is hidden</label>
              <select
                id="hidden-share"
                value={hiddenShare}
                onChange={(e) => setHiddenShare(Number(e.target.value))}
              >
                <option value={0.5}>Slow down to 50 %</option>
                <option value={1}>Keep going</option>
                <option value={0}>Pause</option>
              </select>
            </div>
            <button type="button" onClick={start} data-testid="start">
              Start
            </button>
          </div>
          {phase.kind === 'failed' && <div className="error">Could not start: {phase.message}</div>}
          <ConnectWallet purpose="have your pay sent to an address your wallet holds, pay the gas for withdrawals, or add stake for this tab" />
          <PayoutChoice
            walletAddress={walletAddress}
            payout={payout}
            onChoose={(tab) => setPayToTab(tab)}
          />
        </div>
      ) : phase.kind === 'starting' ? (
        <p className="muted">Starting: loading the inference worker and joining the network…</p>
      ) : (
        <>
          <div className="row">
            <button
              type="button"
              className="secondary"
              onClick={() =>
                w?.state === 'paused'
                  ? session.current?.worker.resume()
                  : session.current?.worker.pause()
              }
            >
              {w?.state === 'paused' ? 'Resume' : 'Pause'}
            </button>
            <button
              type="button"
              className="secondary"
              onClick={async () => {
                await session.current?.stop()
                session.current = undefined
                setSnap(undefined)
                setPhase({ kind: 'idle' })
              }}
            >
              Stop
            </button>
          </div>
          <div
            className="grid"
            style={{ marginTop: '1rem' }}
            data-testid="volunteer-stats"
            data-peer-id={snap?.peerId}
            data-address={snap?.address}
            data-direct-peers={snap?.directPeerIds.join(',')}
          >
            <Stat
              label="State"
              value={`${w?.state ?? '…'}${w && w.duty < 1 ? ` · computing ${Math.round(w.duty * 100)} % of the time` : ''}`}
              testid="state"
            />
            <Stat label="Tasks done" value={String(w?.tasksDone ?? 0)} testid="tasks-done" />
            {w && w.pendingResults > 0 && (
              <Stat
                label="Results waiting to be delivered"
                value={String(w.pendingResults)}
                testid="pending-results"
              />
            )}
            <Stat
              label="Time per task"
              value={w?.avgComputeMs !== undefined ? `${w.avgComputeMs.toFixed(1)} ms` : '–'}
            />
            <Stat
              label="Backend"
              value={`${snap?.backend ?? '…'}${snap ? ` · ${snap.threads} thread${snap.threads > 1 ? 's' : ''}` : ''}`}
              testid="backend"
            />
            <Stat
              label="Peers seen / direct"
              value={snap ? `${snap.peers} / ${snap.directPeers}` : '…'}
              testid="peers"
            />
            <Stat
              label="Relay"
              value={
                snap
                  ? snap.reservation
                    ? 'reserved'
                    : snap.relayConnected
                      ? 'connected'
                      : 'connecting…'
                  : '…'
              }
              testid="relay"
            />
            <Stat
              label="Earned (credited on chain)"
              value={credited !== undefined ? `${formatEther(credited)} ETH` : '…'}
              testid="credited"
            />
            <Stat label="Jobs known" value={String(w?.jobsKnown ?? 0)} />
            <Stat
              label="Announcements ignored"
              value={String(
                Object.values(w?.announcementsIgnored ?? {}).reduce((a, b) => a + (b ?? 0), 0),
              )}
              testid="announcements-ignored"
            />
          </div>
          <p className="muted">
            {session.current?.payout ? 'Working as' : 'Paid to'}{' '}
            <span className="mono" data-testid="address">
              {snap?.address}
            </span>{' '}
            (this tab’s key, kept in this browser)
            {session.current?.payout && (
              <>
                ; withdrawals go to your wallet’s{' '}
                <span className="mono" data-testid="payout">
                  {session.current.payout}
                </span>
              </>
            )}
            . GPU: {snap?.webgpu}.
          </p>
          {snap && (
            <ConnectWallet purpose="pay the gas for withdrawals, or to add stake for this tab" />
          )}
          {snap && session.current && (
            <Claims
              config={config}
              session={session.current}
              held={w?.claims}
              onDone={() => session.current?.credited().then(setCredited)}
            />
          )}
          {snap && (
            <Withdraw
              config={config}
              worker={snap.address}
              payout={session.current?.payout}
              recordPayout={(w) => session.current?.recordPayout(w)}
              credited={credited}
              onDone={() => session.current?.credited().then(setCredited)}
            />
          )}
          {snap && session.current && <StakeCard config={config} session={session.current} />}
          {w && w.problems.length > 0 && (
            <>
              <h2>Problems</h2>
              {w.problems.slice(-5).map((p) => (
                <div className="notice" key={p.at + p.message}>
                  {p.message}
                </div>
              ))}
            </>
          )}
        </>
      )}
    </>
  )
}

/**
 * The coordinators' signed claims this tab holds: what it has earned, redeemable on chain by any
 * wallet (the pay is credited to this tab's address), even after the requester's tab is gone.
 */
function Claims({
  config,
  session,
  held,
  onDone,
}: {
  config: AppConfig
  session: VolunteerSession
  held: WorkerStats['claims'] | undefined
  onDone: () => void
}) {
  const wallet = useWallet()
  const [status, setStatus] = useState<string>()
  const due = held?.unredeemedWei ?? 0n
  return (
    <div className="card">
      <h2>Claims</h2>
      <p className="muted" data-testid="claims">
        {held && held.jobs > 0
          ? `${held.results} results paid by signed claims in ${held.jobs} job${held.jobs === 1 ? '' : 's'}; ${formatEther(due)} ETH not redeemed yet.`
          : 'No claims yet: each job’s coordinator signs one as it accepts your results.'}
      </p>
      <button
        type="button"
        disabled={!wallet || due === 0n}
        data-testid="redeem"
        onClick={async () => {
          if (!wallet) return
          setStatus('Redeeming…')
          try {
            const r = await redeemHeldClaims(
              session.worker,
              wallet,
              publicClientFor(config),
              config.contract,
            )
            const refused = r.refused.map((x) => x.reason).join(' ')
            setStatus(
              `${
                r.redeemed > 0
                  ? `Redeemed ${r.redeemed} claim${r.redeemed === 1 ? '' : 's'}: ${formatEther(r.paid)} ETH credited.`
                  : r.refused.length > 0
                    ? 'Nothing redeemed.'
                    : 'Nothing left to redeem: the chain has paid these claims already.'
              }${r.refused.length > 0 ? ` ${r.refused.length} refused by the chain (kept): ${refused}` : ''}`,
            )
            onDone()
          } catch (err) {
            setStatus(errorMessage(err))
          }
        }}
      >
        {due > 0n ? `Redeem ${formatEther(due)} ETH` : 'Nothing to redeem'}
      </button>
      {status && <p data-testid="redeem-status">{status}</p>}
    </div>
  )
}

/**
 * Where this tab's pay goes, chosen before Start: an address the connected wallet holds (the
 * default once one is connected), or this tab's own key. The tab signs the choice once
 * (`Payout(worker, payout, nonce)`); requesters that pay it record it on chain.
 */
function PayoutChoice({
  walletAddress,
  payout,
  onChoose,
}: {
  walletAddress: Address | undefined
  payout: Address | undefined
  onChoose: (tabKey: boolean) => void
}) {
  return (
    <div className="card" data-testid="payout-choice">
      <h2>Where your pay goes</h2>
      <div>
        <label className="choice">
          <input
            type="radio"
            name="payout"
            data-testid="payout-wallet"
            checked={payout !== undefined}
            disabled={!walletAddress}
            onChange={() => onChoose(false)}
          />{' '}
          To my wallet{' '}
          {walletAddress ? <span className="mono">{walletAddress}</span> : '(connect one above)'}
        </label>
      </div>
      <div>
        <label className="choice">
          <input
            type="radio"
            name="payout"
            data-testid="payout-tab"
            checked={payout === undefined}
            onChange={() => onChoose(true)}
          />{' '}
          To this tab’s own key
        </label>
      </div>
      <p className="muted" data-testid="payout-note">
        {payout
          ? 'This tab signs once that its pay goes to your wallet; every withdrawal goes there, whoever sends it.'
          : 'This tab’s key lives in this browser’s storage for this site: clearing the site’s data loses what it has not withdrawn, and a script running on this site can use the key. An address your wallet holds keeps withdrawn pay out of reach of both.'}
      </p>
    </div>
  )
}

function Withdraw({
  config,
  worker,
  payout,
  recordPayout,
  credited,
  onDone,
}: {
  config: AppConfig
  worker: `0x${string}`
  payout: Address | undefined
  recordPayout: (wallet: Wallet) => Promise<boolean> | undefined
  credited: bigint | undefined
  onDone: () => void
}) {
  const wallet = useWallet()
  const [status, setStatus] = useState<string>()
  return (
    <div className="card">
      <h2>Withdraw</h2>
      <p className="muted">
        Sends everything credited to <span className="mono">{worker}</span>
        {payout ? (
          <>
            {' '}
            to your wallet’s <span className="mono">{payout}</span> (this button first records the
            tab’s signed choice on chain, if no requester has yet)
          </>
        ) : null}
        . Any wallet can pay the gas; the money only ever goes where this tab chose.
      </p>
      <button
        type="button"
        disabled={!wallet || !credited}
        data-testid="withdraw"
        onClick={async () => {
          if (!wallet) return
          setStatus('Sending…')
          try {
            // The tab's payout goes on chain first, so this withdrawal already follows it.
            if (payout) {
              setStatus('Recording where this tab’s pay goes…')
              await recordPayout(wallet)
              setStatus('Sending…')
            }
            const { amount, to } = await withdraw(
              wallet,
              publicClientFor(config),
              config.contract,
              worker,
            )
            setStatus(`Withdrew ${formatEther(amount)} ETH to ${to}.`)
            onDone()
          } catch (err) {
            setStatus(errorMessage(err))
          }
        }}
      >
        {credited ? `Withdraw ${formatEther(credited)} ETH` : 'Nothing to withdraw yet'}
      </button>
      {status && <p data-testid="withdraw-status">{status}</p>}
    </div>
  )
}

/**
 * Stake backs this tab's address. A wallet adds it (the tab's key holds no ether at first); only
 * this tab can unstake, and the ether comes back to the tab's address, which can send all it
 * holds on to the wallet.
 */
function StakeCard({ config, session }: { config: AppConfig; session: VolunteerSession }) {
  const wallet = useWallet()
  /** The visitor read what binding stake to this tab's key means (StakeWarning). */
  const [understood, setUnderstood] = useState(false)
  const [info, setInfo] = useState<WorkerOnChain>()
  const [held, setHeld] = useState<bigint>()
  const [amount, setAmount] = useState('0.1')
  const [status, setStatus] = useState<string>()
  const [busy, setBusy] = useState(false)
  const [chainNow, setChainNow] = useState(0)
  const client = useMemo(() => publicClientFor(config), [config])
  const refresh = () =>
    Promise.all([session.onChain(), session.balance(), client.getBlock()])
      .then(([i, b, block]) => {
        setInfo(i)
        setHeld(b)
        setChainNow(Number(block.timestamp))
      })
      .catch(() => {})
  // biome-ignore lint/correctness/useExhaustiveDependencies: refresh reads only the session
  useEffect(() => {
    void refresh()
    const t = setInterval(refresh, 3000)
    return () => clearInterval(t)
  }, [session])
  const act = async (what: string, run: () => Promise<string>) => {
    setBusy(true)
    setStatus(`${what}…`)
    try {
      setStatus(await run())
    } catch (err) {
      setStatus(errorMessage(err))
    } finally {
      setBusy(false)
      void refresh()
    }
  }
  const wei = (() => {
    try {
      const v = parseEther(amount)
      return v > 0n ? v : undefined
    } catch {
      return undefined
    }
  })()
  // The chain's clock decides, not this machine's.
  const unlocked = !!info && info.unstaking > 0n && info.unlockAt <= chainNow
  return (
    <div className="card" data-testid="stake-card">
      <h2>Stake</h2>
      <p className="muted">
        Stake makes this tab trusted sooner: it may compute tasks alone after half as many verified
        results. All of it is slashed if this tab ever signs two different results for one task. Any
        wallet can add stake; only this tab can unstake it, and the ether comes back to this tab’s
        address 3 days later.
      </p>
      <StakeWarning payout={session.payout} understood={understood} onChange={setUnderstood} />
      <div className="grid">
        <Stat
          label="Staked"
          value={info ? `${formatEther(info.active)} ETH` : '…'}
          testid="staked"
        />
        <Stat
          label={
            info && info.unstaking > 0n
              ? `Unstaking, withdrawable ${new Date(info.unlockAt * 1000).toLocaleString()}`
              : 'Unstaking'
          }
          value={info ? `${formatEther(info.unstaking)} ETH` : '…'}
          testid="unstaking"
        />
        <Stat
          label="Held by this tab’s address"
          value={held !== undefined ? `${formatEther(held)} ETH` : '…'}
          testid="tab-balance"
        />
        <Stat
          label="Results settled · slashed"
          value={info ? `${info.settledResults} · ${info.slashes}` : '…'}
        />
      </div>
      <div className="row" style={{ marginTop: '0.5rem' }}>
        <div>
          <label htmlFor="stake-amount">Amount (ETH)</label>
          <input
            id="stake-amount"
            value={amount}
            inputMode="decimal"
            onChange={(e) => setAmount(e.target.value)}
          />
        </div>
        <button
          type="button"
          data-testid="stake-add"
          disabled={busy || !wallet || !wei || !understood}
          onClick={() =>
            act('Staking', async () => {
              await stake(wallet!, client, config.contract, wei!, session.address)
              return `Staked ${formatEther(wei!)} ETH for this tab.`
            })
          }
        >
          Stake from wallet
        </button>
        <button
          type="button"
          className="secondary"
          data-testid="stake-unstake"
          disabled={busy || !wei || !info || info.active === 0n}
          title="Signed by this tab's key, which pays the gas from what it holds"
          onClick={() =>
            act('Unstaking', async () => {
              const { unlockAt } = await session.unstake(wei!)
              return `Unstaking ${formatEther(wei!)} ETH; withdrawable ${new Date(unlockAt * 1000).toLocaleString()}.`
            })
          }
        >
          Unstake
        </button>
        <button
          type="button"
          className="secondary"
          data-testid="stake-withdraw"
          disabled={busy || !wallet || !unlocked}
          onClick={() =>
            act('Withdrawing the stake', async () => {
              const { amount: paid } = await withdrawStake(
                wallet!,
                client,
                config.contract,
                session.address,
              )
              return `Paid ${formatEther(paid)} ETH of stake back to this tab’s address.`
            })
          }
        >
          Withdraw unstaked
        </button>
        <button
          type="button"
          className="secondary"
          data-testid="send-to-wallet"
          disabled={busy || !wallet || !held}
          onClick={() =>
            act('Sending', async () => {
              const { amount: sent } = await session.sendBalance(wallet!.account.address)
              return `Sent ${formatEther(sent)} ETH to ${wallet!.account.address}.`
            })
          }
        >
          Send this tab’s ether to my wallet
        </button>
      </div>
      {held === 0n && info && info.active > 0n && (
        <p className="muted">
          Unstaking is signed by this tab and needs a little ether for gas: withdraw some pay first
          (it comes to this tab’s address).
        </p>
      )}
      {status && <p data-testid="stake-status">{status}</p>}
    </div>
  )
}

/**
 * Stake backs this tab's key, which lives in this browser: the page says what that risks before
 * the wallet sends any (docs/trust.md, "Keys in the browser").
 */
function StakeWarning({
  payout,
  understood,
  onChange,
}: {
  payout: Address | undefined
  understood: boolean
  onChange: (understood: boolean) => void
}) {
  return (
    <div className="notice" data-testid="stake-warning">
      <p>
        <b>Stake is bound to this tab’s key, not to your wallet.</b> The key lives in this browser’s
        storage for this site. If that storage is cleared, the key is gone and the stake can never
        be unstaked. Anything that runs script on this site (a compromised deployment, a hostile
        dependency, a cross-site scripting bug) can use the key: unstake the stake and take it 3
        days later, or sign two results for one task and slash it, collecting half at once. Stake
        only what you could lose; for stake you mean to keep, run <code>meshwork volunteer</code>{' '}
        with a key file you hold.
      </p>
      <p>
        {payout
          ? 'Your pay already goes to your wallet; stake always returns to this tab’s address.'
          : 'Your pay can go to an address your wallet holds instead of this tab’s key: stop, choose “To my wallet” under “Where your pay goes”, and start again.'}
      </p>
      <label className="choice">
        <input
          type="checkbox"
          data-testid="stake-ack"
          checked={understood}
          onChange={(e) => onChange(e.target.checked)}
        />{' '}
        I understand: stake for this tab’s key anyway
      </label>
    </div>
  )
}

function Stat({ label, value, testid }: { label: string; value: string; testid?: string }) {
  return (
    <div className="stat" data-testid={testid}>
      <b>{value}</b>
      <span>{label}</span>
    </div>
  )
}
