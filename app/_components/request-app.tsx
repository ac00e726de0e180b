'use client'
import { useRouter } from 'next/navigation'
import { useEffect, useState } from 'react'
import { formatEther, parseEther } from 'viem'
import type { AppConfig } from '../../lib/env/app-config'
import { errorMessage } from '../../lib/errors'
import { escrowFor, parseInputsJson, parsePolicy, type TensorMap } from '../../lib/proofs'
import {
  checkInputs,
  exampleDims,
  type Manifest,
  parseManifest,
  seededInputs,
} from '../../lib/runtime'
import { createWorkerEngine } from '../../lib/runtime/engine-worker-browser'
import { sha256Hex } from '../../lib/runtime/model-source'
import { requesterSession } from '../../lib/sdk/requester-browser'
import type { TrustLevel } from '../../lib/trust'
import { ConnectWallet, useWallet } from './wallet'

const MAX_MODEL_BYTES = 64 * 1024 * 1024

export function RequestApp({ config }: { config: AppConfig }) {
  const router = useRouter()
  const wallet = useWallet()
  const [manifest, setManifest] = useState<Manifest>()
  const [modelChoice, setModelChoice] = useState('mlp-16x4')
  const [modelFile, setModelFile] = useState<File>()
  const [inputsFile, setInputsFile] = useState<File>()
  const [inputMode, setInputMode] = useState<'generate' | 'file'>('generate')
  const [count, setCount] = useState(6)
  const [replicas, setReplicas] = useState(3)
  const [quorum, setQuorum] = useState(2)
  const [policy, setPolicy] = useState('round:3')
  const [trust, setTrust] = useState<TrustLevel>('standard')
  const [reward, setReward] = useState('0.0001')
  const [minutes, setMinutes] = useState(60)
  const [step, setStep] = useState<string>()
  const [error, setError] = useState<string>()

  useEffect(() => {
    fetch(`${config.modelsBase}/manifest.json`)
      .then((r) => r.json())
      .then((j) => setManifest(parseManifest(j)))
      .catch((err) => setError(`Could not load the model catalogue: ${errorMessage(err)}`))
    requesterSession(config).catch((err) =>
      setError(`Could not join the network: ${errorMessage(err)}`),
    )
  }, [config])

  useEffect(() => {
    requesterSession(config)
      .then((s) => s.setWallet(wallet))
      .catch(() => {})
  }, [config, wallet])

  const entry =
    modelChoice === 'upload' ? undefined : manifest?.models.find((m) => m.name === modelChoice)
  useEffect(() => {
    if (entry) setPolicy(entry.defaultPolicy)
  }, [entry])

  let escrowText = '–'
  try {
    escrowText = `${formatEther(escrowFor({ taskCount: inputMode === 'generate' ? count : 1, replicas, rewardPerResult: parseEther(reward) }))} ETH${inputMode === 'file' ? ' per task' : ''}`
  } catch {}

  const submit = async () => {
    setError(undefined)
    try {
      const policyValue = parsePolicy(policy)
      const rewardWei = parseEther(reward)
      setStep('Reading the model…')
      let model: Uint8Array
      if (entry) {
        const res = await fetch(`${config.modelsBase}/${entry.file}`)
        if (!res.ok)
          throw new Error(`The catalogue model could not be fetched (HTTP ${res.status}).`)
        model = new Uint8Array(await res.arrayBuffer())
      } else {
        if (!modelFile) throw new Error('Choose an .onnx file to upload.')
        if (modelFile.size > MAX_MODEL_BYTES)
          throw new Error(`The model is ${modelFile.size} bytes; the limit is ${MAX_MODEL_BYTES}.`)
        model = new Uint8Array(await modelFile.arrayBuffer())
      }
      setStep('Checking the model and inputs in this browser…')
      const engine = await createWorkerEngine({ prefer: 'wasm' })
      let tasks: TensorMap[]
      const hash = await sha256Hex(model)
      try {
        const info = await engine.load(hash, model)
        if (inputMode === 'file') {
          if (!inputsFile) throw new Error('Choose an inputs JSON file.')
          let json: unknown
          try {
            json = JSON.parse(await inputsFile.text())
          } catch (err) {
            throw new Error(`The inputs file is not valid JSON: ${errorMessage(err)}`)
          }
          tasks = parseInputsJson(json)
        } else {
          tasks = parseInputsJson(
            seededInputs(
              Date.now() % 2 ** 31,
              count,
              entry?.exampleDims ?? exampleDims(info.inputs),
            ),
          )
        }
        tasks.forEach((t, i) => {
          try {
            checkInputs(info, t)
          } catch (err) {
            throw new Error(`Task ${i}: ${errorMessage(err)}`)
          }
        })
        await engine.run(hash, structuredClone(tasks[0]!))
      } catch (err) {
        await engine.dispose()
        throw err
      }
      let job: Awaited<ReturnType<Awaited<ReturnType<typeof requesterSession>>['submit']>>
      try {
        setStep('Computing the known-answer tasks in this browser, then waiting for the wallet…')
        const session = await requesterSession(config)
        session.setWallet(wallet)
        job = await session.submit({
          model,
          modelFile: entry?.file,
          modelName: entry?.name ?? modelFile?.name,
          tasks,
          replicas,
          quorum,
          policy: policyValue,
          rewardPerResult: rewardWei,
          durationSeconds: minutes * 60,
          trust,
          // This tab's own answers to a few tasks: the job's canaries (docs/trust.md).
          reference: (inputs) => engine.run(hash, structuredClone(inputs)),
        })
      } finally {
        await engine.dispose()
      }
      setStep('Job created. Opening it…')
      router.push(`/jobs/${job.jobId}`)
    } catch (err) {
      setStep(undefined)
      setError(errorMessage(err))
    }
  }

  return (
    <>
      <h1>Request a job</h1>
      <ConnectWallet purpose="pay for the job" />
      <div className="card">
        <div className="row">
          <div>
            <label htmlFor="model">Model</label>
            <select id="model" value={modelChoice} onChange={(e) => setModelChoice(e.target.value)}>
              {manifest?.models.map((m) => (
                <option key={m.name} value={m.name}>
                  {m.name} — {m.description.split('.')[0]}
                </option>
              ))}
              <option value="upload">Upload an ONNX file…</option>
            </select>
          </div>
          {modelChoice === 'upload' && (
            <div>
              <label htmlFor="model-file">ONNX file</label>
              <input
                id="model-file"
                type="file"
                accept=".onnx"
                onChange={(e) => setModelFile(e.target.files?.[0])}
              />
            </div>
          )}
        </div>
        {entry && (
          <p className="muted">
            {entry.description} License: {entry.license}.
          </p>
        )}
        <div className="row">
          <div>
            <label htmlFor="inputs">Inputs</label>
            <select
              id="inputs"
              value={inputMode}
              onChange={(e) => setInputMode(e.target.value as 'generate' | 'file')}
            >
              <option value="generate">Generate example tasks</option>
              <option value="file">Upload an inputs JSON file</option>
            </select>
          </div>
          {inputMode === 'generate' ? (
            <div>
              <label htmlFor="count">Tasks</label>
              <input
                id="count"
                type="number"
                min={1}
                max={10000}
                value={count}
                onChange={(e) => setCount(Number(e.target.value))}
              />
            </div>
          ) : (
            <div>
              <label htmlFor="inputs-file">Inputs file</label>
              <input
                id="inputs-file"
                type="file"
                accept=".json,application/json"
                onChange={(e) => setInputsFile(e.target.files?.[0])}
              />
            </div>
          )}
        </div>
        <div className="row">
          <div>
            <label htmlFor="replicas">Replicas</label>
            <input
              id="replicas"
              type="number"
              min={1}
              max={32}
              value={replicas}
              onChange={(e) => setReplicas(Number(e.target.value))}
            />
          </div>
          <div>
            <label htmlFor="quorum">Quorum</label>
            <input
              id="quorum"
              type="number"
              min={1}
              max={replicas}
              value={quorum}
              onChange={(e) => setQuorum(Number(e.target.value))}
            />
          </div>
          <div>
            <label htmlFor="policy">Agreement policy</label>
            <input id="policy" value={policy} onChange={(e) => setPolicy(e.target.value)} />
          </div>
          <div>
            <label htmlFor="trust">Trust</label>
            <select
              id="trust"
              value={trust}
              onChange={(e) => setTrust(e.target.value as TrustLevel)}
            >
              <option value="standard">Standard: trusted workers may run tasks alone</option>
              <option value="high">High: every task replicated</option>
            </select>
          </div>
          <div>
            <label htmlFor="reward">Reward per result (ETH)</label>
            <input id="reward" value={reward} onChange={(e) => setReward(e.target.value)} />
          </div>
          <div>
            <label htmlFor="minutes">Deadline (minutes)</label>
            <input
              id="minutes"
              type="number"
              min={5}
              value={minutes}
              onChange={(e) => setMinutes(Number(e.target.value))}
            />
          </div>
        </div>
        <p className="muted">
          Escrow: tasks × replicas × reward = <b>{escrowText}</b>. You pay only for results a quorum
          agreed on; the rest comes back after the deadline.
        </p>
        <button type="button" onClick={submit} disabled={!wallet || !!step} data-testid="submit">
          Check, pay and start
        </button>
        {step && <p data-testid="step">{step}</p>}
        {error && (
          <div className="error" data-testid="error">
            {error}
          </div>
        )}
      </div>
    </>
  )
}
